"""The streaming estimator with a fake clock: first estimate from one step, changes followed
within 20 steps, single slow steps / evals / bursts ignored, a band that widens where slow
steps recur, the conformal maths, logs that start mid-run (kind H) and evals off the assumed
interval (kind I)."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pytest

from monitor.core.band import (
    Calibration,
    bucket,
    calibrate,
    calibrate_split,
    conformal_level,
    interval,
    seen_factor,
    widen,
)
from monitor.core.estimate import Estimate, estimate
from monitor.core.events import ConfigValue, Iteration
from monitor.core.formats.prefix import strip
from monitor.core.plan import make_plan
from monitor.core.report import Options
from monitor.core.run import RunState
from monitor.core.speed import CHANGE_MIN_SAMPLES, Stream
from monitor.core.tracker import BACKLOG, WARMUP_FACTOR, Tracker, warmup_rows
from monitor.session import Session

T0 = 1_800_000_000.0
DATA = Path(__file__).parent / "data" / "field"


def lines_of(step_s, upto: int, *, log_every: int = 1, max_iters: int = 2000, eval_every: int = 100_000,
             eval_s: float = 2.0, burst: range = range(0)) -> list[tuple[float, str]]:
    """(arrival time, line) of a nanoGPT run logging every `log_every` steps; iteration 0 pays
    10 s (compile); lines whose iteration is in `burst` wait in a buffer for the next line."""
    head = ["Overriding config with c.py:", f"max_iters = {max_iters}", f"log_interval = {log_every}",
            f"eval_interval = {eval_every}", "tokens per iteration will be: 1,000"]
    out = [(T0, line) for line in head]
    t, held = T0, []
    for i in range(upto + 1):
        pause = eval_s if i % eval_every == 0 and i else 0.0
        took = (10.0 if i == 0 else step_s(i)) + pause
        t += took
        if pause:
            out.append((t - took + pause, f"step {i}: train loss 2.0, val loss 2.1"))
        if i % log_every == 0:
            line = f"iter {i}: loss 2.0000, time {took * 1000:.4f}ms, mfu 30.00%"
            if i in burst:
                held.append(line)
            else:
                out.extend((t, h) for h in held)
                held = []
                out.append((t, line))
    return out


def session(lines: list[tuple[float | None, str]], max_iters: int | None = None) -> Session:
    s = Session(Options(source="t.log", max_iters=max_iters), lambda: T0)
    for t, line in lines:
        s.feed(line, t)
    return s


def est(s: Session, now: float | None = None) -> Estimate:
    run = s.state.current
    return estimate(run, make_plan(run, s.format, s.options.max_iters), run.last_t if now is None else now)


def noisy(level: float, seed: int = 1, rel: float = 0.03):
    rng = np.random.default_rng(seed)
    noise = 1 + rel * rng.standard_normal(100_000)
    return lambda i: level * noise[i]


# -- first estimate -----------------------------------------------------------------


def test_one_nanochat_line_from_mid_run_gives_the_step_time_and_the_finish() -> None:
    s = Session(Options(source="h1"), lambda: T0)
    s.feed_many((DATA / "h1_midrun_single_line.log").read_text().splitlines())
    snap = s.snapshot()
    # no startup in view: no warm-up to skip; dt 9000 ms; steps 3001..19999 to go
    assert snap.step_time_s == pytest.approx(9.0)
    assert snap.eta_remaining_s == pytest.approx(16_999 * 9.0)
    assert snap.eta_low < snap.eta_finish < snap.eta_high


def test_a_nanogpt_excerpt_from_mid_run_gives_the_step_time_at_once() -> None:
    s = Session(Options(source="h2"), lambda: T0)
    s.feed_many((DATA / "h2_midrun_nanogpt_excerpt.log").read_text().splitlines())
    # iteration 52000 is an eval step by nanoGPT's default interval (2000): its time is left out
    assert s.snapshot().step_time_s == pytest.approx((0.61985 + 0.62102) / 2)


def test_warm_up_is_at_the_process_start_not_at_the_first_line_seen() -> None:
    # a process that starts at iteration 0: its first WARMUP_STEPS steps are compile
    started = est(session(lines_of(lambda i: 0.5 if i < 5 else 0.02, 5)))
    assert started.samples == 1 and started.step_time_s == pytest.approx(0.02)
    # the same lines from iteration 1000 on, with no startup: nothing there is warm-up
    mid = [(T0 + k, f"iter {1000 + k}: loss 2.0, time 20.00ms, mfu 30.00%") for k in range(3)]
    e = est(session(mid, max_iters=2000))
    assert e.samples == 3 and e.step_time_s == pytest.approx(0.02)


def test_warm_up_is_read_from_the_step_times() -> None:
    nan = math.nan
    # the first step always; then each step while it is far above the steps after it
    assert warmup_rows([nan, 0.95, 0.948]) == (1, False)
    assert warmup_rows([nan, 0.5, 0.3, 0.02, 0.02, 0.02]) == (3, False)
    # a plateau of warm-up steps does not hide the steady level once it is in view
    assert warmup_rows([nan, 0.2, 0.2, 0.2, 0.2] + [0.02] * 9) == (5, True)
    # steady noise (1.4x the fastest step after it) is not warm-up
    assert warmup_rows([nan, 0.014, 0.010, 0.013, 0.013, 0.012, 0.012, 0.013, 0.013, 0.012, 0.013]) == (1, True)
    # the newest step has nothing after it yet: it counts, so one step gives an estimate
    assert warmup_rows([nan, 0.5]) == (1, False)
    assert warmup_rows([nan]) == (1, False)
    # a run that keeps slowing down from the start is not all warm-up
    assert warmup_rows([nan] + [WARMUP_FACTOR ** (-k) * 2.0 for k in range(1, 30)])[0] == 9


def test_a_first_estimate_comes_after_the_first_steady_step_of_a_process() -> None:
    # nanoGPT logging every step: compile at iteration 0, then steady 0.95 s steps (field case g1)
    lines = lines_of(lambda i: 0.95, 2)
    e = est(session(lines[:-1]))  # iterations 0 and 1: one steady step
    assert e.samples == 1 and e.step_time_s == pytest.approx(0.95, rel=1e-4)
    e = est(session(lines))
    assert e.step_time_s == pytest.approx(0.95, rel=1e-4)
    assert e.remaining_s == pytest.approx((2000 - 2) * 0.95, rel=1e-4)


def test_a_step_taken_as_steady_is_taken_back_when_the_next_ones_show_it_was_warm_up() -> None:
    lines = lines_of(lambda i: 0.5 if i < 3 else 0.02, 12, eval_every=5, eval_s=1e-6)
    first = est(session(lines_of(lambda i: 0.5 if i < 3 else 0.02, 1)))
    assert first.step_time_s == pytest.approx(0.5, rel=1e-4)  # all there is so far
    s = session(lines[:7])
    for k in range(7, len(lines)):  # one tracker, followed line by line
        est(s)
        s.feed(lines[k][1], lines[k][0])
    e = est(s)
    # iterations 0-2 are warm-up; 3-12 steady, less the eval steps 5 and 10: 8 printed times,
    # 7 gaps from steady lines
    assert e.step_time_s == pytest.approx(0.02, rel=1e-4)
    assert e.samples == 7 and e.step_source == "arrival"
    tracker = Tracker.of(s.state.current)
    assert tracker.printed.n == 8
    assert tracker._eval_iters == [5, 10]  # what was seen before the rows were folded again


def _stamped(gap_s: float, n: int, digits: int, dt_ms: float = 612.5, every: int = 1) -> list[tuple[float, str]]:
    """(arrival, line) of nanochat step lines `gap_s` apart, each with a printed `dt` and a
    `[YYYY-mm-dd HH:MM:SS(.fff)]` prefix cut to `digits` decimals (as loggers print it)."""
    out = []
    for k in range(n):
        t = T0 + 0.25 + k * gap_s
        cut = math.floor(t * 10**digits) / 10**digits
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(cut)) + (f"{cut % 1:.{digits}f}"[1:] if digits else "")
        step = 120 + k * every
        text = (f"[{stamp}] step {step:05d}/00800 (15.00%) | loss: 4.100000 | lrm: 1.00 | "
                f"dt: {dt_ms:.2f}ms | tok/sec: 214,040 | mfu: 31.02 | total time: 1.12m")
        out.append((t + 0.01, text))
    return out


def test_whole_second_timestamps_do_not_override_a_printed_step_time() -> None:
    # 0.6125 s steps stamped to the second: gaps read 0 or 1 s
    e = est(session(_stamped(0.6125, 20, digits=0)))
    assert e.step_source == "printed" and e.step_time_s == pytest.approx(0.6125)
    # two lines are too few whatever the gaps read (field case a2)
    e = est(session(_stamped(0.6125, 3, digits=0)))
    assert e.step_source == "printed" and e.step_time_s == pytest.approx(0.6125)


def test_a_timestamp_says_its_resolution() -> None:
    assert strip("[2025-09-14 08:00:01] step 1").resolution_s == 1.0
    assert strip("2025-09-14T08:00:02.734Z step 1").resolution_s == pytest.approx(1e-3)
    assert strip("May 02 14:10:07.12 step 1").resolution_s == pytest.approx(1e-2)
    assert strip("[rank0]: step 1").resolution_s is None


def test_timestamps_precise_against_the_gaps_are_arrival_time() -> None:
    # milliseconds: the gaps hold the data loading the printed dt leaves out
    e = est(session(_stamped(0.7, 20, digits=3)))
    assert e.step_source == "arrival" and e.step_time_s == pytest.approx(0.7, rel=1e-3)
    # whole seconds against 30 s between lines: coarse for one gap, not for two
    one = est(session(_stamped(30.0, 2, digits=0, dt_ms=2900.0, every=10)))
    assert one.step_source == "printed" and one.step_time_s == pytest.approx(2.9)
    two = est(session(_stamped(30.0, 3, digits=0, dt_ms=2900.0, every=10)))
    assert two.step_source == "arrival" and two.step_time_s == pytest.approx(3.0)


# -- following real changes, ignoring one-offs ----------------------------------------


@pytest.mark.parametrize("factor", [1.25, 0.75, 2.4])
def test_a_move_of_25_percent_or_more_is_followed_within_20_steps(factor: float) -> None:
    base = noisy(0.02)
    moved = lines_of(lambda i: base(i) * (factor if i > 600 else 1.0), 620)
    e = est(session(moved))
    assert e.speed_change_iter is not None and 600 < e.speed_change_iter <= 620
    assert e.step_time_s == pytest.approx(0.02 * factor, rel=0.05)


def test_a_drift_is_extrapolated_no_further_than_it_was_seen() -> None:
    # steps slow by 4% over 200 steps (an MPS run warming up), 4800 steps to go
    s = Stream()
    for i in range(1, 201):
        s.add(0.757 * (1.0 + 0.04 * i / 200), 1.0, i)
    near, far = s.speed(200, 100), s.speed(200, 4800)
    assert near is not None and far is not None
    # 100 steps left: the drift goes on over all of them; 4800: over the 200 it was seen over only
    assert far.step_s == pytest.approx(s.speed(200, 200).step_s)  # type: ignore[union-attr]
    assert near.level_s < near.step_s < far.step_s < near.level_s * 1.05


def test_a_speed_the_run_never_had_is_followed_at_once_a_return_as_it_lasts() -> None:
    # 400 steps under a competing job (2.4x slower), then free: 1.5x faster than ever before
    freed = Stream()
    for i in range(1, 421):
        freed.add(0.048 if i <= 400 else 0.02, 1.0, i)
    sp = freed.speed(420, 4580)
    assert sp is not None and sp.change_iter is not None and 400 < sp.change_iter <= 420
    assert sp.step_s == pytest.approx(0.02) and sp.regime_share == 1.0
    # a slowdown that ends: back to a speed the run had, weighed by how long it has lasted
    back = Stream()
    for i in range(1, 621):
        back.add(0.048 if 200 < i <= 400 else 0.02, 1.0, i)
    sp = back.speed(620, 4380)
    assert sp is not None and sp.change_iter is not None and sp.change_iter > 400
    assert 0.0 < sp.regime_share < 1.0 and sp.step_s > 0.02


def test_noise_and_a_10_percent_wobble_are_not_changes() -> None:
    e = est(session(lines_of(lambda i: noisy(0.02, rel=0.05)(i) * (1.1 if 300 < i < 500 else 1.0), 900)))
    assert e.speed_change_iter is None


@pytest.mark.parametrize("slow_s", [0.06, 0.2, 5.0])
def test_a_single_slow_step_does_not_move_the_estimate(slow_s: float) -> None:
    steady = est(session(lines_of(lambda i: 0.02, 800)))
    e = est(session(lines_of(lambda i: slow_s if i == 400 else 0.02, 800)))
    assert e.speed_change_iter is None
    assert e.step_time_s == pytest.approx(steady.step_time_s, rel=2e-3)


def test_consecutive_slow_steps_below_the_change_minimum_do_not_move_it() -> None:
    slow = range(400, 400 + CHANGE_MIN_SAMPLES - 1)
    e = est(session(lines_of(lambda i: 0.06 if i in slow else 0.02, 800)))
    assert e.speed_change_iter is None
    assert e.step_time_s == pytest.approx(0.02, rel=0.01)


def test_an_eval_step_does_not_move_the_step_time() -> None:
    e = est(session(lines_of(lambda i: 0.02, 800, eval_every=500, eval_s=3.0)))
    assert e.step_time_s == pytest.approx(0.02, rel=1e-6)
    assert e.speed_change_iter is None
    assert e.eval_time_s == pytest.approx(3.0, rel=1e-6)


def test_a_burst_of_buffered_lines_does_not_move_the_estimate() -> None:
    e = est(session(lines_of(lambda i: 0.02, 800, burst=range(400, 420))))
    assert e.speed_change_iter is None
    assert e.step_time_s == pytest.approx(0.02, rel=1e-3)


# -- recurring transients: the band says so --------------------------------------------


def model_band(s: Session) -> Estimate:
    """The estimate with the model's own band only (no calibration table)."""
    run = s.state.current
    return estimate(run, make_plan(run, s.format), run.last_t, calibration=None)


