"""A replay of a long log streams it: records come out while most of the log is still unread,
and the TUI's player holds the lines packed, not as a list of tuples."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
from conftest import SAMPLES

import monitor.sources.replay as replay_module
from monitor.cli import build_parsers
from monitor.offline import replay
from monitor.sources.logfile import LogError
from monitor.sources.replay import PackedLines, read_times, timed_lines

RECORDED = SAMPLES / "recorded" / "compiled"


def _log(tmp_path: Path, steps: int) -> Path:
    log = tmp_path / "run.log"
    log.write_text("".join(f"iter {i}: loss {4 - i / steps:.4f}, time 100.00ms, mfu 30.00%\n" for i in range(steps)))
    return log


class _FirstRecord(io.StringIO):
    """stdout that notes how many log lines had been read when the first record was written."""

    def __init__(self, pulled: list[int]) -> None:
        super().__init__()
        self.pulled, self.at_first = pulled, None

    def write(self, text: str) -> int:
        if self.at_first is None:
            self.at_first = self.pulled[0]
        return super().write(text)


@pytest.mark.parametrize("times", [False, True])
def test_a_replay_writes_records_before_it_has_read_the_log(tmp_path: Path, monkeypatch, times: bool) -> None:
    steps = 5000
    log = _log(tmp_path, steps)
    argv = [str(log), "--speed", "0", "--jsonl", "--no-gpu"]
    if times:
        (tmp_path / "run.times").write_text("".join(f"{1.8e9 + i * 0.1:.1f}\n" for i in range(steps)))
        argv += ["--times", str(tmp_path / "run.times")]
    pulled = [0]
    real = replay_module.iter_lines

    def counted(path: str, stdin_hint: bool = True):
        for line in real(path, stdin_hint):
            if path == str(log):
                pulled[0] += 1
            yield line

    monkeypatch.setattr(replay_module, "iter_lines", counted)
    out = _FirstRecord(pulled)
    monkeypatch.setattr("sys.stdout", out)
    args = build_parsers()[1].parse_args(argv)
    assert replay(args, clock=lambda: 1.8e9) == 0
    records = out.getvalue().splitlines()
    assert len(records) == steps  # every line changed the run, none was dropped
    # recorded times count the log's lines first (a pass that keeps nothing), then stream
    assert out.at_first is not None and out.at_first - (steps if times else 0) <= 2


def test_packed_lines_are_the_items() -> None:
    items = list(timed_lines(str(RECORDED / "run.log"), str(RECORDED / "run.times"), 0.0))
    packed = PackedLines(timed_lines(str(RECORDED / "run.log"), str(RECORDED / "run.times"), 0.0))
    assert len(packed) == len(items) and list(packed) == items
    assert packed[-1] == items[-1] and packed[3:7] == items[3:7] and packed[:0] == []
    with pytest.raises(IndexError):
        packed[len(items)]


def test_timed_lines_can_be_played_twice_and_know_their_recorded_span() -> None:
    timeline = timed_lines(str(RECORDED / "run.log"), str(RECORDED / "run.times"), 0.0)
    first, again = list(timeline), list(timeline)
    assert first == again and timeline.span == (first[0][0], first[-1][0])
    assert timed_lines(str(RECORDED / "run.log"), None, 0.0).span is None


def test_a_times_file_longer_than_its_log_is_checked_to_its_end(tmp_path: Path) -> None:
    times = tmp_path / "run.times"
    times.write_text("1800000000.0\n1800000001.0\nsoon\n")
    with pytest.raises(LogError, match="run.times:3: not a time in epoch seconds"):
        read_times(str(times), 2)
    times.write_text("1800000000.0\n1800000001.0\n1800000002.0\n")
    assert list(read_times(str(times), 2)) == [1800000000.0, 1800000001.0]
    with pytest.raises(LogError, match="3 times for 4 log lines"):
        read_times(str(times), 4)


def test_times_centuries_apart_are_waited_for_by_the_day(tmp_path: Path, capsys) -> None:
    """1970 and 2286 are both times a --times file may give: the gap between them was past what
    one sleep can take (OverflowError, a traceback); it is slept in steps of at most a day."""
    log = _log(tmp_path, 4)
    times = tmp_path / "run.times"
    times.write_text("100000\n100001\n9900000000\n9900000001\n")
    _, parser, _ = build_parsers()
    slept: list[float] = []
    now = [1_800_000_000.0]

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    args = parser.parse_args([str(log), "--times", str(times), "--jsonl", "--no-gpu"])
    assert replay(args, clock=lambda: now[0], sleep=sleep) == 0
    assert max(slept) == 86400.0 and sum(slept) == pytest.approx(9_900_000_001 - 100_000)
    assert capsys.readouterr().out.count("\n") == 4


def test_the_tuis_player_waits_out_a_gap_of_centuries_without_failing() -> None:
    from monitor.sources.player import Player
    from monitor.sources.problems import LoopFailed

    failures: list[LoopFailed] = []
    got: list[bytes] = []
    player = Player([(100000.0, b"a\n"), (9.9e9, b"b\n")], 1.0, lambda batch: got.extend(l for _, l in batch),
                    failures.append)
    player.start()
    thread = player._thread
    try:
        deadline = time.monotonic() + 30
        while not got and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)  # the player is now waiting for the line 300 years on
        assert got == [b"a\n"] and failures == [] and thread is not None and thread.is_alive()
    finally:
        player.stop()
