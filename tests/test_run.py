"""RunState through a Session: runs, config sources, statuses and line hygiene."""

from __future__ import annotations

import math

import pytest

from monitor.core.plan import make_plan
from monitor.core.report import Options
from monitor.session import Session

HEADER = [
    "Overriding config with config/train_shakespeare_char.py:",
    "eval_interval = 250",
    "log_interval = 10",
    "max_iters = 5000",
    "tokens per iteration will be: 16,384",
    "number of parameters: 10.65M",
]


def session(clock, **kw) -> Session:
    return Session(Options(source="test.log", **kw), clock)


def iters(s: Session) -> list[int]:
    return s.state.current.iters.values.tolist()


def test_config_values_carry_their_source(clock) -> None:
    s = session(clock)
    s.feed_many([*HEADER, "iter 0: loss 4.0, time 100.00ms, mfu -100.00%"])
    run = s.state.current
    defaults = {"max_iters": 600000, "eval_iters": 200}
    assert run.setting("max_iters", defaults).source == "log"
    assert run.setting("max_iters", defaults).value == 5000
    assert run.setting("eval_iters", defaults).source == "default"
    assert run.setting("max_iters", defaults, {"max_iters": 7}).value == 7
    plan = make_plan(run, "nanogpt")
    assert (plan.max_iters, plan.max_iters_source, plan.eval_interval, plan.log_interval) == (5000, "log", 250, 10)
    assert make_plan(run, "nanogpt", max_iters_flag=900).max_iters_source == "flag"


def test_a_default_total_holds_only_with_the_start_up_in_the_log(clock) -> None:
    steps = ["iter 0: loss 4.0, time 100.00ms, mfu -100.00%", "iter 1: loss 3.9, time 10.00ms, mfu -100.00%"]
    s = session(clock)
    s.feed_many(steps)  # no start-up line: the run may have set its own total
    snap = s.snapshot()
    assert (snap.max_iters, snap.max_iters_source, snap.progress, snap.iter) == (None, None, None, 1)
    assert "max_iters not in the log, which has no config lines: finish unknown (pass --max-iters)" in snap.warnings
    s = session(clock)
    s.feed_many(["Overriding: batch_size = 12", *steps])  # its settings printed, max_iters not: the default runs
    snap = s.snapshot()
    assert (snap.max_iters, snap.max_iters_source, snap.iter) == (600000, "default", 1)
    assert "max_iters not in the log: assuming the default 600,000 (pass --max-iters)" in snap.warnings


def test_a_second_process_appended_to_the_file_starts_a_new_run(clock) -> None:
    s = session(clock)
    s.feed_many([*HEADER, "iter 0: loss 4.0, time 100.00ms", "iter 10: loss 3.0, time 10.00ms"])
    s.feed_many([*HEADER, "iter 0: loss 4.1, time 90.00ms"])
    assert len(s.state.runs) == 2
    assert iters(s) == [0]
    assert s.snapshot().run_index == 1
    assert s.state.runs[0].iters.values.tolist() == [0, 10]


def test_resume_starts_a_new_run_that_continues_the_step_count(clock) -> None:
    s = session(clock)
    s.feed_many([*HEADER, "Initializing a new model from scratch", "iter 0: loss 4.0, time 100.00ms",
                 "iter 2000: loss 1.0, time 10.00ms"])
    s.feed_many(["Resuming training from out", "iter 2000: loss 1.0, time 5000.00ms", "iter 2010: loss 1.0, time 10.00ms"])
    assert len(s.state.runs) == 2
    assert s.state.current.init == "resume"
    assert iters(s) == [2000, 2010]
    # the resumed process printed no config: it inherits the previous run's
    assert s.snapshot().max_iters == 5000


def test_counter_going_back_without_a_header_starts_a_new_run(clock) -> None:
    s = session(clock)
    s.feed_many(["iter 0: loss 4.0, time 1.00ms", "iter 10: loss 3.0, time 1.00ms", "step 0: train loss 4, val loss 4",
                 "iter 0: loss 4.0, time 1.00ms"])
    assert len(s.state.runs) == 2
    assert [e.iter for e in s.state.current.evals] == [0]


def test_a_repeated_line_is_not_counted_twice(clock) -> None:
    s = session(clock)
    s.feed_many(["iter 0: loss 4.0, time 1.00ms", "iter 10: loss 3.0, time 1.00ms", "iter 10: loss 3.0, time 1.00ms"])
    assert iters(s) == [0, 10] and len(s.state.runs) == 1


