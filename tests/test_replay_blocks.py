"""`replay --once` reads the log by the block, each line at its own time (TimedLines.blocks,
Session.feed_timed): the same record as feeding it line by line, on every sample log, with the
block and the bulk reader's threshold small enough that both cut through every log."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import monitor.reading
import monitor.sources.replay
from monitor import offline
from monitor.core.report import Options
from monitor.inbox import LinesRead, TimedBlockRead
from monitor.session import Session
from monitor.sources.replay import Pacer, timed_lines

SAMPLES = Path(__file__).resolve().parent.parent / "sample_logs"
START_T = 1_790_000_000.0
#: Logs of at most this many lines (most of them: the line path is the slow one here).
MAX_LINES = 3000


def _logs() -> list[Path]:
    found = []
    for p in sorted(SAMPLES.rglob("*")):
        if p.is_file() and not p.name.endswith((".times", ".csv", ".json", ".md")):
            with p.open("rb") as f:
                if sum(1 for _ in f) <= MAX_LINES:
                    found.append(p)
    return found


LOGS = _logs()
TIMED = [p for p in LOGS if p.name == "run.log" and p.with_name("run.times").is_file()]


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks of 2 KiB, read in bulk from 16 lines on: every log is cut into many blocks, and
    the bulk reader starts and stops inside them."""
    monkeypatch.setattr(monitor.sources.replay, "REPLAY_BLOCK_BYTES", 2048)
    monkeypatch.setattr(monitor.sources.replay, "SCAN_MIN_LINES", 16)
    monkeypatch.setattr(monitor.reading, "SCAN_MIN_LINES", 16)


def _line_by_line(log: Path, times: str | None) -> str:
    """The record of feeding the log's lines one at a time, as `replay --jsonl` does."""
    session = Session(Options(source=str(log)), clock=lambda: START_T)
    t = START_T
    for t, line in timed_lines(str(log), times, START_T):
        session.ingest([LinesRead([(t, line)])])
    return session.snapshot(t).to_json()


def _by_block(log: Path, times: str | None) -> str:
    session = Session(Options(source=str(log)), clock=lambda: START_T)
    t = START_T
    for block, block_times in timed_lines(str(log), times, START_T).blocks():
        session.ingest([TimedBlockRead(block, block_times)])
        t = float(block_times[-1])
    return session.snapshot(t).to_json()


@pytest.mark.parametrize("log", LOGS, ids=lambda p: str(p.relative_to(SAMPLES)))
def test_a_paced_replay_by_the_block_is_the_replay_line_by_line(log: Path, small_blocks: None) -> None:
    assert _by_block(log, None) == _line_by_line(log, None)


@pytest.mark.parametrize("log", TIMED, ids=lambda p: str(p.relative_to(SAMPLES)))
def test_a_replay_with_recorded_times_by_the_block_is_the_replay_line_by_line(log: Path, small_blocks: None) -> None:
    times = str(log.with_name("run.times"))
    assert _by_block(log, times) == _line_by_line(log, times)


@pytest.mark.parametrize("log", LOGS[::10], ids=lambda p: str(p.relative_to(SAMPLES)))
def test_the_pacer_by_the_block_gives_every_line_the_time_paced_gives_it(log: Path, small_blocks: None) -> None:
    by_line = [t for t, _ in timed_lines(str(log), None, 0.0)]  # paced(), line by line
    by_block = np.concatenate([times for _, times in timed_lines(str(log), None, 0.0).blocks()] or [np.empty(0)])
    assert by_block.tolist() == by_line  # exactly: the same additions in the same order


def test_the_pacer_steps_over_unprinted_steps_at_the_typical_pace() -> None:
    """A step line after a gap in the counter moves the clock by its time and, for each step
    not printed, the median of the recent step times; a step going back adds its own time."""
    pacer = Pacer(100.0, "nanogpt")
    lines = [b"iter 0: loss 4.0, time 5000.00ms, mfu -100.00%",  # the first step: its own time
             b"iter 1: loss 3.9, time 100.00ms, mfu 10.00%",
             b"iter 2: loss 3.8, time 300.00ms, mfu 10.00%",
             b"iter 5: loss 3.7, time 200.00ms, mfu 10.00%",  # 3 steps: 0.2 + 2 x median(0.1, 0.3, 0.2)
             b"saving checkpoint",
             b"iter 3: loss 3.9, time 50.00ms, mfu 10.00%"]  # back: a new process
    times = [pacer.line(line) for line in lines]
    assert times == pytest.approx([105.0, 105.1, 105.4, 106.0, 106.0, 106.05])


def test_replay_once_reads_by_the_block_and_says_what_the_line_path_says(capsys, small_blocks: None) -> None:
    """The command, `replay LOG --speed 0 --once --json`, with its options and alerts: the
    record of the same session fed line by line."""
    from monitor.cli import build_parsers

    log = SAMPLES / "recorded" / "compiled" / "run.log"
    args = build_parsers()[1].parse_args([str(log), "--speed", "0", "--once", "--json", "--no-gpu", "--price", "0.3"])
    offline.replay(args, clock=lambda: START_T)
    once = capsys.readouterr().out.splitlines()
    session = offline.new_session(args, lambda: START_T)
    t = START_T
    for t, line in timed_lines(str(log), None, START_T):
        session.ingest([LinesRead([(t, line)])])
    assert len(once) == 1 and json.loads(once[0])["iter"] is not None
    assert once[0] == session.snapshot(t).to_json()
