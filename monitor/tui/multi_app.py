"""The TUI for several logs: a table of runs (run, status, progress, finish, kWh, cost) and,
on Enter, one run's full screen with the same widgets as `nanowatch LOG`; Escape goes back.

UI ring. Followers and GPU samplers run on their own threads (monitor.multi.Runs); their
wake-ups become a FeedWoke message and only this thread drains their feeds into the Sessions.
The table is drawn at once, every row `reading…`; the logs' histories are read a slice at a
time between paints, the most recently written first, each row filled as its log is read.
"""

from __future__ import annotations

import asyncio
import math
import signal
import time
from collections.abc import Callable
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.driver import Driver
from textual.screen import Screen
from textual.widgets import Footer

from monitor.core import textfmt as fmt
from monitor.core.alerts import AlertWatch
from monitor.core.rows import reading_row, run_row, totals
from monitor.core.sanitise import clean_name
from monitor.core.snapshot import Snapshot
from monitor.multi import Runs
from monitor.tui.app import SUSPEND_BINDING, quiet_driver, redraw_on_resume, suspend_to_shell
from monitor.tui.messages import ChartPacer, FeedWoke, Throttle, Waker
from monitor.tui.widgets import HelpScreen, RunView
from monitor.tui.widgets.charts import CHART_MIN_S
from monitor.tui.widgets.common import SnapshotView
from monitor.tui.widgets.runs_table import RunsTable

#: Redraw at most this often while lines pour in; a quiet screen still moves every TICK_S.
MIN_REDRAW_S = 0.25
#: The exit code of Ctrl-C (128 + SIGINT), as in --jsonl.
EXIT_INTERRUPTED = 130
TICK_S = 1.0
#: The logs' histories (parsing, the first estimate: ~20–80 ms a log) are read for about this
#: long between two paints: the keys and the filled rows are not held up by 200 logs.
FILL_SLICE_S = 0.1
#: While histories are being read, the table is updated at most this often, its rows on screen
#: only: every update of a cell repaints all its rows on screen (~50 ms at 120×40).
FILL_SHOW_S = 1.0
#: No log's history was there to read (its reader has not handed it over yet): look again after this.
FILL_WAIT_S = 0.05

#: Signals that end the app as a quit does, the terminal restored: kill's default, a hang-up
#: while the terminal is still there (`kill -HUP`), an interrupt sent by kill (Ctrl-C is a key).
EXIT_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)

#: Builds the Runs with the app's thread-safe wake-up and its notice callback.
RunsFactory = Callable[[Callable[[], None], Callable[[str], None]], Runs]


