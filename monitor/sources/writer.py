"""The process writing a followed log, watched through /proc: said when it is found and when it
has exited, so that a run killed without a traceback (SIGTERM, SIGKILL) is known at once.

ADAPTERS ring: no textual. Live logs on this host only (not stdin, not a replay).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from monitor.sources.problems import Guard, LoopFailed
from monitor.sources.procs import stat_fields, writer_pids

#: Known writers are looked at this often (one stat per process).
WATCH_S = 1.0
#: Until a writer is found, /proc is scanned for one after this long, then twice as long each
#: time up to SCAN_MAX_S (a scan reads every process's open files).
SCAN_FIRST_S = 2.0
SCAN_MAX_S = 60.0


@dataclass(frozen=True, slots=True)
class WriterFound:
    """Processes holding the log open for writing were found at `t` (epoch s)."""

    pids: tuple[int, ...]
    t: float


@dataclass(frozen=True, slots=True)
class WriterExited:
    """Every process found writing the log has exited; `pid` is the first one found, `t` when
    that was seen (epoch s)."""

    pid: int
    t: float


WriterEvent = WriterFound | WriterExited


def process_alive(pid: int, proc_root: str = "/proc") -> bool:
    """The process exists and is not a zombie (a zombie has exited and closed its files)."""
    fields = stat_fields(pid, proc_root)
    return fields is not None and fields[:1] != ["Z"] and fields[:1] != ["X"]


class WriterWatch:
    """Finds the processes writing `log_path` (`find`) and tells `on_event` when they are
    found and when all of them have exited (`alive`); `tick()` is one look, `start()` runs
    it every WATCH_S on a daemon thread. A process that closes the log but lives on (it may
    reopen it for the next line) has not exited. After an exit, a new writer (the run
    resumed) is looked for again."""

    def __init__(self, find: Callable[[], set[int]], alive: Callable[[int], bool], clock: Callable[[], float],
                 on_event: Callable[[WriterEvent], None], on_error: Callable[[LoopFailed], None]) -> None:
        self.find, self.alive, self.clock = find, alive, clock
        self.on_event = on_event
        self._writers: set[int] = set()
        self._first: int | None = None
        self._scan_at: float | None = None  # None: scan at the next tick
        self._scan_s = SCAN_FIRST_S
        self._guard = Guard("log writer watch", on_error)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="nanowatch-writer", daemon=True)

    @classmethod
    def of(cls, log_path: str, clock: Callable[[], float], on_event: Callable[[WriterEvent], None],
           on_error: Callable[[LoopFailed], None], proc_root: str = "/proc") -> WriterWatch:
        return cls(lambda: writer_pids(log_path, proc_root), lambda pid: process_alive(pid, proc_root), clock,
                   on_event, on_error)

    def tick(self) -> None:
        now = self.clock()
        if self._writers:
            self._writers = {pid for pid in self._writers if self.alive(pid)}
            if not self._writers and self._first is not None:
                self.on_event(WriterExited(self._first, now))
                self._first, self._scan_at, self._scan_s = None, now + SCAN_FIRST_S, SCAN_FIRST_S
            return
        if self._scan_at is not None and now < self._scan_at:
            return
        found = self.find()
        if found:
            self._writers, self._first = found, min(found)
            self.on_event(WriterFound(tuple(sorted(found)), now))
            return
        if self._scan_at is not None:
            self._scan_s = min(SCAN_MAX_S, 2 * self._scan_s)
        self._scan_at = now + self._scan_s

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._guard.run(self.tick)  # a look that raises is said, and the next one tried
            self._stop.wait(WATCH_S)
