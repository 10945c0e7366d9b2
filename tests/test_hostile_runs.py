"""A log whose step counter goes back all the time (two jobs writing one log, `tee -a` from two
shells) is thousands of runs: each run costs a few KB, not the 35-137 KB its columns and chart
envelopes were allocated at up front (100,000 such lines took 3.5 GB), and no step is lost."""

from __future__ import annotations

import random
import tracemalloc

import numpy as np
import pytest

from monitor.core import envelope as envelope_module
from monitor.core.envelope import CAPACITY, Envelope
from monitor.core.report import Options
from monitor.core.run import Run
from monitor.inbox import BlockRead
from monitor.session import Session

T0 = 1_800_000_000.0
#: Bytes a run of one step may hold (measured ~5 KB; the allocations up front were 137 KB).
MAX_RUN_BYTES = 12_000


def _two_jobs(lines: int) -> bytes:
    """Two runs' step lines in one file, alternating: the counter goes back at every other line."""
    return b"".join(b"iter %d: loss 1.0, time 10.00ms, mfu 1.00%%\n" % (10 if i % 2 == 0 else 0)
                    for i in range(lines))


def test_a_run_of_one_step_costs_a_few_kilobytes() -> None:
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        runs = [Run(i) for i in range(200)]
        per_run = (tracemalloc.get_traced_memory()[0] - before) / len(runs)
    finally:
        tracemalloc.stop()
    assert per_run < MAX_RUN_BYTES


def test_thousands_of_runs_in_one_file_keep_every_step() -> None:
    session = Session(Options(source="two-jobs.log", fmt="nanogpt"), lambda: T0)
    session.ingest([BlockRead(T0, _two_jobs(4000))])
    runs = session.state.runs
    assert len(runs) == 2001  # each `iter 0` begins a run, which its `iter 10` continues
    assert sum(len(run.iters) for run in runs) == 4000
    snap = session.snapshot(T0)
    assert (snap.iter, snap.run_index, snap.run_count) == (0, 2000, 2001)


@pytest.mark.parametrize("rows", [1, 15, 16, 17, 700, 1024, 1025, 5000, 40_000])
def test_an_envelope_that_grows_holds_the_buckets_one_allocated_whole_did(rows: int, monkeypatch) -> None:
    rng = np.random.default_rng(rows)
    x = np.arange(rows, dtype=np.float64)
    y = rng.normal(size=rows)
    y[rng.random(rows) < 0.05] = np.nan
    grown = Envelope()
    monkeypatch.setattr(envelope_module, "FIRST_BUCKETS", 2 * CAPACITY)
    whole = Envelope()
    at = 0
    chunks = random.Random(rows)
    while at < rows:  # the same rows in the same pieces
        take = chunks.choice([1, 3, 64, 1000])
        grown.extend(x[at : at + take], y[at : at + take])
        whole.extend(x[at : at + take], y[at : at + take])
        at += take
    assert grown.width == whole.width and len(grown) == len(whole)
    for a, b in zip(grown.arrays(), whole.arrays()):
        np.testing.assert_array_equal(a, b)
