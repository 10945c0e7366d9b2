"""The finish-time estimator on synthetic logs with exact, injected times."""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.core.estimate import BAND_Z, DRIFT_FLOOR, WARMUP_STEPS, Estimate, estimate
from monitor.core.events import Iteration
from monitor.core.pause import FWD_FRACTION, RECENT_EVALS
from monitor.core.plan import Plan, make_plan
from monitor.core.report import Options
from monitor.core.run import Run, RunState
from monitor.core.speed import CHANGE_MIN_SAMPLES
from monitor.session import Session

T0 = 1_800_000_000.0


def header(max_iters: int | None = 1000, log_interval: int = 10, eval_interval: int = 250,
           eval_iters: int = 20, extra: tuple[str, ...] = ()) -> list[str]:
    lines = ["Overriding config with config/train_test.py:", f"log_interval = {log_interval}",
             f"eval_interval = {eval_interval}", f"eval_iters = {eval_iters}", "gradient_accumulation_steps = 1"]
    if max_iters is not None:
        lines.append(f"max_iters = {max_iters}")
    return [*lines, *extra, "tokens per iteration will be: 16,384", "number of parameters: 10.65M"]


def nanogpt(upto: int, step_s: Callable[[int], float], *, log_interval: int = 10, eval_interval: int = 250,
            eval_s: float | Callable[[int], float] = 2.0, first_s: float = 30.0, start: int = 0, t0: float = T0,
            head: list[str] | None = None) -> list[tuple[float, str]]:
    """(arrival time, line) of a nanoGPT run: nanoGPT prints one step's time, including the
    eval done at the top of eval steps; iteration `start` also pays `first_s` (compile)."""
    out = [(t0, line) for line in (header() if head is None else head)]
    t = t0
    for i in range(start, upto + 1):
        pause = (eval_s(i) if callable(eval_s) else eval_s) if i % eval_interval == 0 else 0.0
        took = (first_s if i == start else step_s(i)) + pause
        if pause:
            out.append((t + pause, f"step {i}: train loss 2.0000, val loss 2.1000"))
        t += took
        if i % log_interval == 0:
            out.append((t, f"iter {i}: loss 2.0000, time {took * 1000:.4f}ms, mfu 30.00%"))
    return out


def feed(lines: list[tuple[float | None, str]], max_iters: int | None = None) -> Session:
    s = Session(Options(source="test.log", max_iters=max_iters), lambda: T0)
    for t, line in lines:
        s.feed(line, t)
    return s


def est(s: Session, now: float | None = None) -> Estimate:
    run = s.state.current
    plan = make_plan(run, s.format, s.options.max_iters)
    return estimate(run, plan, run.last_t if now is None else now)


def steady(step: float) -> Callable[[int], float]:
    return lambda _i: step


def test_warm_up_is_left_out() -> None:
    # iteration 0 takes 30 s (compile) and the next few steps are slow; steady is 20 ms
    s = feed(nanogpt(200, lambda i: 0.2 if i < WARMUP_STEPS else 0.02))
    e = est(s)
    assert e.step_time_s == pytest.approx(0.02, rel=1e-6)
    assert e.step_source == "arrival"
    assert e.train_remaining_s == pytest.approx(800 * 0.02, rel=1e-6)


def test_the_first_estimate_comes_from_one_steady_step() -> None:
    # iteration 0 is warm-up (compile); iteration 10 prints the first steady step time
    e = est(feed(nanogpt(10, steady(0.02))))
    assert e.step_source == "printed"
    assert e.samples == 1
    assert e.step_time_s == pytest.approx(0.02)
    assert e.train_remaining_s == pytest.approx(990 * 0.02)
    # one sample: the band is as wide as that warrants (the model's spread 0.15 x sqrt(8))
    assert e.high - e.finish >= BAND_Z * 0.15 * math.sqrt(8) * e.train_remaining_s * 0.99
    assert est(feed(nanogpt(0, steady(0.02)))) == Estimate()  # warm-up only
    assert est(feed([(T0, line) for line in header()])) == Estimate()


