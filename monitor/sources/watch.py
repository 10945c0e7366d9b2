"""Wake a file's reader when its directory changes (Linux inotify, read on the reader's own
thread; elsewhere, or with `--poll` for NFS, watchdog's observers), re-arming the watch when
the directory goes and comes back.

ADAPTER ring: inotify_simple, watchdog; no textual. The reader (sources/tail.py) still
re-checks on a timer: a missed event never loses data.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import sys
import threading
import time
from collections.abc import Callable, Iterator

from watchdog.events import (
    DirDeletedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver, ObservedWatch
from watchdog.observers.polling import PollingObserverVFS

if sys.platform == "linux":  # a dependency on Linux only: inotify(7) is Linux's
    from inotify_simple import INotify, flags

    #: the changes that concern a followed file in a watched directory
    _FILE_MASK = flags.MODIFY | flags.CLOSE_WRITE | flags.MOVED_FROM | flags.MOVED_TO | flags.CREATE | flags.DELETE
    #: the watched directory itself deleted or moved, or its watch removed
    _DIR_GONE = flags.DELETE_SELF | flags.MOVE_SELF | flags.IGNORED

_EVENTS = [FileModifiedEvent, FileCreatedEvent, FileDeletedEvent, FileMovedEvent, FileClosedEvent, DirDeletedEvent]
#: Watches that read an inotify instance of their own on their reader's thread (no other thread
#: woken by a line); the watches beyond share one instance (SharedINotify). A user has 128
#: instances in all (fs.inotify.max_user_instances): 200 logs took them all, and ~70 polled.
OWN_INOTIFY_MAX = 4
_own_inotify = [0]  # watches holding an instance of their own
_own_lock = threading.Lock()


class SharedINotify:
    """One inotify instance for the watches of a process beyond the first OWN_INOTIFY_MAX, read
    on a thread of its own that wakes the watches an event concerns (a directory watched once
    for all the logs in it). OSError when no instance can be made."""

    def __init__(self) -> None:
        self._inotify = INotify()
        self._lock = threading.Lock()
        self._subs: dict[int, dict[DirWatch, frozenset[str]]] = {}  # wd -> watch -> its names there
        threading.Thread(target=self._loop, name="nanowatch-inotify", daemon=True).start()

    def add(self, watch: DirWatch, directory: str, names: frozenset[str]) -> int:
        """Watch `directory` for `watch` (its files `names`); the watch descriptor. OSError as add_watch."""
        with self._lock:
            wd: int = self._inotify.add_watch(directory, _FILE_MASK | _DIR_GONE | flags.ONLYDIR)
            self._subs.setdefault(wd, {})[watch] = names
            return wd

    def watching(self, watch: DirWatch, wd: int) -> bool:
        with self._lock:
            return watch in self._subs.get(wd, {})

    def remove(self, watch: DirWatch, wd: int) -> None:
        """`watch` no longer watches `wd`'s directory (the last one out removes the watch)."""
        with self._lock:
            subs = self._subs.get(wd, {})
            subs.pop(watch, None)
            if not subs and self._subs.pop(wd, None) is not None:
                with contextlib.suppress(OSError):  # the directory went: its watch went with it
                    self._inotify.rm_watch(wd)

    def _loop(self) -> None:
        while True:
            try:
                events = self._inotify.read()
            except OSError as e:  # the safety poll of every reader still reads every change
                with self._lock:
                    watches = {w for subs in self._subs.values() for w in subs}
                for watch in watches:
                    watch.lost(f"file-system events stopped ({e.strerror or e}); checking every {watch.safety_poll_s:g} s")
                return
            self._dispatch(events)

    def _dispatch(self, events: list[tuple[int, int, int, str]]) -> None:
        woken: set[DirWatch] = set()
        with self._lock:
            for wd, mask, _, name in events:
                if mask & flags.Q_OVERFLOW:  # events were lost: every reader looks at its file
                    woken.update(w for subs in self._subs.values() for w in subs)
                elif mask & _DIR_GONE:
                    for watch in self._subs.pop(wd, {}):
                        watch.dir_gone(wd)
                        woken.add(watch)
                    if mask & flags.MOVE_SELF:  # moved, not deleted: the kernel keeps its watch
                        with contextlib.suppress(OSError):
                            self._inotify.rm_watch(wd)
                else:
                    woken.update(w for w, names in self._subs.get(wd, {}).items() if name in names)
        for watch in woken:
            watch.wake()


