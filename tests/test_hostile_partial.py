"""A last line read before its newline came (a writer that flushes mid-line: python's block-
buffered stdout at 8192 bytes, tee) and completed later: the completed line is read whole, in
place of the cut one, which leaves no trace (no cut value, no line counted twice)."""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from logwriter import Collector, wait_for
from test_hostile import REAL_ANY, fingerprint, session

from monitor.inbox import BlockRead, LinesRead, PartialRead, SourceReset
from monitor.sources.stdin import StdinReader
from monitor.sources.tail import Follower

NANOCHAT = [
    b"step 00009/21400 (0.04%) | loss: 7.600000 | lrm: 1.00 | dt: 950.00ms | tok/sec: 276,000 | mfu: 48.00 | total time: 0.00m",
    b"step 00010/21400 (0.05%) | loss: 7.464324 | lrm: 1.00 | dt: 948.76ms | tok/sec: 276,300 | mfu: 48.78 | total time: 0.00m",
]
CUT_STEP = b"step 00011/21400 (0.05%) | loss: 5.500000 | lrm: 1.00 | dt: 9"
REST = b"00.00ms | tok/sec: 280,000 | mfu: 50.00 | total time: 1.00m"


def read(*events: object):
    s = session()
    s.ingest([LinesRead([(1.0, line) for line in NANOCHAT])])
    s.ingest(events)  # type: ignore[arg-type]
    return s


def test_a_step_line_completed_later_is_read_whole() -> None:
    s = read(PartialRead(2.0, CUT_STEP))
    cut = s.snapshot(3.0)
    assert (cut.iter, cut.mfu) == (11, 0.4878)  # the cut line shows while it is all there is
    s.ingest([LinesRead([(4.0, CUT_STEP + REST)])])
    whole = read(LinesRead([(4.0, CUT_STEP + REST)]))
    assert fingerprint(s) == fingerprint(whole)
    snap = s.snapshot(5.0)
    assert (snap.iter, snap.mfu) == (11, 0.5)
    assert s.state.lines == 3 and s.state.current.n_iters == 3


def test_a_line_that_grows_twice_then_ends() -> None:
    s = read(PartialRead(2.0, CUT_STEP), PartialRead(3.0, CUT_STEP + REST[:10]),
             BlockRead(4.0, CUT_STEP + REST + b"\n" + NANOCHAT[0].replace(b"00009", b"00012") + b"\n"))
    whole = read(BlockRead(4.0, CUT_STEP + REST + b"\n" + NANOCHAT[0].replace(b"00009", b"00012") + b"\n"))
    assert fingerprint(s) == fingerprint(whole)


def test_a_cut_error_line_names_the_whole_error_once() -> None:
    cut, rest = b"RuntimeError: CUDA out of mem", b"ory. Tried to allocate 2.00 GiB"
    s = read(LinesRead([(2.0, b"Traceback (most recent call last):"), (2.0, b'  File "train.py", line 3')]),
             PartialRead(3.0, cut))
    assert s.snapshot(4.0).error == cut.decode()
    s.ingest([LinesRead([(5.0, cut + rest)])])
    assert s.snapshot(6.0).error == (cut + rest).decode()
    assert [n.kind for n in s.state.current.notes].count("crash") == 1


def test_a_partial_line_stands_when_the_file_starts_over() -> None:
    s = read(PartialRead(2.0, CUT_STEP), SourceReset(), LinesRead([(3.0, NANOCHAT[0])]))
    assert s.state.runs[0].last_iter == 11  # the cut line was all the old file had: it stays


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(REAL_ANY), min_size=1, max_size=30), st.data())
def test_any_line_cut_anywhere_then_completed_reads_as_if_never_cut(lines: list[bytes], data: st.DataObject) -> None:
    last = lines[-1]
    cuts = sorted(data.draw(st.lists(st.integers(1, max(1, len(last))), max_size=3)))
    s, whole = session(), session()
    for x in (s, whole):
        for line in lines[:-1]:
            x.ingest([LinesRead([(1.0, line)])])
        x.snapshot(2.5)
    if cuts:
        s.ingest([PartialRead(2.0, last[:cut]) for cut in cuts])
        s.snapshot(2.5)  # the estimator folds the cut row in: the completion must undo that too
    for x in (s, whole):
        x.ingest([LinesRead([(3.0, last)])])
    assert repr(s.snapshot(4.0)) == repr(whole.snapshot(4.0))  # repr: NaN fields compare equal
    for x in (s, whole):
        for run in x.state.runs:
            run.estimator_state = run.folds = None  # caches of what was shown: compared through the snapshots
    assert fingerprint(s) == fingerprint(whole)


def test_the_follower_hands_a_settled_partial_line_as_provisional(tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    log.write_bytes(NANOCHAT[0] + b"\n")
    got, partial = Collector(), []
    f = Follower(str(log), got.lines, got.error, lambda: 1.0, safety_poll_s=0.05, partial_settle_s=0.05,
                 on_partial=lambda t, line: partial.append(line))
    f.start()
    try:
        wait_for(lambda: len(got.texts()) == 1, what="the first line")
        with log.open("ab") as w:
            w.write(CUT_STEP)
        wait_for(lambda: partial == [CUT_STEP], what="the settled partial line")
        with log.open("ab") as w:
            w.write(REST + b"\n")
        wait_for(lambda: len(got.texts()) == 2, what="the completed line")
    finally:
        f.stop()
    assert got.texts() == [NANOCHAT[0], CUT_STEP + REST]


def test_the_stdin_reader_hands_a_settled_partial_line_as_provisional() -> None:
    got, partial = Collector(), []
    read_fd, write_fd = os.pipe()
    reader = StdinReader(got.lines, got.error, lambda: 1.0, fd=read_fd, partial_settle_s=0.05,
                         on_partial=lambda t, line: partial.append(line))
    reader.start()
    os.write(write_fd, NANOCHAT[0] + b"\n" + CUT_STEP)
    wait_for(lambda: partial == [CUT_STEP], what="the settled partial line")
    os.write(write_fd, REST + b"\n")
    os.close(write_fd)
    wait_for(lambda: len(got.texts()) == 2, what="the completed line")
    os.close(read_fd)
    assert got.texts() == [NANOCHAT[0], CUT_STEP + REST]