def test_recurrent_transient_slowdowns_widen_the_band_and_cost_time() -> None:
    steady = session(lines_of(lambda i: 0.02, 1000))
    shared = session(lines_of(lambda i: 0.1 if i % 50 == 0 else 0.02, 1000))
    a, b = model_band(steady), model_band(shared)
    assert b.speed_change_iter is None
    assert (b.high - b.low) > 3 * (a.high - a.low)
    assert est(shared).high - est(shared).low > est(steady).high - est(steady).low  # calibrated too
    assert b.remaining_s > a.remaining_s  # the slow steps are expected to go on


def test_a_gpu_shared_on_and_off_widens_the_band() -> None:
    on = [(300, 400), (600, 700)]
    shared = model_band(session(lines_of(lambda i: 0.04 if any(a < i <= b for a, b in on) else 0.02, 1000)))
    steady = model_band(session(lines_of(lambda i: 0.02, 1000)))
    assert shared.speed_change_iter is not None
    assert (shared.high - shared.low) > 3 * (steady.high - steady.low)


def test_a_stream_counts_moves_that_come_back() -> None:
    s = Stream()
    for i, x in enumerate([0.02] * 50 + [0.04] * 20 + [0.02] * 20 + [0.04] * 20):
        s.add(x, 1.0, i)
    assert s.changes == 3 and s.reverts == 2
    speed = s.speed(110, 1000)
    assert speed is not None and speed.level_s == pytest.approx(0.04)
    assert speed.long_s < speed.step_s < speed.level_s  # blended: moves come and go


