"""Follow a log file as `tail -F` does (watchdog events plus a slow safety poll) and hand
complete lines with their arrival time to callbacks (monitor/stdin.py does the same for a pipe).

ADAPTER ring: file I/O and watchdog; no textual. Knows nothing about sessions or widgets.
"""

from __future__ import annotations

import os
import stat
import threading
import time
from collections.abc import Callable
from functools import partial

from monitor.core.lines import LineSplitter
from monitor.core.sanitise import unicode_safe
from monitor.core.trainrun import ResetCause
from monitor.sources.handover import (
    PARTIAL_SETTLE_S,
    OnBlock,
    OnLines,
    OnPartial,
    OnProblem,
    OnText,
    PartialLine,
    give_partial,
    hand_over,
)
from monitor.sources.logfile import next_data
from monitor.sources.problems import Guard, WriterOnMovedFile
from monitor.sources.watch import DirWatch

#: Source states, reported through `on_state`. FOLLOWING comes once what the file held
#: when opened has been handed to `on_lines`; ENDED only from stdin.
WAITING, FOLLOWING, DELETED, UNREADABLE, ENDED = "waiting", "following", "deleted", "unreadable", "ended"

CHUNK_BYTES = 4 << 20
#: The first read of each wake-up while following: a live log grows by a few lines between
#: two, and a read allocates the whole size asked for (4 MB cost ~20x a 64 kB one); a full one
#: goes on in CHUNK_BYTES reads.
FOLLOW_READ_BYTES = 64 << 10
#: Re-check the file this often even without events: a missed event never loses data.
SAFETY_POLL_S = 1.0
#: Directory scan period of watchdog's polling observer (`--poll`).
POLL_INTERVAL_S = 0.1
#: How long a replacement file that so far repeats the start of the old one may stay
#: shorter than what was read before it is taken for a new run.
SWITCH_GRACE_S = 2.0
#: Bytes remembered from the start of the file and from just before the read position: when
#: either changed, the file was rewritten in place (same inode, `>` or `cp`), not appended to.
SIGNATURE_BYTES = 256


def ignore(_: str) -> None:
    return None


