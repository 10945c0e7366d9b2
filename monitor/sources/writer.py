"""The process writing a followed log, watched through /proc: said when it is found and when it
has exited, so that a run killed without a traceback (SIGTERM, SIGKILL) is known at once.

ADAPTERS ring: no textual. Live logs on this host only (not stdin, not a replay).
"""

from __future__ import annotations

import math
import os
import select
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from monitor.sources.problems import Guard, LoopFailed
from monitor.sources.procs import stat_fields, writers_of

#: Known writers are looked at this often (one stat per process).
WATCH_S = 1.0
#: Until a writer is found, /proc is scanned for one after this long, then twice as long each
#: time up to SCAN_MAX_S (a scan reads every process's open files).
SCAN_FIRST_S = 2.0
SCAN_MAX_S = 60.0
#: A /proc scan this recent (s) answers for every log it looked for: the watches of many logs
#: share their scans (200 logs scanning each on their own took a quarter of a core).
SCAN_FRESH_S = 1.0


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


class WriterScan:
    """The writers of every log a process watches, found by one /proc scan for all of them
    (procs.writers_of): a scan at most SCAN_FRESH_S old that looked for a log answers for it.
    Thread-safe: watches asking while a scan runs wait for it and take its answer."""

    def __init__(self, proc_root: str = "/proc", clock: Callable[[], float] = time.monotonic) -> None:
        self._proc_root, self._clock = proc_root, clock
        self._lock = threading.Lock()
        self._targets: set[str] = set()
        self._scanned: frozenset[str] = frozenset()
        self._found: dict[str, set[int]] = {}
        self._at = -math.inf

    def writers(self, log_path: str) -> set[int]:
        """The processes holding `log_path` open for writing (procs.writer_pids)."""
        try:
            target = os.path.realpath(log_path)
        except OSError:
            return set()
        with self._lock:
            self._targets.add(target)
            now = self._clock()
            if target not in self._scanned or now - self._at >= SCAN_FRESH_S:
                self._found = writers_of(self._targets, self._proc_root)
                self._scanned, self._at = frozenset(self._targets), now
            return set(self._found.get(target, ()))


_SCANS: dict[str, WriterScan] = {}
_SCANS_LOCK = threading.Lock()


def shared_scan(proc_root: str = "/proc") -> WriterScan:
    """The one WriterScan of this process for `proc_root`."""
    with _SCANS_LOCK:
        return _SCANS.setdefault(proc_root, WriterScan(proc_root))


def exit_fd(pid: int) -> int | None:
    """A descriptor that turns readable when process `pid` exits (pidfd_open(2), Linux 5.3+), or
    None where there is none (another system, an old kernel, a sandbox, the process gone)."""
    pidfd_open = getattr(os, "pidfd_open", None)
    if pidfd_open is None:
        return None
    try:
        return int(pidfd_open(pid))
    except OSError:
        return None


def process_alive(pid: int, proc_root: str = "/proc") -> bool:
    """The process exists and is not a zombie (a zombie has exited and closed its files)."""
    fields = stat_fields(pid, proc_root)
    return fields is not None and fields[:1] != ["Z"] and fields[:1] != ["X"]


class WriterWatch:
    """Finds the processes writing `log_path` (`find`) and tells `on_event` when they are
    found and when all of them have exited (`alive`); `tick()` is one look. Started, it is
    looked at by the process's one WatchLoop thread (shared by every log's watch): every
    WATCH_S, or, once writers are found and `exit_fd` gives a descriptor for each (exit_fd()),
    when one of them exits. A process that closes the log but lives on (it may reopen it for
    the next line) has not exited. After an exit, a new writer (the run resumed) is looked for
    again."""

    def __init__(self, find: Callable[[], set[int]], alive: Callable[[int], bool], clock: Callable[[], float],
                 on_event: Callable[[WriterEvent], None], on_error: Callable[[LoopFailed], None],
                 exit_fd: Callable[[int], int | None] | None = None, loop: WatchLoop | None = None) -> None:
        self.find, self.alive, self.clock = find, alive, clock
        self._exit_fd = exit_fd
        self._exit_fds: dict[int, int | None] = {}  # a writer's pid -> its exit descriptor
        self._fds: list[int] = []  # the writers' exit descriptors the loop waits on
        self._woke: set[int] = set()  # writers whose descriptor woke the loop
        self.on_event = on_event
        self._writers: set[int] = set()
        self._first: int | None = None
        self._scan_at: float | None = None  # None: scan at the next tick
        self._scan_s = SCAN_FIRST_S
        self._guard = Guard("log writer watch", on_error)
        self._loop = WATCH_LOOP if loop is None else loop

    @classmethod
    def of(cls, log_path: str, clock: Callable[[], float], on_event: Callable[[WriterEvent], None],
           on_error: Callable[[LoopFailed], None], proc_root: str = "/proc") -> WriterWatch:
        scan = shared_scan(proc_root)
        return cls(lambda: scan.writers(log_path), lambda pid: process_alive(pid, proc_root), clock,
                   on_event, on_error, exit_fd=exit_fd if proc_root == "/proc" else None)

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
        self._loop.add(self)

    def stop(self, timeout_s: float = 5.0) -> None:
        """No more looks; its descriptors are closed (by the loop's thread, which may be
        waiting on them) before this returns, or `timeout_s` passes."""
        self._loop.remove(self, timeout_s)

    def _look(self) -> None:
        """One look, on the loop's thread; a look that raises is said, and the next one tried."""
        self._fds = []
        self._guard.run(self._look_once)

    def _look_once(self) -> None:
        self.tick()
        self._fds = self._writers_exit_fds()

    def _writers_exit_fds(self) -> list[int]:
        """An exit descriptor for every writer now known (kept from look to look), or none
        when there are no writers or one of them has none (then it is looked at every WATCH_S).
        A descriptor that woke the loop while the look still finds its writer alive is not
        waited on again (it would wake the loop at once, again and again): polled instead."""
        for pid in [pid for pid in self._exit_fds if pid not in self._writers or pid in self._woke]:
            self._close_exit_fd(pid)
            if pid in self._writers:
                self._exit_fds[pid] = None
        self._woke = set()
        if not self._writers or self._exit_fd is None:
            return []
        for pid in self._writers - self._exit_fds.keys():
            self._exit_fds[pid] = self._exit_fd(pid)
        fds = [self._exit_fds[pid] for pid in self._writers]
        return [] if None in fds else [fd for fd in fds if fd is not None]

    def _exited(self, ready: set[int]) -> None:
        """The writers whose descriptors said they exited (the next look reads them)."""
        self._woke = {pid for pid, fd in self._exit_fds.items() if fd is not None and fd in ready}

    def _close_exit_fd(self, pid: int) -> None:
        fd = self._exit_fds.pop(pid)
        if fd is not None:
            os.close(fd)

    def _closed(self) -> None:
        """Stopped: its descriptors closed (on the loop's thread)."""
        for pid in list(self._exit_fds):
            self._close_exit_fd(pid)
        self._fds = []