# -- per-run state, bounded work ---------------------------------------------------------


def test_the_tracker_folds_each_row_once_and_a_long_history_only_in_part() -> None:
    state = RunState()
    state.apply(ConfigValue("eval_interval", 10**9), None)
    for i in range(BACKLOG + 500):
        state.apply(Iteration(i, 2.0, step_time_s=0.02), None)
    run = state.current
    plan = make_plan(run, "nanogpt", 100_000)
    estimate(run, plan, T0)
    tracker = Tracker.of(run)
    assert tracker is run.estimator_state
    assert tracker.printed.n == BACKLOG
    estimate(run, plan, T0 + 1)
    assert tracker.printed.n == BACKLOG  # nothing new: nothing folded in again
    state.apply(Iteration(BACKLOG + 500, 2.0, step_time_s=0.02), None)
    estimate(run, plan, T0 + 2)
    assert tracker.printed.n == BACKLOG + 1


# -- kind I: evals off the assumed interval ---------------------------------------------


def test_an_eval_at_a_configured_interval_is_measured() -> None:
    s = Session(Options(source="i1"), lambda: T0)
    s.feed_many((DATA / "i1_eval_at_non_default_interval.log").read_text().splitlines())
    assert s.snapshot().eval_time_s == pytest.approx(31.001 - (1.0012 + 1.0008 + 1.0009) / 3, rel=1e-4)


