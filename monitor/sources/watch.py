"""Wake a file's reader when its directory changes (watchdog's inotify observer, or its polling
observer for NFS), re-arming the watch when the directory goes and comes back.

ADAPTER ring: watchdog; no textual. The reader (sources/tail.py) still re-checks on a timer:
a missed event never loses data.
"""

from __future__ import annotations

import contextlib
import os
import threading
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

_EVENTS = [FileModifiedEvent, FileCreatedEvent, FileDeletedEvent, FileMovedEvent, FileClosedEvent, DirDeletedEvent]


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
    """Sets `wake` when the directory of `path` (and of its symlink target) changes for our file."""

    def __init__(self, path: str, wake: threading.Event, say: Callable[[str], None], *, poll: bool,
                 poll_interval_s: float, safety_poll_s: float) -> None:
        self.path, self._wake, self._say = path, wake, say
        self.poll, self.poll_interval_s, self.safety_poll_s = poll, poll_interval_s, safety_poll_s
        self._observer: BaseObserver | None = None
        self._watches: dict[str, ObservedWatch] = {}
        self._lock = threading.Lock()
        self._gone: set[str] = set()

    def start(self) -> str | None:
        """Start the observer; a notice when it had to fall back to polling."""
        try:
            self._observer = self._start_observer(self.poll)
        except OSError as e:  # no inotify instance left (EMFILE), or none on this system
            self._observer = self._start_observer(True)
            return f"no file-system events ({e.strerror or e}): polling {self.path} instead"
        return None

    def stop(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)

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
        """Watch the directories of our file (again, after one went and came back)."""
        if self._observer is None:
            return
        with self._lock:
            gone, self._gone = self._gone, set()
        for directory in gone:
            watch = self._watches.pop(directory, None)
            if watch is not None:
                with contextlib.suppress(KeyError):  # the emitter may have removed itself
                    self._observer.unschedule(watch)
        for directory, names in self._targets().items():
            if directory in self._watches or not os.path.isdir(directory):
                continue
            handler = _Wake(names, self._wake, self._dir_gone)
            try:
                self._watches[directory] = self._observer.schedule(
                    handler, directory, recursive=False, event_filter=_EVENTS
                )
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

