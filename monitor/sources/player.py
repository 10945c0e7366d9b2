"""Play timed log lines (from monitor.sources.replay.timed_lines) in a thread, at a speed, as if live.

ADAPTER ring: a plain object with callbacks, like the file follower; imports no textual.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from functools import partial

from monitor.sources.problems import Guard, LoopFailed

OnLines = Callable[[list[tuple[float | None, bytes]]], None]

#: Lines due within this many real seconds are delivered in one call (fewer wake-ups).
BATCH_S = 0.05
#: At speed 0 (as fast as possible), lines go out in chunks of this size.
CHUNK_LINES = 2000
#: The longest single wait of a paced replay (s): threading's waits and time.sleep refuse more
#: than ~292 years (threading.TIMEOUT_MAX), and a recording's times may be centuries apart (1970
#: to 2286); a longer gap is waited for by the day.
LONGEST_WAIT_S = 86400.0


class Player:
    """Delivers `(t, line)` items to `on_lines` when their time comes, `speed` times faster
    than they were written; speed 0 delivers everything at once. Its `now()` is the
    recording's clock, so a Session built on it sees the times the lines were written.
    A delivery that raises reaches `on_error` as a LoopFailed, and the playback goes on."""

    def __init__(
        self,
        items: Sequence[tuple[float, bytes]],
        speed: float,
        on_lines: OnLines,
        on_error: Callable[[LoopFailed], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.items = items
        self.speed = speed
        self.on_lines = on_lines
        self.clock = clock
        # a batch whose delivery raises is said once; the playback goes on with the next
        self._guard = Guard("replay player", on_error)
        #: a replay has no file being written (the follower's file age)
        self.mtime: float | None = None
        self.t0 = items[0][0] if items else 0.0
        self.t_end = items[-1][0] if items else 0.0
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._stopped = False
        self._paused_at: float | None = None
        self._paused_total_s = 0.0
        self._started_at: float | None = None
        self._delivered = 0
        self._thread = threading.Thread(target=self._play, name="nanowatch-player", daemon=True)

    # --- control, from any thread ---

    def start(self) -> None:
        with self._lock:
            self._started_at = self.clock()
        self._thread.start()

    def stop(self) -> None:
        with self._wake:
            self._stopped = True
            self._wake.notify_all()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=1.0)

    def set_paused(self, paused: bool) -> None:
        with self._wake:
            if paused and self._paused_at is None:
                self._paused_at = self.clock()
            elif not paused and self._paused_at is not None:
                self._paused_total_s += self.clock() - self._paused_at
                self._paused_at = None
            self._wake.notify_all()

    @property
    def done(self) -> bool:
        with self._lock:
            return self._delivered >= len(self.items)

    def now(self) -> float:
        """The recording's time at this moment of the playback (held while paused and
        after the last line: nothing is known about what came after the recording)."""
        with self._lock:
            if self.speed <= 0 or self._started_at is None:
                return self.items[self._delivered - 1][0] if self._delivered else self.t0
            return min(self.t_end, self.t0 + self._played_s() * self.speed)

    # --- the playing thread ---

    def _played_s(self) -> float:
        """Real seconds of playback so far, pauses left out (call with the lock held)."""
        assert self._started_at is not None
        now = self._paused_at if self._paused_at is not None else self.clock()
        return max(0.0, now - self._started_at - self._paused_total_s)

    def _play(self) -> None:
        n = len(self.items)
        while True:
            with self._wake:
                if self._stopped or self._delivered >= n:
                    return
                if self._paused_at is not None:
                    self._wake.wait()
                    continue
                start = self._delivered
                if self.speed <= 0:
                    end = min(n, start + CHUNK_LINES)
                else:
                    horizon = self.t0 + (self._played_s() + BATCH_S) * self.speed
                    end = start
                    while end < n and self.items[end][0] <= horizon:
                        end += 1
                    if end == start:
                        delay = (self.items[start][0] - self.t0) / self.speed - self._played_s()
                        self._wake.wait(timeout=min(max(delay, 0.001), LONGEST_WAIT_S))
                        continue
                self._delivered = end
            batch: list[tuple[float | None, bytes]] = list(self.items[start:end])
            self._guard.run(partial(self.on_lines, batch))