def test_eval_pause_is_predicted_from_the_config_before_the_first_eval() -> None:
    e = est(feed(nanogpt(200, steady(0.02))))
    # eval_iters (20) x 2 splits of forward-only batches against 1 forward+backward micro-step,
    # then a checkpoint of 10.65M parameters (12 bytes each) written at 1.5 GB/s
    assert e.eval_source == "config"
    assert e.eval_time_s == pytest.approx(0.02 * 2 * 20 * FWD_FRACTION + 10.65e6 * 12 / 1.5e9, rel=1e-6)
    assert e.evals_left == 4  # 250, 500, 750, 1000
    assert e.remaining_s == pytest.approx(800 * 0.02 + 4 * e.eval_time_s, rel=1e-6)


def test_eval_pause_is_learned_from_eval_steps() -> None:
    lines = nanogpt(600, steady(0.02), eval_s=2.0)
    e = est(feed(lines))
    assert e.eval_source == "measured"
    assert e.eval_time_s == pytest.approx(2.0, rel=1e-6)
    assert e.evals_left == 2
    assert e.remaining_s == pytest.approx(400 * 0.02 + 2 * 2.0, rel=1e-6)
    last_t = lines[-1][0]
    assert e.finish == pytest.approx(last_t + e.remaining_s)
    assert e.low <= e.finish <= e.high


def test_a_resumed_process_keeps_the_eval_pause_measured_before_it_in_the_same_log() -> None:
    first = nanogpt(600, steady(0.02), eval_s=2.0)
    resumed = nanogpt(700, steady(0.02), eval_s=5.0, start=600, t0=first[-1][0] + 60)
    s = feed(first + resumed)
    assert len(s.state.runs) == 2
    e = est(s)  # no eval yet in the resumed process: the one measured before it holds
    assert e.eval_source == "measured"
    assert e.eval_time_s == pytest.approx(2.0, rel=1e-6)
    assert e.remaining_s == pytest.approx(300 * 0.02 + 2 * 2.0, rel=1e-5)
    # its own evals join them (one slow eval after a restart is not the rule: 2, 2, 5 s) ...
    s = feed(first + nanogpt(800, steady(0.02), eval_s=5.0, start=600, t0=first[-1][0] + 60))
    assert est(s).eval_time_s == pytest.approx(3.0, rel=1e-6)
    # ... until it has measured RECENT_EVALS of its own
    long_first = nanogpt(600, steady(0.02), eval_s=2.0, eval_interval=50, head=header(max_iters=2000, eval_interval=50))
    t1 = long_first[-1][0] + 60
    later = nanogpt(600 + 50 * RECENT_EVALS, steady(0.02), eval_s=5.0, start=600, t0=t1, eval_interval=50,
                    head=header(max_iters=2000, eval_interval=50))
    assert est(feed(long_first + later[:-1])).eval_time_s == pytest.approx(
        (2.0 + (RECENT_EVALS - 1) * 5.0) / RECENT_EVALS, rel=1e-6)
    assert est(feed(long_first + later)).eval_time_s == pytest.approx(5.0, rel=1e-6)
    # a process alone in its log predicts from its config
    assert est(feed(resumed)).eval_source == "config"


def test_a_resumed_process_that_changed_its_evals_does_not_take_the_earlier_pause() -> None:
    first = nanogpt(600, steady(0.02), eval_s=2.0)
    more = header(eval_iters=200)
    resumed = nanogpt(800, steady(0.02), eval_s=5.0, start=600, t0=first[-1][0] + 60, head=more)
    assert est(feed(first + resumed)).eval_time_s == pytest.approx(5.0, rel=1e-6)
    assert est(feed(first + resumed[:len(more) + 10])).eval_source == "config"


def test_eval_pause_from_printed_times_when_arrival_is_unknown() -> None:
    # a cold open: the lines were already in the file, so their arrival is unknown
    lines = [(None, line) for _, line in nanogpt(600, steady(0.02), eval_s=2.0)]
    now = T0 + 1e6
    e = est(feed(lines), now)
    assert e.step_source == "printed"
    assert e.step_time_s == pytest.approx(0.02, rel=1e-6)
    assert e.eval_time_s == pytest.approx(2.0, rel=1e-6)
    assert e.finish == pytest.approx(now + 400 * 0.02 + 2 * 2.0)