def readable(fds: list[int], timeout_s: float | None) -> set[int]:
    """The descriptors of `fds` that are readable or hung up within `timeout_s` seconds (None:
    until one is). poll(2), not select(2): select cannot take a descriptor numbered 1024 or
    more (FD_SETSIZE), which a process following hundreds of logs reaches."""
    poller = select.poll()
    for fd in fds:
        poller.register(fd, select.POLLIN)
    return {fd for fd, _ in poller.poll(None if timeout_s is None else timeout_s * 1000.0)}


class WatchLoop:
    """One thread for the writer watches of every followed log (a thread a log, sleeping, was
    half the threads of `nanowatch` over 200 logs): it looks at each started watch when its
    look is due (WATCH_S after the last, or at once when one of its writers' exit descriptors
    turns readable) and sleeps in one poll over all their descriptors between (readable). The thread
    ends with the last watch; the next start makes another."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._due: dict[WriterWatch, float] = {}  # a started watch -> when it is looked at next
        self._leaving: dict[WriterWatch, threading.Event] = {}  # stopped, their descriptors still open
        self._wake: tuple[int, int] | None = None  # the pipe add and remove write to (while running)
        self._guard = Guard("log writer watches", self._tell_all)
        self.thread: threading.Thread | None = None

    def add(self, watch: WriterWatch) -> None:
        with self._lock:
            self._due[watch] = -math.inf
            if self.thread is None:
                self._wake = os.pipe()
                self.thread = threading.Thread(target=self._run, args=(self._wake,), name="nanowatch-writers",
                                               daemon=True)
                self.thread.start()
            else:
                self._poke()

    def remove(self, watch: WriterWatch, timeout_s: float) -> None:
        with self._lock:
            if watch not in self._due or self.thread is None:
                return
            done = self._leaving.setdefault(watch, threading.Event())
            self._poke()
        done.wait(timeout_s)

    def _poke(self) -> None:
        if self._wake is not None:
            os.write(self._wake[1], b"x")

    def _run(self, wake: tuple[int, int]) -> None:
        try:
            while (due := self._turn()) is not None:
                # each look is guarded by its watch; a wait that raises is told to every watch
                if not self._guard.run(lambda: self._wait(due, wake[0])):
                    time.sleep(WATCH_S)
        finally:
            os.close(wake[0])
            os.close(wake[1])

    def _tell_all(self, problem: LoopFailed) -> None:
        with self._lock:
            watches = list(self._due)
        for watch in watches:
            watch._guard.on_error(problem)

    def _turn(self) -> dict[WriterWatch, float] | None:
        """Drops the stopped watches and looks at those due; what each waits for next, or
        None (the thread ends) when no watch is left."""
        with self._lock:
            for watch, done in self._leaving.items():
                self._due.pop(watch, None)
                watch._closed()
                done.set()
            self._leaving.clear()
            if not self._due:
                self.thread, self._wake = None, None
                return None
            due = dict(self._due)
        now = self._monotonic()
        for watch, at in due.items():
            if at <= now:
                watch._look()  # guarded inside: a look that raises is said, and the next one tried
                due[watch] = math.inf if watch._fds else now + WATCH_S
        with self._lock:
            for watch, at in due.items():
                if watch in self._due:
                    self._due[watch] = at
        return due

    def _wait(self, due: dict[WriterWatch, float], wake_fd: int) -> None:
        """Sleeps until the next look is due, a writer exits, or a watch comes or goes."""
        owner = {fd: watch for watch in due for fd in watch._fds}
        soonest = min(due.values())
        timeout = None if soonest == math.inf else max(0.0, soonest - self._monotonic())
        ready = readable([wake_fd, *owner], timeout)
        if wake_fd in ready:
            os.read(wake_fd, 4096)
        woke: dict[WriterWatch, set[int]] = {}
        for fd in ready & owner.keys():
            woke.setdefault(owner[fd], set()).add(fd)
        with self._lock:
            for watch, fds in woke.items():
                watch._exited(fds)
                if watch in self._due:
                    self._due[watch] = -math.inf


#: The process's one loop for its writer watches.
WATCH_LOOP = WatchLoop()
