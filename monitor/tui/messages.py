"""How the apps hear from their sources' threads, and how often they redraw: a LiveFeed's
wake-ups become at most one pending FeedWoke message (post_message is thread-safe), a
Throttle keeps a burst of lines to a few redraws a second, and a ChartPacer rebuilds the
charts only when what they draw changed, at most every few seconds.

UI ring: Textual messages and timers; the sources and their inbox live in monitor.live.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable

from textual.app import App
from textual.message import Message
from textual.timer import Timer


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
        else:  # now, on this (the app's) thread: no further message to dispatch
            self._due()

    def _due(self) -> None:
        self.pending = False
        self._redraw()


class ChartPacer:
    """Whether a redraw rebuilds the charts: when what they draw changed (`key`, e.g.
    Session.chart_key) and `min_s` has passed since they were last built. A change within
    that window calls `due` when the window ends (once), so the change is drawn then."""

    def __init__(self, app: App[int], due: Callable[[], None], min_s: float, monotonic: Callable[[], float]) -> None:
        self._app = app
        self._due = due
        self._min_s = min_s
        self._monotonic = monotonic
        self._key: object = _NOTHING
        self._at = -math.inf
        self._timer: Timer | None = None

    def wanted(self, key: object) -> bool:
        if key == self._key:
            return False
        wait = self._at + self._min_s - self._monotonic()
        if wait <= 0:
            return True
        if self._timer is None:
            self._timer = self._app.set_timer(wait, self._ended)
        return False

    def drawn(self, key: object) -> None:
        """The charts were just built from what `key` stands for."""
        self._key, self._at = key, self._monotonic()
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    def reset(self) -> None:
        """The next redraw builds the charts (another run or scale on screen)."""
        self._key, self._at = _NOTHING, -math.inf

    def _ended(self) -> None:
        self._timer = None
        self._due()


#: No key: the charts were never built.
_NOTHING = object()
