"""How the apps hear from their sources' threads, and how often they redraw: a LiveFeed's
wake-ups become at most one pending FeedWoke message (post_message is thread-safe), and a
Throttle keeps a burst of lines to a few redraws a second.

UI ring: Textual messages and timers; the sources and their inbox live in monitor.live.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from textual.app import App
from textual.message import Message


class FeedWoke(Message):
    """A source queued something the screen should show soon."""


class Waker:
    """A LiveFeed's `wake`: posts one FeedWoke until the app has taken it (a burst of lines
    is one message)."""

    def __init__(self, app: App[int]) -> None:
        self._app = app
        self._posted = threading.Event()

    def __call__(self) -> None:  # a source's thread
        if not self._posted.is_set():
            self._posted.set()
            self._app.post_message(FeedWoke())

    def taken(self) -> None:
        """Called on the app's thread before draining: the next event posts again."""
        self._posted.clear()


class Throttle:
    """Calls `redraw` now, or at the end of the current `min_s` window if one just happened:
    a screen following a fast log redraws a few times a second, not once per line."""

    def __init__(self, app: App[int], redraw: Callable[[], None], min_s: float, monotonic: Callable[[], float]) -> None:
        self._app = app
        self._redraw = redraw
        self._min_s = min_s
        self._monotonic = monotonic
        self._last = -1e9
        self.pending = False

    def redrawn(self) -> None:
        """A redraw just happened (whoever asked for it)."""
        self._last = self._monotonic()

    def idle_s(self) -> float:
        """Seconds since the last redraw."""
        return self._monotonic() - self._last

    def soon(self) -> None:
        if self.pending:
            return
        self.pending = True
        delay = self._last + self._min_s - self._monotonic()
        if delay > 0:
            self._app.set_timer(delay, self._due)
        else:  # a zero-delay Timer divides by zero inside Textual
            self._app.call_later(self._due)

    def _due(self) -> None:
        self.pending = False
        self._redraw()