class Follower:
    """Follows one log file from a reader thread; all callbacks run on that thread, in order.

    `on_reset(cause)` is called when the file started over: "truncated" (it got smaller),
    "rewritten" (bytes already read changed) or "replaced" (by a file that does not begin with
    what was read: rotated). The lines that follow are a new run or the same run going on.
    With `on_block`, complete lines are handed over as one buffer per read instead of
    `on_lines` batches: a cold start of a huge log skips splitting it only to join it again.
    With `on_partial`, a settled partial last line goes there, as provisional (the next line
    handed over replaces it); without, it is handed over as a line.
    """

    def __init__(
        self,
        path: str,
        on_lines: OnLines,
        on_error: OnProblem,
        clock: Callable[[], float],
        poll: bool = False,
        *,
        on_state: OnText | None = None,
        on_reset: Callable[[ResetCause], None] | None = None,
        on_block: OnBlock | None = None,
        on_partial: OnPartial | None = None,
        safety_poll_s: float = SAFETY_POLL_S,
        poll_interval_s: float = POLL_INTERVAL_S,
        chunk_bytes: int = CHUNK_BYTES,
        partial_settle_s: float = PARTIAL_SETTLE_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self.on_lines, self.clock = on_lines, clock
        #: every notice as valid text: a path or OS error that is not UTF-8 has its bytes written out
        self.on_error: OnProblem = lambda problem: on_error(unicode_safe(problem) if isinstance(problem, str) else problem)
        self.on_state = on_state or ignore
        self.on_reset = on_reset or ignore
        self.on_block = on_block
        self.on_partial = on_partial
        self.poll = poll
        self.safety_poll_s, self.poll_interval_s, self.chunk_bytes = safety_poll_s, poll_interval_s, chunk_bytes
        self.state: str | None = None
        #: mtime of the followed file at the last check (the time of its last write)
        self.mtime: float | None = None
        self._fd: int | None = None
        self._id: tuple[int, int] | None = None
        self._pos = 0
        self._initial_end = -1  # bytes present at start get no arrival time
        self._splitter = LineSplitter()
        self._problem: str | None = None
        #: the last read of the open file failed (EIO): unreadable until one gets through
        self._read_failed = False
        self._deferred_since: float | None = None  # when a replacement was first too short to judge
        self._partial = PartialLine(partial_settle_s, monotonic)
        self._head = b""  # the file's first bytes, as read
        self._before = b""  # the bytes just before the read position
        self._mtime_ns = 0
        self._rotated_note = False
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._watch = DirWatch(path, self._say, poll=poll, poll_interval_s=poll_interval_s,
                               safety_poll_s=safety_poll_s)

    @property
    def position(self) -> int:
        """Bytes of the current file read so far (a partial last line included)."""
        return self._pos

    # --- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        notice = self._watch.start()
        self._thread = threading.Thread(target=self._run, args=(notice,), name=f"follow {self.path}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._watch.wake()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._watch.stop()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _run(self, notice: str | None) -> None:
        if notice is not None:
            self._say(notice)
        # An unexpected exception is said once and the next pass tried: a follower thread
        # never dies silently behind a screen that looks alive.
        guard = Guard(f"follower of {unicode_safe(self.path)}", self.on_error)
        first = True
        while not self._stopping.is_set():
            if guard.run(partial(self._pass, first)):
                first = False  # what the file held at start is read once a pass got through
            wait_s = self.safety_poll_s
            if self._deferred_since is not None:
                wait_s = min(wait_s, SWITCH_GRACE_S / 4)
            settle_s = self._partial.due_in_s()
            if settle_s is not None:
                if settle_s <= 0:
                    guard.run(self._give_partial)
                else:
                    wait_s = min(wait_s, settle_s + 0.01)
            self._watch.wait(wait_s)

    def _give_partial(self) -> None:
        """Hand over the partial last line that has settled (PartialLine)."""
        t = None if self._pos <= self._initial_end else self.clock()
        give_partial(self._partial.take(), t, self.on_lines, self.on_block, self.on_partial)

    def _pass(self, at_start: bool) -> None:
        self._watch.ensure()
        self.check(at_start=at_start)

    # --- reading ---------------------------------------------------------------------

    def check(self, at_start: bool = False) -> None:
        """Read whatever is new; notice deletion, truncation and replacement."""
        opening = self._fd is None
        if opening:
            self._open(at_start)
        else:
            self._check_path()
        if self._fd is not None:
            self._read_new()
            if opening and not self._read_failed:  # "following" once what the file held is handed over
                self._set_state(FOLLOWING)

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.on_state(state)

    def _say(self, message: str) -> None:
        """Report a problem once, not at every poll."""
        if message != self._problem:
            self._problem = message
            self.on_error(message)

    def _open_fd(self) -> tuple[int, os.stat_result] | None:
        try:
            st = os.stat(self.path)
            if stat.S_ISDIR(st.st_mode):
                raise IsADirectoryError(21, "is a directory, not a log file")
            if not stat.S_ISREG(st.st_mode):
                self._set_state(UNREADABLE)
                self._say(f"{self.path}: not a regular file; pipe it instead: nanowatch - < {self.path}")
                return None
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        except OSError as e:
            self._set_state(UNREADABLE)
            self._say(f"{self.path}: {e.strerror or e}")
            return None
        return fd, os.fstat(fd)

    def _open(self, at_start: bool) -> None:
        opened = self._open_fd()
        if opened is None:
            if self.state is None:
                self._set_state(WAITING)
            return
        fd, st = opened
        self._fd, self._id, self._pos = fd, (st.st_dev, st.st_ino), 0
        if at_start:
            self._initial_end = st.st_size
        self._problem = None

    def _check_path(self) -> None:
        assert self._fd is not None
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            if self.state != DELETED:
                self._set_state(DELETED)
                self._say(f"{self.path} was deleted; keeping what was read, waiting for it to come back")
            return  # the writer may still append to the open, unlinked file: keep reading it
        except OSError as e:
            self._say(f"{self.path}: {e.strerror or e}")
            return
        if (st.st_dev, st.st_ino) != self._id:
            read_before = self._pos
            self._read_new()  # the old file's last lines first
            self._switch(old_grew=self._pos > read_before)
            return
        if st.st_size < self._pos:
            self._restart(f"{self.path} was truncated; reading it from the start", "truncated")
        elif self._rewritten(st):
            self._restart(f"{self.path} was rewritten in place; reading it from the start", "rewritten")
        elif self.state != FOLLOWING and not self._read_failed:
            self._problem = None
            self._set_state(FOLLOWING)

    def _rewritten(self, st: os.stat_result) -> bool:
        """True when bytes already read changed (checked when the file's mtime moved)."""
        if st.st_mtime_ns == self._mtime_ns or self._fd is None:
            return False
        self._mtime_ns = st.st_mtime_ns
        try:
            head = os.pread(self._fd, len(self._head), 0)
            before = os.pread(self._fd, len(self._before), self._pos - len(self._before))
        except OSError:
            return False
        return head != self._head or before != self._before

    def _switch(self, old_grew: bool) -> None:
        """The path now names another file (rotated, replaced, or recreated after deletion)."""
        opened = self._open_fd()
        if opened is None:
            return
        fd, st = opened
        if st.st_size == 0:
            # Nothing to read there yet. With `mv log log.1; touch log` and a writer that never
            # reopens, what it writes goes on to the moved file: keep following that one
            # until the new file gets something, and say so when it grows.
            os.close(fd)
            if old_grew and not self._rotated_note:
                self._rotated_note = True
                self.on_error(WriterOnMovedFile(unicode_safe(self.path)))
            return
        old_fd, old_pos = self._fd, self._pos
        assert old_fd is not None
        same_start = _same_bytes(old_fd, fd, min(st.st_size, old_pos))
        if same_start and st.st_size < old_pos:
            # Still being written (or empty): a copy of what was read and a new run that
            # starts alike look the same until it grows past it or differs. Look again
            # soon, and after SWITCH_GRACE_S take it for a new run.
            now = self.clock()
            if self._deferred_since is None:
                self._deferred_since = now
            if now - self._deferred_since < SWITCH_GRACE_S:
                os.close(fd)
                return
            same_start = False
        self._deferred_since = None
        self._rotated_note = False
        os.close(old_fd)
        self._fd, self._id = fd, (st.st_dev, st.st_ino)
        self._mtime_ns = 0
        self._problem, self._read_failed = None, False
        self._set_state(FOLLOWING)
        if not same_start:
            self._restart(f"{self.path} was replaced by a new file; reading it from the start", "replaced")
        # else: a copy that starts with what was read (rsync, an editor's save): go on from here

    def _restart(self, message: str, cause: ResetCause) -> None:
        self._pos = 0
        self._initial_end = -1
        self._splitter.reset()
        self._partial.reset()
        self._head = self._before = b""
        self.on_error(message)
        self.on_reset(cause)

    def _read_new(self) -> None:
        fd = self._fd
        assert fd is not None
        first = True
        while not self._stopping.is_set():
            want = self.chunk_bytes
            initial = self._pos < self._initial_end
            if initial:
                want = min(want, self._initial_end - self._pos)
            elif first:
                want = min(want, FOLLOW_READ_BYTES)
            first = False
            try:
                self._skip_hole(fd)
                data = os.pread(fd, want, self._pos)
            except OSError as e:
                # EIO from a failing disk or a network file system: unreadable until a read gets
                # through again (tried at every check), a lasting warning meanwhile, not a note
                self._read_failed = True
                self._set_state(UNREADABLE)
                self._say(f"{self.path}: read failed: {e.strerror or e}")
                return
            if self._read_failed:
                self._read_failed, self._problem = False, None
                self._set_state(FOLLOWING)
            if not data:
                break
            self._remember(data)
            self._pos += len(data)
            hand_over(self._splitter, data, None if initial else self.clock, self.on_lines, self.on_block)
            self._partial.note(self._splitter.pending)
            if len(data) < want and not initial:
                break
        try:
            st = os.fstat(fd)
            self.mtime, self._mtime_ns = st.st_mtime, st.st_mtime_ns
        except OSError:
            self.mtime = None

    def _skip_hole(self, fd: int) -> None:
        """Pass over a hole at the read position (logfile.next_data: a copytruncate'd log whose
        writer kept its offset has one of as many bytes as the log had, all NULs, no line). What
        is remembered from before it is not what lies before the position any more."""
        start = next_data(fd, self._pos)
        if start > self._pos:
            self._pos = start
            self._before = b""

    def _remember(self, data: bytes) -> None:
        """Keep the signature bytes of what is read (see SIGNATURE_BYTES)."""
        if len(self._head) < SIGNATURE_BYTES and self._pos == len(self._head):
            self._head += data[: SIGNATURE_BYTES - len(self._head)]
        self._before = (self._before + data[-SIGNATURE_BYTES:])[-SIGNATURE_BYTES:]


def _same_bytes(fd_a: int, fd_b: int, n: int, block: int = 1 << 20) -> bool:
    """True when two files hold the same first `n` bytes."""
    pos = 0
    try:
        while pos < n:
            size = min(block, n - pos)
            a, b = os.pread(fd_a, size, pos), os.pread(fd_b, size, pos)
            if a != b or len(a) < size:
                return False
            pos += size
    except OSError:
        return False
    return True