def test_after_a_cold_open_printed_times_hold_until_live_lines_cover_half() -> None:
    lines = nanogpt(900, steady(0.02), eval_interval=100_000)
    cold = [(None if line.startswith("iter") and int(line.split()[1][:-1]) < 600 else t, line) for t, line in lines]
    e = est(feed(cold))
    assert e.step_source == "printed"
    assert e.step_time_s == pytest.approx(0.02, rel=1e-4)
    assert est(feed(lines)).step_source == "arrival"


def test_step0_eval_of_an_uncompiled_run_bounds_the_prediction() -> None:
    head = header(eval_iters=2000, extra=("compile = False",))
    # the config predicts 0.02 x 2 x 2000 x 0.38 = 30 s; the step-0 eval took 3 s
    lines = nanogpt(200, steady(0.02), eval_s=3.0, first_s=0.05, head=head)
    e = est(feed(lines))
    assert e.eval_source == "step-0"
    assert e.eval_time_s == pytest.approx(3.0, rel=1e-6)
    compiled = est(feed(nanogpt(200, steady(0.02), eval_s=3.0, first_s=0.05, head=header(eval_iters=2000))))
    assert compiled.eval_source == "config"


def test_a_real_slowdown_is_followed() -> None:
    slow_from = 600
    lines = nanogpt(900, lambda i: 0.02 if i <= slow_from else 0.04, eval_interval=100_000, head=header(max_iters=2000))
    e = est(feed(lines))
    assert e.step_time_s == pytest.approx(0.04, rel=1e-6)  # the current speed, at once
    assert e.speed_change_iter == slow_from + 10
    # the finish weighs the new speed by how long it has lasted (290 of the 880 steady steps
    # seen) against the long-run mean, and takes it over as it lasts
    assert 1100 * 0.02 * 1.2 < e.train_remaining_s < 1100 * 0.04
    s = feed(nanogpt(1500, lambda i: 0.02 if i <= slow_from else 0.04, eval_interval=100_000,
                     head=header(max_iters=2000)))
    later = est(s)
    # it has lasted longer than what is left: the model's projection is the new speed alone
    speed = s.state.current.estimator_state.arrival.speed(1500, 500)
    assert speed.step_s == pytest.approx(0.04, rel=1e-6)
    assert later.train_remaining_s > e.train_remaining_s * 500 / 1100


def test_the_eval_pause_follows_the_recent_evals() -> None:
    # evals sped up from 3 s to 2 s (the H100 eval-heavy run went from 2.7 to 2.0 s)
    lines = nanogpt(3000, steady(0.02), eval_s=lambda i: 3.0 if i <= 1000 else 2.0, head=header(max_iters=5000))
    e = est(feed(lines))
    assert e.eval_source == "measured"
    assert e.eval_time_s == pytest.approx(2.0, rel=1e-6)  # the last RECENT_EVALS (8) evals


def test_a_short_burst_of_slow_steps_is_not_a_change() -> None:
    burst = range(500, 500 + 10 * (CHANGE_MIN_SAMPLES - 2))
    lines = nanogpt(900, lambda i: 0.04 if i in burst else 0.02, eval_interval=100_000, head=header(max_iters=2000))
    e = est(feed(lines))
    assert e.speed_change_iter is None
    assert 0.02 < e.step_time_s < 0.025


def test_noise_is_not_a_change() -> None:
    rng = np.random.default_rng(7)
    noise = 1 + 0.15 * rng.standard_normal(2001)
    lines = nanogpt(1500, lambda i: 0.02 * abs(noise[i]), log_interval=1, eval_interval=100_000,
                    head=header(max_iters=2000, log_interval=1))
    e = est(feed(lines))
    assert e.speed_change_iter is None
    assert e.step_time_s == pytest.approx(0.02, rel=0.05)


def test_a_one_off_stall_is_not_a_step() -> None:
    lines = nanogpt(600, lambda i: 5.0 if i == 333 else 0.02, eval_interval=100_000)
    e = est(feed(lines))
    assert e.step_time_s == pytest.approx(0.02, rel=1e-6)


def test_resume_counts_from_the_checkpoint_iteration() -> None:
    head = [*header(max_iters=5000), "Resuming training from out"]
    lines = nanogpt(2300, steady(0.02), start=2000, head=head)
    s = feed(lines)
    e = est(s)
    assert s.state.current.first_iter == 2000
    assert e.step_time_s == pytest.approx(0.02, rel=1e-6)
    assert e.evals_left == 11  # 2500, 2750, ... 5000
    assert e.train_remaining_s == pytest.approx(2700 * 0.02, rel=1e-6)