def test_training_on_after_an_error_line_clears_the_crash(clock) -> None:
    s = session(clock)
    s.feed_many(["iter 0: loss 4.0, time 1.00ms", "RuntimeError: something non-fatal"])
    assert s.snapshot().status == "crashed"
    s.feed("iter 10: loss 3.0, time 1.00ms")
    assert s.snapshot().status != "crashed"


def test_statuses(clock) -> None:
    s = session(clock)
    assert s.snapshot().status == "starting"
    s.feed_many(HEADER)
    assert s.snapshot().status == "starting"
    s.feed("iter 0: loss 4.0, time 100.00ms")
    assert s.snapshot().status == "training"
    s.feed_many(["Traceback (most recent call last):", '  File "x.py", line 1'])
    assert s.snapshot().status == "crashed"
    s.feed("KeyboardInterrupt")
    assert s.snapshot().status == "interrupted"


def test_finished_when_the_last_logged_step_is_reached(clock) -> None:
    s = session(clock)
    s.feed_many([*HEADER, "iter 4990: loss 1.0, time 10.00ms", "step 5000: train loss 1, val loss 1.2",
                 "iter 5000: loss 1.0, time 2000.00ms"])
    snap = s.snapshot()
    assert (snap.status, snap.progress, snap.eta_remaining_s, snap.eta_finish) == ("finished", 1.0, 0.0, None)


def test_line_hygiene_crlf_cr_ansi_and_bad_utf8(clock) -> None:
    s = session(clock)
    s.feed(b"iter 0: loss 4.0, time 1.00ms\r\n")
    s.feed(b"\x1b[32miter 10: loss 3.0, time 1.00ms\x1b[0m")
    s.feed(b"progress 10%\rprogress 50%\riter 20: loss 2.0, time 1.00ms")
    s.feed(b"\xff\xfe\xfd iter 25 garbage")
    s.feed(b"iter 30: loss 1.5, time 1.00ms")
    s.feed(b"x" * 3_000_000)
    s.feed(b"iter 40: loss 1.0, time 1.00ms")
    assert iters(s) == [0, 10, 20, 30, 40]


def test_nan_loss_is_reported(clock) -> None:
    s = session(clock)
    s.feed_many(["iter 0: loss 4.0, time 1.00ms", "iter 5: loss nan, time 1.00ms"])
    snap = s.snapshot()
    assert snap.loss is not None and math.isnan(snap.loss)
    assert snap.record()["loss"] is None
    assert any("NaN" in w for w in snap.warnings)


def test_tokens_and_flops(clock) -> None:
    s = session(clock)
    s.feed_many([HEADER[0], "n_layer = 6", *HEADER[1:], "iter 0: loss 4.0, time 1.00ms", "iter 10: loss 3.0, time 1.00ms"])
    snap = s.snapshot()
    assert snap.tokens_per_iter == 16384
    assert snap.tokens_seen == 11 * 16384
    assert snap.tokens_total == 5001 * 16384
    # 6·N + 12·L·n_embd·T with nanoGPT's defaults for what the header leaves out (n_embd 768, block 1024)
    assert snap.flops_total == (6 * 10_650_000 + 12 * 6 * 768 * 1024) * 5001 * 16384


def test_time_so_far_from_printed_step_times_when_lines_have_no_arrival_time(clock) -> None:
    s = session(clock)
    s.feed_many(["iter 0: loss 4.0, time 1000.00ms", "iter 10: loss 3.0, time 100.00ms", "iter 20: loss 2.0, time 100.00ms"])
    snap = s.snapshot()
    # 1 + 0.1 + 0.1 s printed, plus 18 unlogged steps at the median printed 0.1 s
    assert snap.elapsed_s == pytest.approx(3.0)
    assert snap.elapsed_measured is False
    # a line arriving now does not tell when the run began
    s.feed("iter 30: loss 1.0, time 100.00ms", t=clock.t)
    assert s.snapshot().elapsed_measured is False


def test_a_chained_traceback_is_one_event(clock) -> None:
    s = session(clock)
    s.feed_many(["iter 0: loss 4.0, time 1.00ms", "Traceback (most recent call last):", '  File "a.py", line 1',
                 "KeyboardInterrupt", "", "During handling of the above exception, another exception occurred:", "",
                 "Traceback (most recent call last):", '  File "b.py", line 2', "KeyboardInterrupt"])
    assert [n.kind for n in s.state.current.notes] == ["interrupted"]
