"""Status from line arrival times: stalled (and since when), and the warning that stdout is
block-buffered (steps arriving in bursts, or a silent log while the GPU is busy)."""

from __future__ import annotations

import pytest
from conftest import FakeClock
from logwriter import iter_line

from monitor.core import textfmt
from monitor.core.plan import make_plan
from monitor.core.report import Options, buffering_warning, last_burst
from monitor.core.telemetry import GpuSample
from monitor.inbox import GpuSampled
from monitor.session import Session

T0 = 1_800_000_000.0
CONFIG = ["Overriding: max_iters = 1000", "Overriding: log_interval = 10", "Overriding: eval_interval = 100000"]
HINT = "run with `python -u` or PYTHONUNBUFFERED=1"


class FakeGpus:
    """Only what the status needs: the share of busy samples in a window."""

    def __init__(self, busy: float | None) -> None:
        self.busy = busy
        self.windows: list[tuple[float, float]] = []

    def busy_fraction(self, t0: float, t1: float) -> float | None:
        self.windows.append((t0, t1))
        return self.busy


def session_with(arrivals: list[tuple[float, int]], step_ms: float = 100.0) -> Session:
    """Config at T0, then each (t, iter) step line arriving at t."""
    s = Session(Options(fmt="nanogpt"), FakeClock(T0))
    s.feed_many(CONFIG, T0)
    for t, i in arrivals:
        s.feed(iter_line(i, step_ms).rstrip("\n"), t)
    return s


def steady(n: int = 10, every_s: float = 1.0) -> list[tuple[float, int]]:
    return [(T0 + 10 + k * every_s, 10 * k) for k in range(n)]


def test_stalled_after_much_longer_than_expected_saying_since_when() -> None:
    s = session_with(steady())  # a line a second, as the printed 100 ms x 10 steps say
    last = T0 + 19
    assert s.snapshot(last + 59).status == "training"  # 5 expected gaps, but at least a minute
    snap = s.snapshot(last + 61)
    assert (snap.status, snap.stalled_for_s, snap.last_line_t) == ("stalled", 61.0, last)
    assert f"no new line for 1 m 01 s (last at {textfmt.clock(last, last + 61)})" in snap.warnings


def test_lines_that_come_slower_than_printed_set_the_expected_gap() -> None:
    s = session_with(steady(every_s=30.0))  # printed: 1 s per logged step; seen: 30 s
    last = T0 + 10 + 9 * 30.0
    assert s.snapshot(last + 149).status == "training"
    assert s.snapshot(last + 151).status == "stalled"


def test_steps_arriving_at_once_are_a_buffering_warning() -> None:
    burst = [(T0 + 50, i) for i in (0, 10, 20, 30, 40)]
    s = session_with(burst, step_ms=2000.0)  # 5 x 2 s x log_interval 10 = 100 s of training
    warning = f"5 steps (1 m 40 s of training) arrived at once: stdout is buffered; {HINT}"
    assert warning in s.snapshot(T0 + 51).warnings
    s.feed(iter_line(50, 2000.0).rstrip("\n"), T0 + 70)  # a line on its own: output flows again
    assert not any("arrived at once" in w for w in s.snapshot(T0 + 71).warnings)


@pytest.mark.parametrize(
    ("iters", "step_ms", "expected"),
    [((0, 10), 2000.0, None), ((0, 10, 20), 100.0, None), ((0, 10, 20), 500.0, (3, 15.0))],
)
def test_a_burst_needs_three_steps_and_ten_seconds(iters, step_ms, expected) -> None:
    s = session_with([(T0 + 50, i) for i in iters], step_ms=step_ms)
    run = s.state.current
    assert last_burst(run, make_plan(run, "nanogpt")) == expected


def test_lines_already_in_the_file_are_no_burst() -> None:
    s = Session(Options(fmt="nanogpt"), FakeClock(T0))
    s.feed_many(CONFIG + [iter_line(i, 2000.0).rstrip("\n") for i in range(0, 100, 10)], None)
    assert not any("arrived at once" in w for w in s.snapshot(T0).warnings)


@pytest.mark.parametrize(("busy", "warned"), [(0.9, True), (0.8, True), (0.5, False), (None, False)])
def test_a_stalled_log_while_the_gpu_is_busy(busy, warned) -> None:
    s = session_with(steady())
    run = s.state.current
    last, now = T0 + 19, T0 + 19 + 61
    gpus = FakeGpus(busy)
    warning = buffering_warning(run, make_plan(run, "nanogpt"), "stalled", now, last, gpus)  # type: ignore[arg-type]
    expected = f"no new line for 1 m 01 s while the GPU is busy: stdout may be block-buffered; {HINT}"
    assert warning == (expected if warned else None)
    assert gpus.windows == [(last, now)]


def test_no_step_ever_while_the_gpu_is_busy() -> None:
    s = session_with([])
    run, plan = s.state.current, make_plan(s.state.current, "nanogpt")
    gpus = FakeGpus(1.0)
    assert buffering_warning(run, plan, "starting", T0 + 299, T0, gpus) is None  # type: ignore[arg-type]
    assert gpus.windows == []
    warning = buffering_warning(run, plan, "starting", T0 + 400, T0, gpus)  # type: ignore[arg-type]
    assert warning == f"no step printed for 5 m 00 s while the GPU is busy: stdout may be block-buffered; {HINT}"
    assert gpus.windows == [(T0 + 100, T0 + 400)]


def test_an_empty_log_while_the_gpu_is_busy_uses_the_file_time() -> None:
    s = Session(Options(fmt="nanogpt"), FakeClock(T0))
    run = s.state.current
    gpus = FakeGpus(0.95)
    warning = buffering_warning(run, make_plan(run, "nanogpt"), "starting", T0 + 420, T0, gpus)  # type: ignore[arg-type]
    assert warning is not None and warning.startswith("no step printed for 5 m 00 s while the GPU is busy")


def test_no_buffering_warning_once_the_run_is_over() -> None:
    s = session_with([(T0 + 50, i) for i in (0, 10, 20, 30, 40)], step_ms=2000.0)
    run = s.state.current
    for status in ("finished", "crashed", "interrupted"):
        assert buffering_warning(run, make_plan(run, "nanogpt"), status, T0 + 999, T0 + 50, FakeGpus(1.0)) is None  # type: ignore[arg-type]


def test_real_telemetry_through_the_session() -> None:
    s = session_with(steady())
    s.ingest([GpuSampled([GpuSample(t=T0 + k, index=0, util_pct=97.0, power_w=300.0) for k in range(200)])])
    snap = s.snapshot(T0 + 19 + 61)
    assert snap.status == "stalled"
    assert any(w.startswith("no new line for 1 m 01 s while the GPU is busy") for w in snap.warnings)