def test_a_resumed_process_in_the_same_file_starts_afresh() -> None:
    first = nanogpt(400, steady(0.05))
    end = first[-1][0] + 60
    second = nanogpt(700, steady(0.02), start=400, t0=end, head=[*header(), "Resuming training from out"])
    s = feed(first + second)
    assert len(s.state.runs) == 2
    assert est(s).step_time_s == pytest.approx(0.02, rel=1e-6)


def test_unknown_max_iters_gives_speed_but_no_finish() -> None:
    # the log starts mid-run (no startup lines), so nanoGPT's default max_iters is a guess
    lines = [(t, line) for t, line in nanogpt(300, steady(0.02)) if line.startswith(("iter", "step"))]
    e = est(feed(lines))
    assert e.step_time_s == pytest.approx(0.02, rel=1e-6)
    assert (e.remaining_s, e.finish, e.low, e.high) == (None, None, None, None)
    assert est(feed(lines, max_iters=1000)).remaining_s is not None
    # a run that printed its startup and no max_iters really runs the default
    printed = est(feed(nanogpt(300, steady(0.02), head=header(max_iters=None))))
    assert printed.train_remaining_s == pytest.approx((600_000 - 300) * 0.02, rel=1e-6)


def _plan(**kw: object) -> Plan:
    base: dict[str, object] = {
        "max_iters": 1000, "max_iters_source": "log", "final_iter": 1000, "log_interval": 10,
        "eval_interval": None, "eval_iters": None, "grad_accum": None, "batch_size": None, "block_size": None,
        "tokens_per_iter": None, "n_layer": None, "n_head": None, "n_embd": None,
    }
    base.update(kw)
    return Plan(**base)  # type: ignore[arg-type]


def _run(events: list[tuple[float | None, Iteration]]) -> Run:
    state = RunState()
    for t, event in events:
        state.line_seen(t)
        state.apply(event, t)
    return state.current


def test_arrival_times_alone_give_the_speed() -> None:
    # a family that prints no time at all (llm.c's main.log), followed live
    run = _run([(T0 + 0.5 * i, Iteration(iter=10 * i, loss=2.0)) for i in range(30)])
    e = estimate(run, _plan(), T0 + 0.5 * 29)
    assert e.step_source == "arrival"
    assert e.step_time_s == pytest.approx(0.05, rel=1e-9)
    assert e.remaining_s == pytest.approx((1000 - 290) * 0.05, rel=1e-9)


def test_no_times_at_all_gives_progress_only() -> None:
    run = _run([(None, Iteration(iter=10 * i, loss=2.0)) for i in range(30)])
    assert estimate(run, _plan(), T0) == Estimate()


def test_a_cumulative_train_clock_gives_the_speed() -> None:
    # modded-nanogpt style: train_time leaves evals out, and the lines' arrival is unknown
    run = _run([(None, Iteration(iter=i, loss=2.0, train_time_s=0.1 * i)) for i in range(1, 100)])
    e = estimate(run, _plan(), T0)
    assert e.step_source == "train-clock"
    assert e.step_time_s == pytest.approx(0.1, rel=1e-9)


def test_a_train_clock_read_only_at_evals_still_gives_the_speed(clock) -> None:
    # modded-nanogpt track 3: the log holds only the val lines, one every 125 steps, each
    # with the cumulative training clock (which stops during evals)
    s = Session(Options(source="x"), clock)
    s.feed_many([f"step:{i}/3350 val_loss:4.0 train_time:{0.15 * i:.3f}s step_avg:150.00ms" for i in range(0, 2001, 125)])
    snap = s.snapshot()
    assert snap.step_time_s == pytest.approx(0.15, rel=1e-6)
    assert snap.eta_remaining_s == pytest.approx((3350 - 2000) * 0.15, rel=1e-6)


def test_eval_pauses_show_as_arrival_gaps_when_the_clock_leaves_them_out() -> None:
    events, t = [], T0
    for i in range(1, 400):
        t += 0.1 + (3.0 if i % 100 == 0 else 0.0)
        events.append((t, Iteration(iter=i, loss=2.0, train_time_s=0.1 * i)))
    e = estimate(_run(events), _plan(eval_interval=100), t)
    assert e.step_time_s == pytest.approx(0.1, rel=1e-6)
    assert e.eval_time_s == pytest.approx(3.0, rel=1e-6)
    assert e.evals_left == 7  # 400, 500, ... 1000


