"""The TUI for several logs: a table of runs (run, status, progress, finish, kWh, cost) and,
on Enter, one run's full screen with the same widgets as `nanowatch LOG`; Escape goes back.

UI ring. Followers and GPU samplers run on their own threads (monitor.multi.Runs); their
wake-ups become Messages and only this thread drains them into the Sessions and the widgets.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Static

from monitor.core.alerts import AlertWatch
from monitor.core.rows import totals
from monitor.core.sanitise import clean
from monitor.core.snapshot import Snapshot
from monitor.multi import Runs
from monitor.tui.widgets import (
    EnergyPanel,
    EventsPanel,
    FinishLine,
    GpuPanel,
    HelpScreen,
    LossChart,
    ProgressLine,
    RunHeader,
    StepChart,
    TotalsPanel,
)
from monitor.tui.widgets.help import MULTI_KEYS
from monitor.tui.widgets.runs_table import RunsTable

#: Redraw at most this often while lines pour in; a quiet screen still moves every TICK_S.
MIN_REDRAW_S = 0.25
#: The exit code of Ctrl-C (128 + SIGINT), as in --jsonl.
EXIT_INTERRUPTED = 130
TICK_S = 1.0

RunsFactory = Callable[[Callable[[], None], Callable[[str], None]], Runs]


class FeedsWoke(Message):
    """A follower or GPU sampler queued something."""


class Noticed(Message):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class RunScreen(Screen[None]):
    """One run's full screen: the widgets of the single-log TUI, fed by the app."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "all runs"),
        Binding("backspace", "app.pop_screen", "all runs", show=False),
        Binding("l", "log_scale", "log scale"),
    ]

    def __init__(self, index: int) -> None:
        super().__init__()
        self.index = index
        self.log_scale = False

    def compose(self) -> ComposeResult:
        yield RunHeader(id="header")
        yield ProgressLine(id="progress")
        yield FinishLine(id="finish")
        with Horizontal(id="charts"):
            yield LossChart(id="loss-chart")
            yield StepChart(id="step-chart")
        gpus = GpuPanel(id="gpus")
        gpus.border_title = "GPUs"
        yield gpus
        with Horizontal(id="numbers"):
            energy = EnergyPanel(id="energy")
            energy.border_title = "energy and cost"
            yield energy
            numbers = TotalsPanel(id="totals")
            numbers.border_title = "totals"
            yield numbers
        events = EventsPanel(id="events")
        events.border_title = "events"
        yield events
        yield Footer()

    def show(self, snap: Snapshot) -> None:
        self.query_one(RunHeader).show(snap)
        self.query_one(ProgressLine).show(snap)
        self.query_one(FinishLine).show(snap)
        self.query_one(LossChart).show(snap, self.log_scale)
        self.query_one(StepChart).show(snap)
        self.query_one(GpuPanel).show(snap)
        self.query_one(EnergyPanel).show(snap)
        self.query_one(TotalsPanel).show(snap)
        self.query_one(EventsPanel).show(snap)

    def action_log_scale(self) -> None:
        self.log_scale = not self.log_scale
        self.app.call_later(self.app.redraw)  # type: ignore[attr-defined]


class MultiApp(App[int]):
    CSS_PATH = "app.tcss"
    CSS = """
    #runs-summary { height: 1; padding: 0 1; text-wrap: nowrap; text-overflow: ellipsis; }
    #runs { height: 1fr; }
    """
    TITLE = "nanowatch"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "quit"),
        # Ctrl-C quits, as in htop and less, with the exit code of an interrupt (not Textual's toast).
        Binding("ctrl+c", "interrupt", "quit", show=False, priority=True),
        Binding("question_mark", "help", "help", key_display="?"),
    ]

    def __init__(self, make_runs: RunsFactory, *, publish: Callable[[Snapshot], None] | None = None,
                 monotonic: Callable[[], float] = time.monotonic, bell: bool = False) -> None:
        super().__init__()
        #: --bell: one AlertWatch per log (monitor.core.alerts)
        self._bell_watches: dict[int, AlertWatch] | None = {} if bell else None
        self._make_runs = make_runs
        self._publish = publish
        self._monotonic = monotonic
        self.runs: Runs | None = None
        self.snapshots: list[Snapshot] = []
        self._wake_posted = False
        self._redraw_pending = False
        self._last_redraw = -1e9

    def compose(self) -> ComposeResult:
        yield Static(id="runs-summary")
        yield RunsTable(id="runs")
        yield Footer()

    def on_mount(self) -> None:
        self.runs = self._make_runs(self._woke_from_thread, self._notice_from_thread)
        self.runs.start()
        self.set_interval(TICK_S, self.redraw)
        self.redraw()

    def on_unmount(self) -> None:
        if self.runs is not None:
            self.runs.stop()

    # --- from source threads: only post ---

    def _woke_from_thread(self) -> None:
        if not self._wake_posted:  # a burst of lines becomes one message
            self._wake_posted = True
            self.post_message(FeedsWoke())

    def _notice_from_thread(self, text: str) -> None:
        self.post_message(Noticed(text))

    # --- on the app's thread ---

    @on(FeedsWoke)
    def _feeds_woke(self) -> None:
        self._wake_posted = False
        if self._redraw_pending:
            return
        self._redraw_pending = True
        self.set_timer(max(0.0, self._last_redraw + MIN_REDRAW_S - self._monotonic()), self._redraw_due)

    def _redraw_due(self) -> None:
        self._redraw_pending = False
        self.redraw()

    @on(Noticed)
    def _noticed(self, message: Noticed) -> None:
        self.notify(clean(message.text), severity="warning", markup=False)

    @on(RunsTable.Chosen)
    def _chosen(self, message: RunsTable.Chosen) -> None:
        self.push_screen(RunScreen(message.index))
        self.call_later(self.redraw)

    def redraw(self) -> None:
        """Drain every feed, snapshot every run, update the table (and the open run's screen)."""
        runs = self.runs
        if runs is None:
            return
        self._last_redraw = self._monotonic()
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
            screen.show(runs.sessions[screen.index].snapshot(now, charts=True))

    # --- keys ---

    def action_interrupt(self) -> None:
        self.exit(EXIT_INTERRUPTED, return_code=EXIT_INTERRUPTED)

    def action_help(self) -> None:
        self.push_screen(HelpScreen(MULTI_KEYS))  # p f [ ] e belong to the one-log view


def make_multi_app(make_runs: RunsFactory, *, publish: Callable[[Snapshot], None] | None = None,
                   bell: bool = False) -> MultiApp:
    """The one way to build the several-logs app (CLI and tests): `make_runs(wake, notice)`
    builds the Runs with the app's thread-safe callbacks; `bell` rings on any run's alerts."""
    return MultiApp(make_runs, publish=publish, bell=bell)
