"""Live following: a Follower (or StdinReader) feeds a Session through a bounded inbox, and
the `--jsonl` loop writes a record after each change and at least every `--interval` seconds.

ADAPTER ring: threads, stdout and stderr; no textual. The TUI uses LiveFeed as its source.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import stat
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TextIO, cast

from monitor.core.sanitise import clean
from monitor.session import Session
from monitor.sources.logfile import LogError, check_readable
from monitor.sources.stdin import StdinReader
from monitor.sources.tail import DELETED, ENDED, FOLLOWING, UNREADABLE, WAITING, Batch, Follower

EXIT_OK, EXIT_INTERRUPTED = 0, 130
#: Reads (each at most tail.CHUNK_BYTES) queued between the source's thread and the session
#: before the source waits: a cold start of a huge file streams through in bounded memory.
MAX_QUEUED_READS = 16
#: The shortest period between records when `--interval` asks for less.
MIN_INTERVAL_S = 0.01

_Item = tuple[str, object]


class _Inbox:
    """A thread-safe queue of source items, bounded by the number of reads it holds."""

    def __init__(self, max_reads: int) -> None:
        self._items: deque[_Item] = deque()
        self._reads = 0
        self._max_reads = max_reads
        self._cond = threading.Condition()
        self._closed = False

    def put(self, kind: str, payload: object = None, read: bool = False) -> None:
        with self._cond:
            while read and self._reads >= self._max_reads and not self._closed:
                self._cond.wait()
            if self._closed:
                return
            self._items.append((kind, payload))
            self._reads += read
            self._cond.notify_all()

    def take_all(self) -> list[_Item]:
        with self._cond:
            items = list(self._items)
            self._items.clear()
            self._reads = 0
            self._cond.notify_all()
        return items

    def wait(self, timeout_s: float) -> bool:
        with self._cond:
            if not self._items and not self._closed:
                self._cond.wait(timeout_s)
            return bool(self._items)

    def has_reads(self) -> bool:
        with self._cond:
            return self._reads > 0

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class LiveFeed:
    """Connects a live source to a Session. The source's thread only queues; `drain()`,
    called on the consumer's thread, folds everything queued into the session.

    `wake` (optional) is called on the source's thread after each queued item, e.g. to
    post a message to an app; `on_notice` receives one-line messages about the source
    (truncated, deleted, unreadable) on the consumer's thread.
    """

    def __init__(
        self,
        session: Session,
        path: str,
        *,
        poll: bool = False,
        clock: Callable[[], float] = time.time,
        stdin_fd: int | None = None,
        wake: Callable[[], None] | None = None,
        on_notice: Callable[[str], None] | None = None,
        max_queued_reads: int = MAX_QUEUED_READS,
    ) -> None:
        self.session = session
        self.path = path
        self.on_notice = on_notice
        self.ended = False
        #: the source's last reported state (tail.WAITING, FOLLOWING, DELETED, UNREADABLE, ENDED)
        self.state: str | None = None
        self._wake = wake
        self._inbox = _Inbox(max_queued_reads)
        self.source: Follower | StdinReader
        if path == "-":
            self.source = StdinReader(
                self._lines, self._error, clock, fd=stdin_fd, on_state=self._state, on_block=self._block
            )
        else:
            self.source = Follower(
                path, self._lines, self._error, clock, poll,
                on_state=self._state, on_reset=self._reset, on_block=self._block,
            )  # fmt: skip

    # --- the source's thread -----------------------------------------------------------

    def _put(self, kind: str, payload: object = None, read: bool = False) -> None:
        self._inbox.put(kind, payload, read)
        if self._wake is not None:
            self._wake()

    def _lines(self, batch: Batch) -> None:
        self._put("lines", batch, read=True)

    def _block(self, t: float | None, block: bytes) -> None:
        self._put("block", (t, block), read=True)

    def _error(self, message: str) -> None:
        self._put("error", message)

    def _state(self, state: str) -> None:
        self._put("state", state)

    def _reset(self) -> None:
        self._put("reset")

    # --- the consumer's thread ---------------------------------------------------------

    def start(self) -> None:
        self.source.start()

    def stop(self) -> None:
        self._inbox.close()  # a reader waiting for room must not block the stop
        self.source.stop()

    def wait(self, timeout_s: float) -> bool:
        """Block until something is queued or `timeout_s` passes; True when something is."""
        return self._inbox.wait(timeout_s)

    def pending(self) -> bool:
        """True when lines are already queued (a drain now would give a newer record)."""
        return self._inbox.has_reads()

    def drain(self) -> bool:
        """Fold everything queued into the session; True when the run changed."""
        session = self.session
        changed = False
        for kind, payload in self._inbox.take_all():
            if kind in ("block", "lines") and session.waiting:
                session.waiting = False  # lines come before the source says it is following
                changed = True
            if kind == "block":
                t, block = cast("tuple[float | None, bytes]", payload)
                changed = session.feed_block(block, t) or changed
            elif kind == "lines":
                changed = _feed_batch(session, cast(Batch, payload)) or changed
            elif kind == "state":
                changed = self._apply_state(str(payload)) or changed
            elif kind == "error":
                message = str(payload)
                if self.state in (DELETED, UNREADABLE):
                    session.source_notice = message
                if self.on_notice is not None:
                    self.on_notice(message)
            elif kind == "reset":
                session.reset()
                changed = True
        mtime = self.source.mtime
        if mtime is not None:
            session.file_mtime = mtime
        return changed

    def _apply_state(self, state: str) -> bool:
        self.state = state
        session = self.session
        was_waiting = session.waiting
        session.waiting = state == WAITING
        if state in (FOLLOWING, WAITING, ENDED):
            session.source_notice = None
        if state == ENDED:
            self.ended = True
        if state == WAITING and self.on_notice is not None:
            self.on_notice(f"waiting for {self.path} to appear")
        return was_waiting != session.waiting


def _feed_batch(session: Session, batch: Batch) -> bool:
    """Feed lines to the session in runs of equal arrival time (a source's batch
    usually has one time for all its lines)."""
    if not batch:
        return False
    if batch[0][0] == batch[-1][0]:  # arrival times never go back: all lines share it
        return session.feed_many([line for _, line in batch], batch[0][0])
    changed = False
    for t, group in itertools.groupby(batch, key=lambda item: item[0]):
        changed = session.feed_many([line for _, line in group], t) or changed
    return changed


def check_source(path: str) -> None:
    """Refuse at startup a log that exists but can never be followed (exit 2 with a
    reason); a log that does not exist yet is waited for."""
    if path == "-" or not os.path.lexists(path):
        return
    st = check_readable(path)
    if not stat.S_ISREG(st.st_mode):
        raise LogError(f"{path}: not a regular file; pipe it instead: nanowatch - < {path}")


def follow_jsonl(
    session: Session,
    path: str,
    *,
    interval_s: float = 1.0,
    poll: bool = False,
    out: TextIO | None = None,
    err: TextIO | None = None,
    clock: Callable[[], float] = time.time,
    stdin_fd: int | None = None,
) -> int:
    """Follow `path` (or stdin for "-") and write JSON records to `out` until Ctrl-C,
    or until stdin ends. Returns the exit code."""
    check_source(path)
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err

    def notice(message: str) -> None:
        print(f"nanowatch: {clean(message)}", file=err, flush=True)

    interval_s = max(interval_s, MIN_INTERVAL_S)
    feed = LiveFeed(session, path, poll=poll, clock=clock, stdin_fd=stdin_fd, on_notice=notice)
    feed.start()
    last_write = -math.inf
    dirty = False
    try:
        while feed.state is None:  # the first record says whether the log is there at all
            feed.wait(0.1)
            dirty = feed.drain() or dirty
        while True:
            dirty = feed.drain() or dirty
            now = clock()
            # When more lines are already queued, the next drain gives a newer record:
            # coalescing keeps a burst (or a cold start) from writing stale ones.
            if (dirty and not feed.pending()) or now - last_write >= interval_s:
                out.write(session.snapshot(now).to_json() + "\n")
                out.flush()
                last_write, dirty = now, False
            if feed.ended and not feed.pending():
                return EXIT_OK
            feed.wait(max(0.0, last_write + interval_s - clock()))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, and keep Python's exit flush quiet too.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())
        return EXIT_OK
    finally:
        feed.stop()