def test_block_buffered_output_falls_back_to_printed_times() -> None:
    # lines written in bursts of 20: arrival gaps are 0 except one in 20
    lines = nanogpt(900, steady(0.02), eval_interval=100_000)
    bursty = [(None if t is None else T0 + 3.6 * math.floor((t - T0) / 3.6), line) for t, line in lines]
    e = est(feed(bursty))
    assert e.step_source == "printed"
    assert e.step_time_s == pytest.approx(0.02, rel=1e-4)


def test_time_since_the_last_line_counts_and_a_stall_delays_the_finish() -> None:
    s = feed(nanogpt(600, steady(0.02)))
    last_t = s.state.current.last_t
    fresh = est(s, last_t)
    later = est(s, last_t + 0.1)  # within the 10 steps (0.2 s) the next line should take
    assert later.remaining_s == pytest.approx(fresh.remaining_s - 0.1)
    assert later.finish == pytest.approx(fresh.finish)
    assert later.train_remaining_s + later.eval_remaining_s == pytest.approx(later.remaining_s)
    stalled = est(s, last_t + 100.0)
    assert stalled.remaining_s == pytest.approx(fresh.remaining_s - 0.2)
    assert stalled.finish == pytest.approx(last_t + 100.0 + stalled.remaining_s)
    assert stalled.low <= stalled.finish <= stalled.high


def test_the_band_holds_the_estimate_and_narrows() -> None:
    rng = np.random.default_rng(3)
    noise = 1 + 0.1 * rng.standard_normal(5001)
    lines = nanogpt(5000, lambda i: 0.02 * abs(noise[i]), head=header(max_iters=5000))
    s = Session(Options(source="test.log"), lambda: T0)
    widths = []
    for t, line in lines:
        if s.feed(line, t) and line.startswith("iter") and s.state.current.last_iter % 500 == 0:
            e = est(s)
            if e.finish is not None:
                assert e.low <= e.finish <= e.high
                widths.append(e.high - e.low)
    assert len(widths) >= 8
    # calibrated per progress bucket, the band follows the time still to come; where a
    # bucket's fitted quantiles are wider than the one before, it may widen at that edge
    assert widths[-2] < widths[0] / 5
    assert sum(b < a for a, b in itertools.pairwise(widths)) >= len(widths) - 3


def test_band_half_width_follows_the_measured_drift() -> None:
    e = est(feed(nanogpt(600, steady(0.02), eval_interval=100_000)))
    # a perfectly steady run still keeps the floor on drift
    half = (e.high - e.low) / 2
    assert half >= BAND_Z * DRIFT_FLOOR * e.train_remaining_s * 0.99


def test_paced_replay_does_not_spread_compilation_over_later_steps() -> None:
    from monitor.sources.replay import paced_times

    lines = [b"iter 0: loss 4.0, time 30000.00ms, mfu -100.00%", b"iter 10: loss 3.0, time 20.00ms, mfu 30.00%",
             b"iter 20: loss 2.9, time 40.00ms, mfu 30.00%"]
    times = paced_times(lines, 100.0, "nanogpt")
    # iteration 0 took 30 s; the 9 unprinted steps before iteration 10 ran at its pace
    # (20 ms), and those before iteration 20 at the median of the steady steps (30 ms)
    assert times == pytest.approx([130.0, 130.2, 130.2 + 0.04 + 9 * 0.03])


