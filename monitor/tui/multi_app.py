"""The TUI for several logs: a table of runs (run, status, progress, finish, kWh, cost) and,
on Enter, one run's full screen with the same widgets as `nanowatch LOG`; Escape goes back.

UI ring. Followers and GPU samplers run on their own threads (monitor.multi.Runs); their
wake-ups become a FeedWoke message and only this thread drains their feeds into the Sessions.
"""

from __future__ import annotations

import asyncio
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
from textual.widgets import Footer, Static

from monitor.core.alerts import AlertWatch
from monitor.core.rows import totals
from monitor.core.sanitise import clean_name
from monitor.core.snapshot import Snapshot
from monitor.multi import Runs
from monitor.tui.app import SUSPEND_BINDING, quiet_driver, redraw_on_resume, suspend_to_shell
from monitor.tui.messages import ChartPacer, FeedWoke, Throttle, Waker
from monitor.tui.widgets import HelpScreen, RunView
from monitor.tui.widgets.charts import CHART_MIN_S
from monitor.tui.widgets.runs_table import RunsTable

#: Redraw at most this often while lines pour in; a quiet screen still moves every TICK_S.
MIN_REDRAW_S = 0.25
#: The exit code of Ctrl-C (128 + SIGINT), as in --jsonl.
EXIT_INTERRUPTED = 130
TICK_S = 1.0

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
        self.snapshots: list[Snapshot] = []
        self._waker = Waker(self)
        self._throttle = Throttle(self, self.redraw, MIN_REDRAW_S, monotonic)
        self._monotonic = monotonic

    def get_driver_class(self) -> type[Driver]:
        return quiet_driver(super().get_driver_class())  # an input thread that sleeps until a key

    def compose(self) -> ComposeResult:
        yield Static(id="runs-summary")
        yield RunsTable(id="runs")
        yield Footer()

    def on_mount(self) -> None:
        redraw_on_resume(self)
        loop = asyncio.get_running_loop()
        for sig in EXIT_SIGNALS:
            loop.add_signal_handler(sig, self._signalled, sig)
        self.runs = self._make_runs(self._waker, self._noticed)
        self.runs.start()
        self.set_interval(TICK_S, self.redraw)
        self.redraw()

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
        self.push_screen(RunScreen(message.index, ChartPacer(self, self._throttle.soon, CHART_MIN_S, self._monotonic)))
        self.call_later(self.redraw)

    def redraw(self) -> None:
        """Drain every feed, snapshot every run, update the table (and the open run's screen)."""
        runs = self.runs
        if runs is None:
            return
        self._throttle.redrawn()
        runs.drain()
        now = runs.clock()
        self.snapshots = runs.snapshots(now)
        if self._bell_watches is not None:
            watches = self._bell_watches
            found = [watches.setdefault(i, AlertWatch()).see(snap) for i, snap in enumerate(self.snapshots)]
            if any(found):  # every run's watch sees its snapshot, then one ring
                self.bell()
        if self._publish is not None:
            for snap in self.snapshots:
                self._publish(snap)
        self.query_one("#runs-summary", Static).update(Text(f"nanowatch · {totals(self.snapshots)}"))
        self.query_one(RunsTable).show(runs.rows(self.snapshots), [s.status for s in self.snapshots])
        screen = self.screen
        if isinstance(screen, RunScreen):
            session = runs.sessions[screen.index]
            key = session.chart_key()
            charts = screen.charts.wanted(key)
            if charts:
                screen.charts.drawn(key)
            snap = session.snapshot(now, charts=True) if charts else self.snapshots[screen.index]
            screen.view.show(snap, charts=charts)

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
