"""A live log's small reads, drained together, are read as one block with each line at its own
read's time (Session.ingest joins them): the same record as feeding every line on its own at
that time, and as ingesting the reads one by one, on every sample log."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from test_replay_blocks import LOGS, SAMPLES, START_T

import monitor.reading
from monitor.core.report import Options
from monitor.inbox import BlockRead, LinesRead, PartialRead, SourceEvent, TimedBlockRead
from monitor.session import JOIN_MAX_BYTES, JOIN_READ_BYTES, Session, _joined, _small_reads_end
from monitor.sources.replay import timed_lines


def _drains(log: Path, seed: int) -> list[list[BlockRead]]:
    """The log as a follower hands a line-at-a-time writer's log over: reads of 1 to 7 lines,
    each at its own time, drained a few reads at a time."""
    rng = random.Random(seed)
    lines = [line for _, line in timed_lines(str(log), None, START_T)]
    reads, i, t = [], 0, START_T
    while i < len(lines):
        n = rng.randint(1, 7)
        t += rng.choice([0.001, 0.01, 0.5, 30.0])
        reads.append(BlockRead(t, b"".join(line + b"\n" for line in lines[i : i + n])))
        i += n
    drains, i = [], 0
    while i < len(reads):
        n = rng.randint(1, 40)
        drains.append(reads[i : i + n])
        i += n
    return drains


def _session(log: Path) -> Session:
    return Session(Options(source=str(log)), clock=lambda: START_T)


@pytest.mark.parametrize("log", LOGS, ids=lambda p: str(p.relative_to(SAMPLES)))
def test_reads_drained_together_are_the_lines_fed_one_by_one(log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(monitor.reading, "SCAN_MIN_LINES", 16)  # the bulk reader starts and stops inside joins
    drains = _drains(log, seed=len(log.name))
    together, one_read, by_line = _session(log), _session(log), _session(log)
    t = START_T
    for drain in drains:
        together.ingest(drain)
        for read in drain:
            one_read.ingest([read])
            assert read.t is not None
            t = read.t
            by_line.ingest([LinesRead([(t, line) for line in read.block.split(b"\n")[:-1]])])
    record = together.snapshot(t).to_json()
    assert record == by_line.snapshot(t).to_json()
    assert record == one_read.snapshot(t).to_json()


def test_only_small_timed_reads_of_whole_lines_are_joined() -> None:
    small = BlockRead(1.0, b"a\nb\n")
    events: list[SourceEvent] = [small, small, BlockRead(None, b"c\n"), small, BlockRead(2.0, b"d"), small,
                                 PartialRead(3.0, b"e"), small, BlockRead(4.0, b"x" * JOIN_READ_BYTES + b"\n"), small]
    ends = [_small_reads_end(events, i) for i in range(len(events))]
    assert ends == [2, 2, 2, 4, 4, 6, 6, 8, 8, 10]
    full = BlockRead(1.0, b"x" * (JOIN_READ_BYTES - 1) + b"\n")
    many = [full] * (2 * JOIN_MAX_BYTES // JOIN_READ_BYTES)
    assert _small_reads_end(many, 0) == JOIN_MAX_BYTES // JOIN_READ_BYTES  # a few MB joined at most


def test_joined_reads_keep_each_lines_read_time() -> None:
    joined = _joined([BlockRead(1.0, b"a\nb\n"), BlockRead(2.5, b"c\n"), BlockRead(4.0, b"d\ne\nf\n")])
    assert isinstance(joined, TimedBlockRead) and joined.block == b"a\nb\nc\nd\ne\nf\n"
    assert joined.times.dtype == np.float64 and joined.times.tolist() == [1.0, 1.0, 2.5, 4.0, 4.0, 4.0]


def test_reads_after_a_cut_are_not_joined_until_it_is_judged() -> None:
    """A log cut mid-run (test_log_cut.py): the reads after the cut, drained together, give the
    record of reading them one by one; while the cut is judged they are taken as they came."""
    from conftest import FakeClock
    from test_log_cut import CUT, END_T, LINES, TIMES, cut

    reads = [BlockRead(TIMES[i], LINES[i] + b"\n") for i in range(len(LINES))]
    events: list[SourceEvent] = [*reads[:CUT], *cut("truncated"), *reads[CUT:]]
    together, one_by_one = (Session(Options(source="run.log"), FakeClock(END_T)) for _ in range(2))
    together.ingest(events[:CUT])
    together.ingest(events[CUT : CUT + 2])
    assert together._cut is not None
    assert list(together._reads_joined(events[CUT + 2 : CUT + 5])) == events[CUT + 2 : CUT + 5]
    together.ingest(events[CUT + 2 :])
    for event in events:
        one_by_one.ingest([event])
    assert together.snapshot(END_T).to_json() == one_by_one.snapshot(END_T).to_json()
