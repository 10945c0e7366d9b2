"""Textual's Linux terminal driver, its input thread asleep until a key comes.

UI ring. Textual's input thread wakes every 0.1 s whatever happens, to see whether it should stop
and whether a lone Esc has waited out the escape delay (ESCDELAY): on a quiet screen those
wake-ups cost about as much as everything else the app does (BENCHMARKS.md, TUI sixth pass).
This one waits in select() on the terminal and on a pipe that stopping writes to, and keeps
Textual's 0.1-s pace only while an escape sequence may still be pending.
"""

from __future__ import annotations

import os
import selectors
import threading
import time
from codecs import getincrementaldecoder

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


class _WakingEvent(threading.Event):
    """Textual's exit event for the input thread, which also writes to a pipe the thread waits on."""

    def __init__(self, wake_fd: int) -> None:
        super().__init__()
        self._wake_fd = wake_fd

    def set(self) -> None:
        super().set()
        try:
            os.write(self._wake_fd, b"x")
        except BlockingIOError:
            pass  # the pipe is full of wake-ups already: the thread wakes anyway


class QuietLinuxDriver(LinuxDriver):
    """LinuxDriver whose input thread sleeps until a key, a stop, or a pending escape's tick."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        self._open_fds: tuple[int, ...] = (self._wake_r, self._wake_w)
        self.exit_event = _WakingEvent(self._wake_w)

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
        fds, self._open_fds = self._open_fds, ()
        for fd in fds:
            os.close(fd)