def test_without_a_configured_interval_it_is_inferred_from_the_evals_seen() -> None:
    text = (DATA / "i1_eval_at_non_default_interval.log").read_text().splitlines()
    s = Session(Options(source="i1"), lambda: T0)
    s.feed_many([line for line in text if not line.startswith("Overriding")])
    # nanoGPT's default (2000) does not divide 1500: the eval seen sets the interval
    assert s.snapshot().eval_time_s == pytest.approx(30.0, rel=1e-3)


# -- conformal maths ----------------------------------------------------------------------


def test_conformal_level_has_the_finite_sample_correction() -> None:
    assert conformal_level(19, 0.1) == pytest.approx(18 / 19)  # ceil(20 * 0.9) / 19
    assert conformal_level(99, 0.1) == pytest.approx(90 / 99)
    assert conformal_level(8, 0.1) == 1.0  # too few runs: the largest score
    assert conformal_level(0, 0.1) == 1.0


def test_buckets_by_samples_then_progress() -> None:
    assert bucket(0.5, 3) == 0
    assert bucket(0.0, 8) == 1
    assert bucket(0.03, 100) == 2
    assert bucket(0.5, 100) == 6
    assert bucket(1.0, 100) == 8


def test_calibrate_takes_each_runs_own_quantiles_then_the_conformal_one_over_runs() -> None:
    # 19 runs, one line each in the 25-50% bucket: errors -0.09 .. +0.09 (run k: (k - 9) / 100)
    errors = {f"r{k}": [(0.3, 100, (k - 9) / 100)] for k in range(19)}
    cal = calibrate(errors, alpha=0.1)
    assert cal.runs == 19
    # level 18/19 over 19 scores: the 18th largest high, the 18th smallest (negated) low,
    # each error in units of what 100 samples warrant
    assert cal.high[5] == pytest.approx(0.08 / seen_factor(100))
    assert cal.low[5] == pytest.approx(-0.08 / seen_factor(100))
    assert cal.high[0] is None and cal.low[0] is None
    assert interval(cal, 0.3, 100) == pytest.approx((-0.08, 0.08))  # back in relative errors
    # a run's many lines count once: its own 5% / 95% quantiles
    one = calibrate({"a": [(0.3, 100, e) for e in np.linspace(-1, 1, 201)]}, alpha=0.1)
    assert one.high[5] * seen_factor(100) == pytest.approx(0.9)
    assert one.low[5] * seen_factor(100) == pytest.approx(-0.9)


