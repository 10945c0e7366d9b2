"""Exit when the terminal hangs up (SIGHUP, or the tty reporting a hang-up or an error), whatever
the app is doing at that moment: a dropped SSH connection never leaves a nanowatch behind.

ADAPTER ring: signals and file descriptors; no textual.
"""

from __future__ import annotations

import os
import select
import signal
import threading
from collections.abc import Sequence

#: 128 + SIGHUP, as a shell reports a process ended by the signal.
EXIT_HANGUP = 128 + signal.SIGHUP
_GONE = select.POLLHUP | select.POLLERR | select.POLLNVAL


def exit_on_hangup(fds: Sequence[int] = (0, 1, 2)) -> None:
    """Install the SIGHUP handler (main thread only; an inherited SIG_IGN, as under nohup, is
    kept) and a daemon thread that waits for a hang-up of the terminal on `fds`. Either ends
    the process at once: the terminal is gone, there is nothing to restore or show."""
    if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
        signal.signal(signal.SIGHUP, _hung_up)
    ttys = [fd for fd in fds if _isatty(fd)]
    if ttys:
        threading.Thread(target=_watch, args=(ttys,), name="nanowatch-hangup", daemon=True).start()


def _isatty(fd: int) -> bool:
    try:
        return os.isatty(fd)
    except OSError:
        return False


def _hung_up(signum: int, frame: object) -> None:
    os._exit(EXIT_HANGUP)


def _watch(fds: list[int]) -> None:
    """poll() reports POLLHUP/POLLERR whatever the mask: asking for no event at all, it sleeps
    until the terminal goes away and costs nothing meanwhile."""
    poller = select.poll()
    for fd in fds:
        poller.register(fd, 0)
    while True:
        for _, events in poller.poll():
            if events & _GONE:
                os._exit(EXIT_HANGUP)