_shared: list[SharedINotify] = []
_shared_lock = threading.Lock()


def shared_inotify() -> SharedINotify:
    """The process's SharedINotify, made at first use (OSError when it cannot be)."""
    with _shared_lock:
        if not _shared:
            _shared.append(SharedINotify())
        return _shared[0]


def _take_own_inotify() -> bool:
    with _own_lock:
        if _own_inotify[0] >= OWN_INOTIFY_MAX:
            return False
        _own_inotify[0] += 1
        return True


def _give_own_inotify() -> None:
    with _own_lock:
        _own_inotify[0] -= 1


class _Entry:
    """The part of a directory entry watchdog's polling snapshot reads: its name."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


class _Wake(FileSystemEventHandler):
    """Turns watchdog events about our file into a wake-up of the reader thread."""

    def __init__(self, names: set[str], wake: threading.Event, on_dir_gone: Callable[[str], None]) -> None:
        self._names = names
        self._wake = wake
        self._on_dir_gone = on_dir_gone

    def dispatch(self, event: FileSystemEvent) -> None:
        if isinstance(event, DirDeletedEvent):
            self._on_dir_gone(os.fsdecode(event.src_path))
            self._wake.set()
            return
        dest = getattr(event, "dest_path", "")
        if os.path.basename(os.fsdecode(event.src_path)) in self._names or (
            dest and os.path.basename(os.fsdecode(dest)) in self._names
        ):
            self._wake.set()


class DirWatch:
    """Wakes the reader of `path` (`wait` returns) when the directory of `path` (and of its
    symlink target) changes for our file, when `wake` is called, or when the wait times out."""

    def __init__(self, path: str, say: Callable[[str], None], *, poll: bool, poll_interval_s: float,
                 safety_poll_s: float) -> None:
        self.path, self._say = path, say
        self.poll, self.poll_interval_s, self.safety_poll_s = poll, poll_interval_s, safety_poll_s
        self._wake = threading.Event()
        # inotify, read on the reader's own thread: watchdog's inotify observer reads through
        # three threads, each woken by every write to the log (~0.5% of a core at 10 lines/s).
        self._inotify: INotify | None = None
        self._wake_r, self._wake_w = -1, -1  # a pipe that interrupts an inotify wait
        self._wds: dict[int, tuple[str, frozenset[str]]] = {}  # inotify: wd -> (directory, our names in it)
        self._observer: BaseObserver | None = None
        self._watches: dict[str, ObservedWatch] = {}
        self._lock = threading.Lock()
        self._gone: set[str] = set()
        self._targets_now: dict[str, set[str]] | None = None
        self._own = False  # holds one of the OWN_INOTIFY_MAX instances of its own
        self._shared: SharedINotify | None = None
        self._shared_wds: dict[str, int] = {}  # shared: directory -> its watch descriptor

    def start(self) -> str | None:
        """Start watching; a notice when it had to fall back to polling."""
        if self.poll:
            self._observer = self._start_observer(True)
            return None
        try:
            if sys.platform != "linux":
                self._observer = self._start_observer(False)
            elif _take_own_inotify():
                self._own = True
                self._inotify = INotify()
                self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
            else:
                self._shared = shared_inotify()
        except OSError as e:  # no inotify instance or pipe left (EMFILE), or none at all (ENOSYS)
            if self._inotify is not None:  # the instance came, its wake pipe did not: poll without it
                self._inotify.close()
                self._inotify = None
            self._give_back_own()
            self._observer = self._start_observer(True)
            return f"no file-system events ({e.strerror or e}): polling {self.path} instead"
        return None

    def stop(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
        if self._inotify is not None:
            self._inotify.close()
            self._inotify = None
            os.close(self._wake_r)
            os.close(self._wake_w)
        self._give_back_own()
        if self._shared is not None:
            with self._lock:  # (never held while calling the shared instance: it calls dir_gone)
                wds, self._shared_wds = list(self._shared_wds.values()), {}
            for wd in wds:
                self._shared.remove(self, wd)

    def _give_back_own(self) -> None:
        if self._own:
            self._own = False
            _give_own_inotify()

    def dir_gone(self, wd: int) -> None:
        """Called by SharedINotify's thread: the directory of `wd` went (watched again by ensure)."""
        with self._lock:
            for directory, watched in list(self._shared_wds.items()):
                if watched == wd:
                    del self._shared_wds[directory]
                    self._gone.add(directory)

    def lost(self, message: str) -> None:
        """Called by SharedINotify's thread when it stops: the safety poll reads on."""
        self._say(message)
        self.wake()

    def wake(self) -> None:
        """Make the current (or next) `wait` return now (thread-safe)."""
        self._wake.set()
        if self._inotify is not None:
            with contextlib.suppress(OSError):
                os.write(self._wake_w, b"\0")

    def wait(self, timeout_s: float) -> bool:
        """Block until something happened to our file, `wake` was called, or `timeout_s` passed
        (then False); what happened since the last `wait` returned counts."""
        inotify = self._inotify
        if inotify is None:
            woke = self._wake.wait(timeout_s)
            self._wake.clear()
            if not woke and self._shared is not None:
                self._targets_now = None  # as with an own instance: a quiet wait looks again
            return woke
        deadline = time.monotonic() + timeout_s
        woke = self._wake.is_set()
        wake_r = self._wake_r
        try:
            while not woke:
                ready = select.select([inotify, wake_r], [], [], max(0.0, deadline - time.monotonic()))[0]
                if not ready:
                    self._targets_now = None  # a quiet wait looks at the path's directories again
                    break
                if wake_r in ready:
                    os.read(wake_r, 4096)
                    woke = True
                woke = self._concerns_us(inotify) or woke
        except (ValueError, OSError):  # stop() closed the instance under this wait (its join timed out)
            if self._inotify is not None:
                raise
            return True
        self._wake.clear()
        return woke

    def _concerns_us(self, inotify: INotify) -> bool:
        """Read what inotify queued: True when it concerns our file (a checkpoint written beside
        the log wakes nobody); a directory gone is watched again once it is back (ensure)."""
        ours = False
        for wd, mask, _, name in inotify.read(timeout=0):
            if mask & flags.Q_OVERFLOW:  # events were lost: look at the file and its directories
                self._targets_now = None
                ours = True
            elif mask & _DIR_GONE:
                watched = self._wds.pop(wd, None)
                if watched is not None:  # (a watch dropped before says so again: IGNORED)
                    self._gone.add(watched[0])
                    self._targets_now = None
                    ours = True
                    if mask & flags.MOVE_SELF:  # moved, not deleted: the kernel keeps its watch
                        with contextlib.suppress(OSError):  # (or dropped it already)
                            inotify.rm_watch(wd)
            elif name in self._wds.get(wd, ("", frozenset()))[1]:
                ours = True
        return ours

    def _start_observer(self, poll: bool) -> BaseObserver:
        observer: BaseObserver
        if poll:
            # Each scan stats the directory and our file only, not every checkpoint beside
            # it: on NFS a stat is a round trip to the server.
            observer = PollingObserverVFS(os.stat, self._listdir, polling_interval=self.poll_interval_s)
        else:
            observer = Observer()
        observer.daemon = True
        observer.start()
        return observer

    def _targets(self) -> dict[str, set[str]]:
        """Directories to watch and the names in them that concern us (the path and,
        for a symlink, its target)."""
        out: dict[str, set[str]] = {}
        for p in {os.path.abspath(self.path), os.path.realpath(self.path)}:
            out.setdefault(os.path.dirname(p), set()).add(os.path.basename(p))
        return out

    def ensure(self) -> None:
        """Watch the directories of our file (again, after one went and came back); with
        inotify, looked at after a quiet wait or a directory's change only (a line's wake-up
        changes no directory)."""
        if self._inotify is not None:
            self._ensure_inotify(self._inotify)
        elif self._shared is not None:
            self._ensure_shared(self._shared)
        elif self._observer is not None:
            self._ensure_observer(self._observer)

    def _ensure_inotify(self, inotify: INotify) -> None:
        if self._targets_now is not None and not self._gone:
            return
        self._gone.clear()
        targets = self._targets_now = self._targets()
        watched = {directory for directory, _ in self._wds.values()}
        for directory in targets:
            if directory in watched:
                continue
            wd = self._add_watch(directory, inotify.add_watch, directory, _FILE_MASK | _DIR_GONE | flags.ONLYDIR)
            if wd is not None:
                self._wds[wd] = (directory, frozenset(targets[directory]))

    def _ensure_shared(self, shared: SharedINotify) -> None:
        with self._lock:
            gone, self._gone = self._gone, set()
            known = dict(self._shared_wds)
        if self._targets_now is not None and not gone:
            return
        targets = self._targets_now = self._targets()
        for directory, names in targets.items():
            if directory in known and shared.watching(self, known[directory]):
                continue
            wd = self._add_watch(directory, shared.add, self, directory, frozenset(names))
            if wd is not None:
                with self._lock:
                    self._shared_wds[directory] = wd

    def _add_watch(self, directory: str, add: Callable[..., int], *args: object) -> int | None:
        """`add(*args)`'s watch descriptor for `directory`, or None: a directory not there (yet) is
        looked for again after the next wait; past inotify's limits (ENOSPC) the safety poll still
        reads every change, and the user is told."""
        try:
            return add(*args)
        except OSError as e:
            if isinstance(e, FileNotFoundError) or e.errno == errno.ENOTDIR:
                self._targets_now = None
            else:
                self._say(f"cannot watch {directory}: {e.strerror or e}; checking every {self.safety_poll_s:g} s")
            return None

    def _ensure_observer(self, observer: BaseObserver) -> None:
        with self._lock:
            gone, self._gone = self._gone, set()
        for directory in gone:
            watch = self._watches.pop(directory, None)
            if watch is not None:
                with contextlib.suppress(KeyError):  # the emitter may have removed itself
                    observer.unschedule(watch)
        for directory, names in self._targets().items():
            if directory in self._watches or not os.path.isdir(directory):
                continue
            handler = _Wake(names, self._wake, self._dir_gone)
            try:
                self._watches[directory] = observer.schedule(handler, directory, recursive=False, event_filter=_EVENTS)
            except OSError as e:
                # inotify limits (ENOSPC, EMFILE): the safety poll still reads every change.
                self._say(f"cannot watch {directory}: {e.strerror or e}; checking every {self.safety_poll_s:g} s")

    def _listdir(self, directory: str | None) -> Iterator[os.DirEntry[str]]:
        names = self._targets().get(os.fspath(directory or "."), set())
        return iter([_Entry(name) for name in sorted(names)])  # type: ignore[misc]  # duck-typed: only .name is read

    def _dir_gone(self, directory: str) -> None:
        """Called on the observer's thread: the watch is dropped (and renewed once the
        directory is back) by the reader thread."""
        with self._lock:
            self._gone.add(directory)

