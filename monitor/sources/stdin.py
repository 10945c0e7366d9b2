"""Read log lines from stdin (a pipe, or a file redirected to it) on a thread, with the same
callbacks as the file follower; and hand the terminal back to a TUI when the log is piped.

ADAPTER ring: file-descriptor I/O; no textual.
"""

from __future__ import annotations

import os
import select
import stat
import sys
import threading
import time
from collections.abc import Callable

from monitor.core.lines import LineSplitter
from monitor.sources.handover import (
    PARTIAL_SETTLE_S,
    OnBlock,
    OnLines,
    OnPartial,
    OnProblem,
    OnText,
    PartialLine,
    give_line,
    give_partial,
    hand_over,
)
from monitor.sources.problems import Guard
from monitor.sources.tail import CHUNK_BYTES, ENDED, FOLLOWING, ignore


class StdinReader:
    """Reads log lines from a pipe (or a file redirected to stdin) on a thread.

    Lines of a redirected regular file were all there at start (t=None); lines from a
    pipe get their arrival time. At end of input the last partial line is complete; before
    that, a partial last line from a pipe that has not changed for `partial_settle_s` is
    handed over as it stands (a writer that ends its lines late, or never), as the file
    follower does (to `on_partial` where given: the line that completes it replaces it). With
    `on_block`, lines come as blocks instead of batches (see Follower).
    """

    def __init__(
        self,
        on_lines: OnLines,
        on_error: OnProblem,
        clock: Callable[[], float],
        *,
        fd: int | None = None,
        on_state: OnText | None = None,
        on_block: OnBlock | None = None,
        on_partial: OnPartial | None = None,
        chunk_bytes: int = CHUNK_BYTES,
        partial_settle_s: float = PARTIAL_SETTLE_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.on_lines, self.on_error, self.clock = on_lines, on_error, clock
        self.on_state = on_state or ignore
        self.on_block = on_block
        self.on_partial = on_partial
        self.fd = sys.stdin.fileno() if fd is None else fd
        self.chunk_bytes = chunk_bytes
        self.partial_settle_s, self.monotonic = partial_settle_s, monotonic
        self.state: str | None = None
        self.mtime: float | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="follow stdin", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        # A blocked read() cannot be interrupted; the daemon thread ends with the process.
        self._stopping.set()

    def _run(self) -> None:
        self.state = FOLLOWING
        self.on_state(FOLLOWING)
        try:
            regular = stat.S_ISREG(os.fstat(self.fd).st_mode)
        except OSError as e:
            self.on_error(f"stdin: {e.strerror or e}")
            regular = False
        splitter = LineSplitter()
        # An unexpected exception is said once and reading goes on; at the end the input
        # ends cleanly all the same.
        guard = Guard("stdin reader", self.on_error)
        going = True
        partial = PartialLine(self.partial_settle_s, self.monotonic)

        def step() -> None:
            nonlocal going
            settle_s = None if regular else partial.due_in_s()
            if settle_s is not None and (settle_s <= 0 or not _readable(self.fd, settle_s)):
                give_partial(partial.take(), self.clock(), self.on_lines, self.on_block, self.on_partial)
                return
            try:
                data = os.read(self.fd, self.chunk_bytes)
            except InterruptedError:
                return
            except BlockingIOError:  # stdin left O_NONBLOCK by whoever opened it: wait, do not end
                _readable(self.fd, 1.0)
                return
            except OSError as e:
                self.on_error(f"stdin: read failed: {e.strerror or e}")
                going = False
                return
            if not data:
                going = False
                return
            hand_over(splitter, data, None if regular else self.clock, self.on_lines, self.on_block)
            partial.note(splitter.pending)

        while going and not self._stopping.is_set():
            guard.run(step)
        guard.run(lambda: self._flush(splitter, regular, partial.given))
        self.state = ENDED
        self.on_state(ENDED)

    def _flush(self, splitter: LineSplitter, regular: bool, given: bytes) -> None:
        """The last line, complete at the end of the input even without a newline (unless
        it was handed over already, unchanged, when it settled)."""
        rest = splitter.flush()
        if rest and rest[0] != given and not self._stopping.is_set():
            give_line(rest[0], None if regular else self.clock(), self.on_lines, self.on_block)


def _readable(fd: int, timeout_s: float) -> bool:
    """True when `fd` has data (or its end) to read within `timeout_s`."""
    try:
        ready, _, _ = select.select([fd], [], [], timeout_s)
    except (OSError, ValueError):
        return True  # let the read say what is wrong
    return bool(ready)


def detach_stdin() -> int:
    """Move the piped log off fd 0 and put the terminal there, so a TUI reads its keys
    from the terminal. Returns the fd of the pipe. Raises OSError without a terminal."""
    pipe_fd = os.dup(0)
    tty_fd = os.open("/dev/tty", os.O_RDONLY)
    os.dup2(tty_fd, 0)
    os.close(tty_fd)
    return pipe_fd


def terminal_on_stdin() -> None:
    """For a TUI whose log is not stdin: when stdin is closed or not a terminal (`< /dev/null`,
    a script's pipe), the terminal takes fd 0, where Textual reads keys. Raises OSError without
    a terminal."""
    if os.isatty(0):
        return
    tty_fd = os.open("/dev/tty", os.O_RDONLY)
    if tty_fd != 0:  # fd 0 was closed: the terminal took its place already
        os.dup2(tty_fd, 0)
        os.close(tty_fd)
    if sys.__stdin__ is None:  # Python set it to None at start, stdin being closed
        sys.stdin = open(0, closefd=False)  # noqa: SIM115 (fd 0 lives as long as the process)
        sys.__stdin__ = sys.stdin  # type: ignore[misc]  # Textual reads keys from it