class RunScreen(Screen[None]):
    """One run's full screen: the single-log TUI's RunView, fed by the app."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "all runs", tooltip="back from a run's screen to the table of runs"),
        Binding("backspace", "app.pop_screen", "all runs", show=False),
        Binding("l", "log_scale", "log scale", tooltip="on a run's screen: loss chart log / linear scale"),
    ]

    def __init__(self, index: int, charts: ChartPacer) -> None:
        super().__init__()
        self.index = index
        self.view = RunView(id="run")
        #: when the redraws rebuild this screen's charts
        self.charts = charts

    def compose(self) -> ComposeResult:
        yield self.view
        yield Footer()

    def action_log_scale(self) -> None:
        self.view.log_scale = not self.view.log_scale
        self.charts.reset()
        self.app.call_later(self.app.redraw)  # type: ignore[attr-defined]


class MultiApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "nanowatch"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "quit"),
        # Ctrl-C quits, as in htop and less, with the exit code of an interrupt (not Textual's toast).
        Binding("ctrl+c", "interrupt", "quit", show=False, priority=True),
        Binding("question_mark", "help", "help", key_display="?", tooltip="this help (escape closes it)"),
        SUSPEND_BINDING,
    ]

    def __init__(self, make_runs: RunsFactory, *, publish: Callable[[Snapshot], None] | None = None,
                 monotonic: Callable[[], float] = time.monotonic, bell: bool = False) -> None:
        super().__init__()
        #: --bell: one AlertWatch per log (monitor.core.alerts)
        self._bell_watches: dict[int, AlertWatch] | None = {} if bell else None
        self._make_runs = make_runs
        self._publish = publish
        self.runs: Runs | None = None
        #: each log's latest snapshot; None until its history is read
        self.snapshots: list[Snapshot | None] = []
        #: the logs whose history is not read yet, the most recently written first
        self._unread: list[int] = []
        self._filling = False
        self._shown_at = -math.inf
        self._waker = Waker(self)
        self._throttle = Throttle(self, self.redraw, MIN_REDRAW_S, monotonic)
        self._monotonic = monotonic

    def get_driver_class(self) -> type[Driver]:
        return quiet_driver(super().get_driver_class())  # an input thread that sleeps until a key

    def compose(self) -> ComposeResult:
        yield SnapshotView(id="runs-summary")  # a screen's layout only when its height changes
        yield RunsTable(id="runs")
        yield Footer()

    def on_mount(self) -> None:
        redraw_on_resume(self)
        loop = asyncio.get_running_loop()
        for sig in EXIT_SIGNALS:
            loop.add_signal_handler(sig, self._signalled, sig)
        self.runs = self._make_runs(self._waker, self._noticed)
        self.snapshots = [None] * len(self.runs.sessions)
        self._unread = self.runs.newest_first()
        self.runs.start()
        self.set_interval(TICK_S, self._tick)
        self._fill()  # the histories already handed over, for one slice at most: then the first paint
        self._tick()

    def on_unmount(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in EXIT_SIGNALS:
            loop.remove_signal_handler(sig)
        if self.runs is not None:
            self.runs.stop()

    def _signalled(self, sig: signal.Signals) -> None:
        # a clean exit: Textual restores the terminal (alternate screen, cursor, raw mode) on the way out
        self.exit(128 + int(sig), return_code=128 + int(sig))

    # --- on the app's thread ---

    @on(FeedWoke)
    def _feeds_woke(self) -> None:
        self._waker.taken()
        self._throttle.soon()

    def _noticed(self, text: str) -> None:
        """A feed's notice (told while draining, on this thread)."""
        self.notify(clean_name(text), severity="warning", markup=False)

    @on(RunsTable.Chosen)
    def _chosen(self, message: RunsTable.Chosen) -> None:
        if message.index in self._unread:  # the run asked for is read next
            self._unread.remove(message.index)
            self._unread.insert(0, message.index)
        self.push_screen(RunScreen(message.index, ChartPacer(self, self._throttle.soon, CHART_MIN_S, self._monotonic)))
        self.call_later(self.redraw)

    def _tick(self) -> None:
        # while histories are read, only the runs that changed: the rest wait for the reading to end
        self.redraw(every=not self._unread)

    def redraw(self, every: bool = False) -> None:
        """Drain the feeds of the logs already read, snapshot those that changed (`every`: all of
        them, the clock having moved), update the table (and the open run's screen); the logs
        not read yet are read by `_fill`, a slice at a time. Nothing before the table is mounted
        or once the app is closing (its screens go first: a timer or queued call may still come)."""
        runs = self.runs
        if runs is None or not self.is_running:
            return
        self._throttle.redrawn()
        now = runs.clock()
        unread = set(self._unread)
        rings = [self._took(i, session.snapshot(now)) for i, session in enumerate(runs.sessions)
                 if i not in unread and (runs.drain_log(i) or every or self.snapshots[i] is None)]
        if any(rings):  # every run's watch sees its snapshot, then one ring
            self.bell()
        self._show()
        screen = self.screen
        if isinstance(screen, RunScreen):
            session = runs.sessions[screen.index]
            key = session.chart_key()
            charts = screen.charts.wanted(key)
            if charts:
                screen.charts.drawn(key)
            snap = self.snapshots[screen.index]
            if charts or snap is None:
                snap = session.snapshot(now, charts=charts)
            screen.view.show(snap, charts=charts)
        self._fill_soon()

    def _fill(self) -> None:
        """Read the histories of the logs not read yet, the most recently written first, for
        about FILL_SLICE_S; show the rows filled; the rest after the next paint."""
        self._filling = False
        runs = self.runs
        if runs is None or not self.is_running:
            return
        start = self._monotonic()
        read_any = ring = False
        for i in list(self._unread):
            if self._monotonic() - start >= FILL_SLICE_S:
                break
            runs.drain_log(i)
            if runs.history_read(i):
                self._unread.remove(i)
                ring = self._took(i, runs.sessions[i].snapshot(runs.clock())) or ring
                read_any = True
        if ring:
            self.bell()
        if read_any and not self._unread:
            self._show()  # the last one read: every row filled now
        self._fill_soon(wait=not read_any)

    def _fill_soon(self, *, wait: bool = False) -> None:
        """Go on reading histories once the messages (keys) queued are handled and the screen
        is painted, or (`wait`: nothing was there to read, the readers are still at it) in a while."""
        if self._unread and not self._filling:
            self._filling = True
            if wait:
                self.set_timer(FILL_WAIT_S, self._fill)
            else:
                self.call_after_refresh(self._fill)

    def _took(self, index: int, snap: Snapshot) -> bool:
        """Log `index`'s new snapshot: kept for the table, published, seen by its --bell watch
        (True: that watch found an alert to ring for)."""
        self.snapshots[index] = snap
        if self._publish is not None:
            self._publish(snap)
        return self._bell_watches is not None and bool(self._bell_watches.setdefault(index, AlertWatch()).see(snap))

    def _show(self) -> None:
        """The table and the totals line as the snapshots stand (a log not read yet: `reading…`)."""
        runs = self.runs
        assert runs is not None
        if self._unread and self._monotonic() - self._shown_at < FILL_SHOW_S:
            return  # rows filled since the last update wait for the next (FILL_SHOW_S)
        self._shown_at = self._monotonic()
        read = [snap for snap in self.snapshots if snap is not None]
        reading = f" · reading {fmt.counted(len(self._unread), 'log')}…" if self._unread else ""
        summary = f"{totals(read)}{reading}" if read else reading.removeprefix(" · ")
        self.query_one("#runs-summary", SnapshotView).put(Text(f"nanowatch · {summary}"))
        rows = [reading_row(name) if snap is None else run_row(name, snap) for name, snap in zip(runs.names, self.snapshots)]
        self.query_one(RunsTable).show(rows, [row.status if snap is None else snap.status
                                              for row, snap in zip(rows, self.snapshots)],
                                       on_screen_only=bool(self._unread))

    # --- keys ---

    def action_interrupt(self) -> None:
        self.exit(EXIT_INTERRUPTED, return_code=EXIT_INTERRUPTED)

    def action_suspend_process(self) -> None:
        suspend_to_shell(self)

    def action_help(self) -> None:
        # the table's keys, then a run's screen's (p f [ ] e belong to the one-log view)
        self.push_screen(HelpScreen([*self.BINDINGS, *RunsTable.BINDINGS, *RunScreen.BINDINGS]))


def make_multi_app(make_runs: RunsFactory, *, publish: Callable[[Snapshot], None] | None = None,
                   bell: bool = False) -> MultiApp:
    """The one way to build the several-logs app (CLI and tests): `make_runs(wake, notice)`
    builds the Runs with the app's thread-safe callbacks; `bell` rings on any run's alerts."""
    return MultiApp(make_runs, publish=publish, bell=bell)