def test_lines_on_a_shared_gpu_are_calibrated_apart() -> None:
    # Mondrian: 19 runs alone (errors -0.09..0.09 at 25-50%), 19 shared (10x that, and at 90%)
    alone = {f"a{k}": [(0.3, 100, (k - 9) / 100, False), (0.03, 100, 0.2, False)] for k in range(19)}
    shared = {f"s{k}": [(0.3, 100, (k - 9) / 10, True), (0.95, 100, 0.5, True)] for k in range(19)}
    bands = calibrate_split({**alone, **shared}, alpha=0.1)
    assert bands.alone == calibrate({n: [r[:3] for r in v] for n, v in alone.items()}, alpha=0.1)
    assert bands.alone.high[5] == pytest.approx(0.08 / seen_factor(100))
    assert bands.alone.runs == 19 and bands.shared.runs == 19
    assert bands.shared.high[5] == pytest.approx(10 * bands.alone.high[5])
    # a bucket no shared line reached takes the alone table's bounds; one only shared lines
    # reached is the shared table's alone
    assert bands.shared.high[2] == bands.alone.high[2] == pytest.approx(0.2 / seen_factor(100))
    assert bands.alone.high[8] is None and bands.shared.high[8] == pytest.approx(0.5 / seen_factor(100))
    assert bands.of(True) is bands.shared and bands.of(False) is bands.alone


