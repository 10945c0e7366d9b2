"""Memory bounded in the run's length: a long run's columns keep their first and newest rows
only, everything else it keeps is bounded too (counted in elements), and what is reported
equals what the whole history gives (a run read with nothing dropped)."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.core import steps as steps_module
from monitor.core.columns import HEAD_ROWS, Column, NanColumn, last_finite
from monitor.core.envelope import CAPACITY
from monitor.core.folds import RECENT_PRINTED
from monitor.core.report import Options, printed_elapsed_s
from monitor.core.run import MAX_NOTES, RunState
from monitor.core.steps import TIMED_HEAD
from monitor.core.tracker import BACKLOG, WARMUP_STEPS, Tracker
from monitor.session import Session

T0 = 1_800_000_000.0
#: A tail short enough for a test run to drop rows many times, longer than the estimator's
#: backlog and than the rows 256 evals at this log's eval interval span (so nothing the
#: estimator reads is windowed: the figures must be exactly those of the whole history).
TAIL = 4096
EVERY = 10
NEVER = 1 << 60


def _log(steps: int, seed: int = 1) -> list[str]:
    """A nanoGPT log: config, then `iter` lines with an eval every EVERY steps (its printed
    step time holds the eval), a slowdown half way, and a checkpoint now and then."""
    rng = random.Random(seed)
    lines = [f"Overriding: max_iters = {steps * 2}", "Overriding: log_interval = 1",
             f"Overriding: eval_interval = {EVERY}", "tokens per iteration will be: 8,192"]
    loss = 4.0
    for i in range(steps):
        if i % EVERY == 0:
            lines.append(f"step {i}: train loss {loss:.4f}, val loss {loss + rng.random() / 10:.4f}")
            if i % (50 * EVERY) == 0 and i:
                lines.append("saving checkpoint to out")
        loss = max(0.5, loss - 1e-4 + rng.gauss(0, 0.01))
        ms = (3000.0 if i == 0 else rng.gauss(100 if i < steps // 2 else 130, 3)) + (40 if i % EVERY == 0 else 0)
        lines.append(f"iter {i}: loss {loss:.4f}, time {ms:.2f}ms, mfu {rng.uniform(20, 30):.2f}%")
    return lines


def _read(lines: list[str], tail: int, monkeypatch: pytest.MonkeyPatch, cold: int) -> tuple[Session, list[str]]:
    """The first `cold` lines read in bulk (a cold open), the rest line by line at 0.11 s
    apart with a record every 500 lines; the session and its records."""
    monkeypatch.setattr(steps_module, "TAIL_ROWS", tail)
    now = [T0]
    session = Session(Options(source="long.log"), clock=lambda: now[0])
    session.feed_block(("\n".join(lines[:cold]) + "\n").encode(), None)
    records = [session.snapshot().to_json()]
    for k, line in enumerate(lines[cold:]):
        now[0] += 0.11
        session.feed(line, now[0])
        if k % 500 == 0:
            records.append(session.snapshot(charts=True).to_json())
    records.append(session.snapshot(charts=True).to_json())
    return session, records


@pytest.fixture(scope="module")
def long_log() -> list[str]:
    return _log(40_000)


def test_a_long_run_keeps_bounded_state_and_reports_what_the_whole_history_gives(long_log, monkeypatch) -> None:
    bounded, records = _read(long_log, TAIL, monkeypatch, cold=len(long_log) // 2)
    whole, expected = _read(long_log, NEVER, monkeypatch, cold=len(long_log) // 2)
    run, ref = bounded.state.current, whole.state.current
    assert run.iters.start > 0 and ref.iters.start == 0  # rows were dropped, many times
    assert records == expected
    # The same snapshot, every field (the chart's bucket means are sums in another order).
    got, want = bounded.snapshot(charts=True), whole.snapshot(charts=True)
    for name in got.__dataclass_fields__:
        a, b = getattr(got, name), getattr(want, name)
        if name.endswith("_series"):
            assert np.array_equal(a.x, b.x) and np.array_equal(a.lo, b.lo) and np.array_equal(a.hi, b.hi), name
            assert np.allclose(a.y, b.y, rtol=1e-12), name
        elif name == "elapsed_s":
            assert a == pytest.approx(b, rel=1e-12)
        else:
            assert a == b, name
    assert (got.iters_done, got.first_iter, got.iter) == (40_000, 0, 39_999)
    # Energy's steady start: the first row with a line time past warm-up, long dropped.
    times, iters = ref.t.values, ref.iters.values
    first_timed = np.flatnonzero(np.isfinite(times) & (iters >= iters[0] + WARMUP_STEPS))[0]
    assert first_timed < run.iters.start
    assert run.first_timed_at(run.first_iter + WARMUP_STEPS) == times[first_timed]
    assert Tracker.of(run)._first == Tracker.of(ref)._first == (int(iters[first_timed]), times[first_timed])
    # Counted in elements: nothing grows with the steps (the evals list grows with the evals).
    for column in (run.iters, run.loss, run.step_time_s, run.mfu, run.t, run.train_time_s):
        assert column.kept <= 2 * TAIL and column.capacity <= 4 * TAIL + HEAD_ROWS
    assert len(run.folds.loss) <= 2 * CAPACITY and len(run.folds.step) <= 2 * CAPACITY
    assert len(run.folds.recent_printed_s) <= RECENT_PRINTED
    assert len(run.timed_head) <= TIMED_HEAD and len(run.notes) <= MAX_NOTES
    tracker = Tracker.of(run)
    assert tracker.rows == run.n_iters  # the tracker keeps running sums and a fixed window only
    assert TAIL > BACKLOG + 1


def test_a_long_run_read_in_bulk_is_the_run_read_whole(long_log, monkeypatch) -> None:
    bounded, records = _read(long_log, TAIL, monkeypatch, cold=len(long_log))
    _, expected = _read(long_log, NEVER, monkeypatch, cold=len(long_log))
    assert bounded.state.current.iters.start > 0
    assert records == expected
    got = json.loads(records[-1])
    assert got["iter"] == 39_999 and got["loss"] == float(long_log[-1].split()[3].rstrip(","))


def test_the_printed_clock_keeps_the_dropped_rows_printed_times(monkeypatch) -> None:
    """A log that stopped printing step times: the steps between its lines are counted at
    the median of the printed times the columns no longer hold."""
    monkeypatch.setattr(steps_module, "TAIL_ROWS", 64)
    states = []
    for _ in range(2):
        state = RunState()
        state.extend_iterations(np.arange(0, 300, 3), np.ones(100), np.linspace(1, 2, 100), np.full(100, np.nan), None)
        state.extend_iterations(np.arange(300, 3000, 3), np.ones(900), np.full(900, np.nan), np.full(900, np.nan), None)
        states.append(state)
        monkeypatch.setattr(steps_module, "TAIL_ROWS", NEVER)
    bounded, whole = (s.current for s in states)
    assert bounded.step_time_s.start > 0 and not np.isfinite(bounded.step_time_s.values).any()
    assert printed_elapsed_s(bounded) == printed_elapsed_s(whole) == pytest.approx(
        np.linspace(1, 2, 100).sum() + 2 * 999 * 1.5)


@settings(max_examples=200, deadline=None)
@given(ops=st.lists(st.one_of(
    st.tuples(st.just("append"), st.sampled_from([math.nan, 1.5, -0.0, math.inf, 2.0])),
    st.tuples(st.just("extend"), st.lists(st.sampled_from([math.nan, 2.5, 3.0]), max_size=40)),
    st.tuples(st.just("drop"), st.integers(0, 50)),
    st.tuples(st.just("shift"), st.sampled_from([1.0, -0.5])),
), max_size=40), lazy=st.booleans())
def test_a_column_that_drops_rows_holds_the_newest_and_the_first(ops, lazy) -> None:
    col: Column = NanColumn() if lazy else Column()
    full: list[float] = []
    start = 0
    for op, arg in ops:
        if op == "append":
            col.append(arg)
            full.append(arg)
        elif op == "extend":
            col.extend(np.array(arg, dtype=float))
            full.extend(arg)
        elif op == "drop":
            col.drop(arg)
            assert col.start == (start if len(full) < HEAD_ROWS else start + min(arg, len(full) - start))
            start = col.start
        else:
            col.shift(arg)
            full = [x + arg for x in full]
    whole = np.array(full, dtype=float)
    assert len(col) == len(full) and col.start == start and col.kept == len(full) - start
    assert col.values.tobytes() == whole[start:].tobytes()
    assert col.head.tobytes() == whole[:HEAD_ROWS].tobytes()
    assert col.since(start + 1).tobytes() == whole[start + 1 :].tobytes()
    assert col.last_finite() == last_finite(whole)