finite_or_not = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True, width=32),
                          st.floats(min_value=1e-4, max_value=100.0))


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(st.tuples(st.integers(1, 500), finite_or_not, finite_or_not, finite_or_not), min_size=0, max_size=60),
    eval_interval=st.one_of(st.none(), st.integers(1, 300)),
    final=st.one_of(st.none(), st.integers(0, 20_000)),
    log_interval=st.integers(1, 50),
    now_offset=st.floats(-1e3, 1e6),
)
def test_bad_input_never_raises_and_the_band_holds_the_finish(rows, eval_interval, final, log_interval,
                                                             now_offset) -> None:
    events, it = [], 0
    for gap, step_s, clock_s, dt in rows:
        it += gap
        t = None if dt is None or not math.isfinite(dt) else T0 + it * abs(dt)
        events.append((t, Iteration(iter=it, loss=2.0, step_time_s=step_s, train_time_s=clock_s)))
    plan = _plan(eval_interval=eval_interval, final_iter=final, max_iters=final, log_interval=log_interval,
                 eval_iters=20, grad_accum=1, eval_in_step_time=True, compiled=False)
    e = estimate(_run(events), plan, T0 + now_offset)
    for value in (e.step_time_s, e.eval_time_s, e.remaining_s, e.finish, e.low, e.high):
        assert value is None or math.isfinite(value)
    if e.finish is not None:
        assert e.low <= e.finish <= e.high
        assert e.remaining_s >= 0


def test_replay_once_prints_the_end_without_waiting_for_it(tmp_path, capsys) -> None:
    from monitor import cli

    log, times = tmp_path / "run.log", tmp_path / "run.times"
    lines = nanogpt(300, steady(0.02))
    log.write_text("".join(line + "\n" for _, line in lines))
    times.write_text("".join(f"{t}\n" for t, _ in lines))
    _, parser, _ = cli.build_parsers()
    slept: list[float] = []
    args = parser.parse_args([str(log), "--times", str(times), "--once", "--json", "--no-gpu"])
    assert cli.replay(args, clock=lambda: T0, sleep=slept.append) == 0
    assert slept == []
    record = json.loads(capsys.readouterr().out)
    assert record["iter"] == 300
    assert record["t"] == lines[-1][0]


def test_a_buffered_burst_does_not_read_as_zero_length_eval_pauses(clock) -> None:
    from monitor.core.report import Options
    from monitor.session import Session

    s = Session(Options(source="x"), clock)
    s.feed_many(["Overriding config with c.py:", "eval_interval = 100", "log_interval = 10", "max_iters = 1000",
                 "tokens per iteration will be: 1,000"], t=clock.t)
    clock.advance(30)
    # 51 lines that had waited in a stdout buffer arrive at one instant
    s.feed_many([f"iter {i}: loss 1.0, time {2000.0 if i % 100 == 0 else 20.0:.2f}ms" for i in range(0, 501, 10)],
                t=clock.t)
    snap = s.snapshot()
    assert snap.eval_time_s == pytest.approx(1.98)  # the printed eval step time minus a step


def test_paced_replay_follows_a_cumulative_clock_across_resets() -> None:
    from monitor.sources.replay import paced_times

    lines = [
        b"step:0/3350 val_loss:10.8 train_time:0.001s step_avg:nanms",
        b"step:125/3350 val_loss:4.6 train_time:22.870s step_avg:182.95ms",
        b"step:250/3350 val_loss:4.1 train_time:41.354s step_avg:147.87ms",
        b"step:0/3350 val_loss:10.8 train_time:0.001s step_avg:nanms",  # the next run: the clock starts again
        b"step:125/3350 val_loss:4.6 train_time:20.000s step_avg:160.00ms",
    ]
    times = paced_times(lines, 1000.0, "modded")
    assert times == pytest.approx([1000.0, 1022.87, 1041.354, 1041.354, 1061.354])


def test_the_high_side_of_a_measured_pause_allows_one_more_checkpoint_at_the_configured_rate() -> None:
    """Evals that each save a 3.6 GB checkpoint (302M parameters) measured at 3 s: the saves
    to come may write slower as the page cache fills, so each pause's high side reaches at
    least one more save (2.4 s at 1.5 GB/s) above the measured mean."""
    big = [line.replace("number of parameters: 10.65M", "number of parameters: 302.00M") for line in header()]
    e = est(feed(nanogpt(600, steady(0.02), eval_s=3.0, head=big)))
    save = 302e6 * 12 / 1.5e9
    assert e.eval_source == "measured" and e.eval_time_s == pytest.approx(3.0, rel=1e-6)
    run_alone = est(feed(nanogpt(600, steady(0.02), eval_s=3.0)))  # 10.65M: a 0.085 s save
    assert e.high - e.finish >= e.evals_left * save * 0.99
    assert run_alone.high - run_alone.finish < e.evals_left * save