def test_the_band_widens_with_less_seen() -> None:
    # the same calibrated bucket: an estimate from 10 samples gets a wider band than one from 1000
    assert seen_factor(10) > seen_factor(100) > seen_factor(1000) > 1.0
    assert seen_factor(10**9) == pytest.approx(1.0)
    cal = Calibration(low=(-0.1,) * 9, high=(0.2,) * 9, runs=10)
    few, many = interval(cal, 0.5, 10), interval(cal, 0.5, 1000)
    assert few is not None and many is not None
    assert few[0] < many[0] < 0.0 < many[1] < few[1]
    assert few[1] / many[1] == pytest.approx(seen_factor(10) / seen_factor(1000))


def test_the_band_joins_the_model_band_with_the_calibrated_one() -> None:
    cal = Calibration(low=(-0.5, None, -0.1, -0.1, -0.1, -0.1, -0.1, -0.1, -0.1),
                      high=(0.5, None, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2), runs=10)
    f3, f100 = seen_factor(3), seen_factor(100)
    assert interval(cal, 0.5, 3) == pytest.approx((-0.5 * f3, 0.5 * f3))
    assert interval(cal, 0.0, 100) == pytest.approx((-0.5 * f100, 0.5 * f100))  # an empty bucket borrows the one before
    low, high = widen(995.0, 1001.0, cal=cal, finish=1000.0, now=900.0, scale_s=100.0, progress=0.5, samples=100)
    assert (low, high) == pytest.approx((1000.0 - 10.0 * f100, 1000.0 + 20.0 * f100))
    low, high = widen(995.0, 1001.0, cal=cal, finish=1000.0, now=995.0, scale_s=100.0, progress=0.5, samples=100)
    assert low == 995.0  # never before now
    assert widen(1.0, 2.0, cal=None, finish=1.5, now=0.0, scale_s=1.0, progress=0.5, samples=100) == (1.0, 2.0)
    assert math.isfinite(high)


def test_a_change_the_log_announced_is_followed_in_full() -> None:
    # modded-nanogpt lists the steps where its schedule changes the step time
    announced, unannounced = Stream(), Stream()
    announced.schedule = (100,)
    for s in (announced, unannounced):
        for i in range(1, 130):
            s.add(0.02 if i <= 100 else 0.04, 1.0, i)
    assert announced.change_iter == unannounced.change_iter == 101
    a, b = announced.speed(129, 1000), unannounced.speed(129, 1000)
    assert a is not None and b is not None
    assert a.step_s == pytest.approx(0.04)
    assert b.step_s < 0.03  # 28 steps old against 128 seen: mostly the long-run mean
