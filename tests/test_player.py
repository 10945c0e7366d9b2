"""The replay player: lines go out in order when the recording's clock reaches them, the
clock holds while paused and after the last line; speed 0 plays everything at once."""

from __future__ import annotations

import threading
import time

import pytest
from conftest import FakeClock

from monitor.sources.player import Player
from monitor.sources.problems import LoopFailed

ITEMS = [(1000.0 + i, f"line {i}".encode()) for i in range(10)]  # one line a second


class Collector:
    def __init__(self) -> None:
        self.batches: list[list[tuple[float | None, bytes]]] = []
        self.changed = threading.Condition()

    def __call__(self, batch: list[tuple[float | None, bytes]]) -> None:
        with self.changed:
            self.batches.append(batch)
            self.changed.notify_all()

    @property
    def lines(self) -> list[bytes]:
        return [line for batch in self.batches for _, line in batch]

    def wait_for(self, n: int, timeout_s: float = 30.0) -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.lines) >= n, timeout_s), self.lines


@pytest.fixture
def failures():
    """What the player reported through on_error: nothing, unless a test says otherwise."""
    got: list[LoopFailed] = []
    yield got
    assert got == []


def settle() -> None:
    """Give the player's thread a moment to act on a clock that did not move (nothing must come)."""
    time.sleep(0.05)


def test_speed_0_plays_everything_in_order(failures: list[LoopFailed]) -> None:
    got = Collector()
    player = Player(ITEMS, 0, got, failures.append)
    player.start()
    got.wait_for(len(ITEMS))
    player.stop()
    assert got.lines == [line for _, line in ITEMS]
    assert player.done and player.now() == ITEMS[-1][0]


def test_lines_come_when_the_recording_clock_reaches_them(failures: list[LoopFailed]) -> None:
    clock = FakeClock(0.0)
    got = Collector()
    player = Player(ITEMS, 2.0, got, failures.append, clock=clock)
    assert player.now() == 1000.0  # before the start: the recording's first moment
    player.start()
    got.wait_for(1)
    settle()
    assert got.lines == [b"line 0"]
    clock.advance(1.0)  # 2 s of recording at speed 2
    got.wait_for(3)
    settle()
    assert got.lines == [b"line 0", b"line 1", b"line 2"]
    assert player.now() == 1002.0
    clock.advance(100.0)
    got.wait_for(len(ITEMS))
    assert player.now() == ITEMS[-1][0]  # held at the end of the recording
    player.stop()


def test_pause_holds_the_clock_and_the_lines(failures: list[LoopFailed]) -> None:
    clock = FakeClock(0.0)
    got = Collector()
    player = Player(ITEMS, 1.0, got, failures.append, clock=clock)
    player.start()
    got.wait_for(1)
    player.set_paused(True)
    clock.advance(5.0)
    settle()
    assert got.lines == [b"line 0"] and player.now() == 1000.0
    player.set_paused(False)
    clock.advance(1.0)  # only the time after the pause counts
    got.wait_for(2)
    settle()
    assert got.lines == [b"line 0", b"line 1"] and player.now() == 1001.0
    player.stop()


def test_stop_ends_the_thread_midway(failures: list[LoopFailed]) -> None:
    clock = FakeClock(0.0)
    got = Collector()
    player = Player(ITEMS, 1.0, got, failures.append, clock=clock)
    player.start()
    got.wait_for(1)
    player.stop()
    clock.advance(100.0)
    settle()
    assert got.lines == [b"line 0"]
    assert not player.done


def test_a_delivery_that_raises_is_said_and_the_playback_goes_on() -> None:
    got = Collector()
    reported: list[LoopFailed] = []

    def on_lines(batch: list[tuple[float | None, bytes]]) -> None:
        if batch[0][1] == b"line 0":
            raise ValueError("a consumer bug")
        got(batch)

    clock = FakeClock(0.0)
    player = Player(ITEMS, 2.0, on_lines, reported.append, clock=clock)
    player.start()
    clock.advance(1.0)  # line 0 failed; lines 1 and 2 still come
    got.wait_for(2)
    player.stop()
    assert reported == [LoopFailed("replay player", "ValueError: a consumer bug")]
    assert got.lines[:2] == [b"line 1", b"line 2"]
