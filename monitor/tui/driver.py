"""Textual's Linux terminal driver, its input thread asleep until a key comes; and Ctrl-Z, which
suspends the job to its shell as a terminal's own Ctrl-Z would.

UI ring. Textual's input thread wakes every 0.1 s whatever happens, to see whether it should stop
and whether a lone Esc has waited out the escape delay (ESCDELAY): on a quiet screen those
wake-ups cost about as much as everything else the app does (BENCHMARKS.md, TUI sixth pass).
This one waits in select() on the terminal and on a pipe that stopping writes to, and keeps
Textual's 0.1-s pace only while an escape sequence may still be pending.
"""

from __future__ import annotations

import os
import selectors
import signal
import sys
import threading
import time
from codecs import getincrementaldecoder
from collections.abc import Callable
from typing import TextIO, TypeVar

from textual import constants
from textual._xterm_parser import XTermParser
from textual.drivers.linux_driver import LinuxDriver

#: Textual's input thread's pace (its select timeout): a pending Esc is let go at the first
#: tick after the escape delay has passed.
TICK_S = 0.1
#: Bytes read from the terminal at once (as Textual reads them).
READ_BYTES = 4096


def input_timeout(last_input_s: float | None, last_tick_s: float | None, escape_delay_s: float) -> float | None:
    """How long the input thread may wait for the terminal (seconds; None: until something
    comes). `last_input_s` is when the last bytes were fed to the parser (taken after feeding, so
    never before the parser's own stamp), `last_tick_s` when its tick last ran (taken before it
    ran). An escape sequence may be pending until a tick has run more than the escape delay after
    the input, whatever the thread's scheduling delays: till then Textual's TICK_S, after that
    no end."""
    if last_input_s is None:
        return None
    if last_tick_s is not None and last_tick_s - last_input_s > escape_delay_s:
        return None
    return TICK_S


_File = TypeVar("_File", bound=TextIO)


def screen_file(stderr: _File | None, stdout: _File | None) -> _File | None:
    """Where the screen is drawn: Textual draws on stderr, but one sent elsewhere (`2>err.log`,
    `2>/dev/null`) would take the screen with it and leave the terminal blank while the app runs
    unseen; then the terminal on stdout is drawn on (the caller has checked there is one)."""
    if stdout is not None and not _is_terminal(stderr) and _is_terminal(stdout):
        return stdout
    return stderr


def _is_terminal(file: TextIO | None) -> bool:
    try:
        return file is not None and file.isatty()
    except (OSError, ValueError):  # closed, or no descriptor behind it
        return False


class _WakingEvent(threading.Event):
    """Textual's exit event for the input thread, which also writes to the pipe the thread waits
    on (`wake_fd`, -1 while the driver holds none: application mode stopped or suspended)."""

    def __init__(self) -> None:
        super().__init__()
        self.wake_fd = -1

    def set(self) -> None:
        super().set()
        if self.wake_fd < 0:
            return
        try:
            os.write(self.wake_fd, b"x")
        except BlockingIOError:
            pass  # the pipe is full of wake-ups already: the thread wakes anyway


class QuietLinuxDriver(LinuxDriver):
    """LinuxDriver whose input thread sleeps until a key, a stop, or a pending escape's tick.

    Each application mode has its own wake pipe: a suspend (Ctrl-Z, SIGTSTP) ends the mode
    and closes it (Driver.suspend_application_mode calls close()), `fg` starts a new one."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._file = screen_file(self._file, sys.__stdout__)
        self._wake_r = self._wake_w = -1
        self._waking = _WakingEvent()
        self.exit_event = self._waking

    def start_application_mode(self) -> None:
        self._close_wake_pipe()
        self._wake_r, self._wake_w = os.pipe2(os.O_CLOEXEC)
        os.set_blocking(self._wake_w, False)
        self._waking.wake_fd = self._wake_w
        super().start_application_mode()

    def run_input_thread(self) -> None:
        """Textual's LinuxDriver.run_input_thread, waiting by input_timeout() instead of 0.1 s."""
        fileno, wake = self.fileno, self._wake_r
        selector = selectors.SelectSelector()
        selector.register(fileno, selectors.EVENT_READ)
        selector.register(wake, selectors.EVENT_READ)
        parser = XTermParser(self._debug)
        decode = getincrementaldecoder("utf-8")().decode
        last_input_s: float | None = None
        last_tick_s: float | None = None

        def process(events: list[tuple[selectors.SelectorKey, int]], final: bool = False) -> None:
            nonlocal last_input_s, last_tick_s
            for key, _mask in events:
                if key.fd == wake:
                    os.read(wake, READ_BYTES)  # the loop's condition says whether to stop
                    continue
                data = decode(os.read(fileno, READ_BYTES), final=final)
                if not data:  # stdin at its end (a pipe)
                    break
                for event in parser.feed(data):
                    self.process_message(event)
                last_input_s = time.monotonic()
            last_tick_s = time.monotonic()
            for event in parser.tick():
                self.process_message(event)

        try:
            while not self.exit_event.is_set():
                timeout = input_timeout(last_input_s, last_tick_s, constants.ESCAPE_DELAY)
                process(selector.select(timeout))
            selector.unregister(fileno)
            selector.unregister(wake)
            process(selector.select(TICK_S), final=True)  # as Textual: a last tick lets a pending Esc go
        finally:
            selector.close()

    def close(self) -> None:
        super().close()
        self._close_wake_pipe()

    def _close_wake_pipe(self) -> None:
        self._waking.wake_fd = -1
        fds, (self._wake_r, self._wake_w) = (self._wake_r, self._wake_w), (-1, -1)
        for fd in fds:
            if fd >= 0:
                os.close(fd)


def parent_of(pid: int) -> int | None:
    """The parent process of `pid` (from /proc; None where it cannot be read)."""
    if pid == os.getpid():
        return os.getppid()
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    return int(stat[stat.rindex(b")") + 2:].split()[1])  # after "pid (comm) state": the ppid


def shell_to_return_to() -> bool:
    """Whether a job-control shell waits for this process group (the group is not orphaned,
    POSIX.1 11.1.3): a process of the group, walking up the parents, has its parent in another
    group of the same session. A program run straight by tmux, sshd or a `sh -c` without job
    control has none: stopped, nothing would ever resume it (the kernel drops a terminal's own
    Ctrl-Z for such a group for this reason)."""
    group, session = os.getpgrp(), os.getsid(0)
    pid: int | None = os.getpid()
    while pid is not None and pid > 1:
        parent = parent_of(pid)
        if parent is None or parent <= 1:
            return False
        try:
            if os.getpgid(parent) != group:
                return os.getsid(parent) == session
        except OSError:  # the parent exited meanwhile: the group is orphaned now
            return False
        pid = parent
    return False


def suspend_job(kill: Callable[[int, int], None] = os.killpg) -> bool:
    """Ctrl-Z in raw mode (the terminal sends it to the app as a key): SIGTSTP to this process
    group, as the terminal itself would have sent it, so that the whole job stops (`python
    train.py | nanowatch -` too, else the shell would wait on the training for ever) and the
    shell takes the terminal back; Textual's driver leaves application mode on the signal and
    comes back on SIGCONT (`fg`). Returns False, sending nothing, where there is no shell to
    come back from (shell_to_return_to)."""
    if not shell_to_return_to():
        return False
    kill(os.getpgrp(), signal.SIGTSTP)
    return True
