"""The Textual app: one screen that answers "when will it finish, and what will it cost?".

UI ring. Line and GPU sources run in their own threads and queue typed events in a LiveFeed's
inbox; a FeedWoke message brings the app to drain it into the Session on this thread, the only
one that touches the Session and the widgets. `make_app` builds the app for the CLI and the tests.
"""

from __future__ import annotations

import asyncio
import gc
import signal
import sys
import time
from collections.abc import Callable
from typing import ClassVar

from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.driver import Driver
from textual.screen import Screen
from textual.widgets import Footer

from monitor.core.alerts import AlertWatch
from monitor.core.snapshot import Snapshot
from monitor.live import GpuSourceFactory, LineSourceFactory, LiveFeed
from monitor.session import Session
from monitor.tui.messages import ChartPacer, FeedWoke, Throttle, Waker
from monitor.tui.widgets import HelpScreen, RunView
from monitor.tui.widgets.charts import CHART_MIN_S

#: A redraw at most this often while lines pour in: the step counter moves twice a second.
MIN_REDRAW_S = 0.5
#: The exit code of Ctrl-C (128 + SIGINT), as in --jsonl.
EXIT_INTERRUPTED = 130
#: A quiet log is still redrawn this often: the finish time and "stalled since" move with the
#: clock, and GPU samples (which arrive every --gpu-interval) are shown at this pace.
TICK_S = 2.0
#: Big reads a source may have queued and the app not yet drained: a source reading a huge
#: file waits instead of queueing all of it as Python objects (small reads never wait: inbox).
MAX_PENDING_READS = 2


def quiet_driver(driver: type[Driver]) -> type[Driver]:
    """The driver Textual picked for this terminal (App.get_driver_class); where that is its
    LinuxDriver (Linux, macOS), one whose input thread sleeps until a key comes (tui.driver)."""
    if sys.platform == "win32":
        return driver
    try:  # the quiet driver leans on Textual's private parser: a Textual that moved it keeps its own
        from textual.drivers.linux_driver import LinuxDriver

        from monitor.tui.driver import QuietLinuxDriver
    except ImportError:
        return driver
    return QuietLinuxDriver if driver is LinuxDriver else driver


#: Ctrl-Z: the terminal's raw mode hands it to the app as a key; both TUIs bind it to suspend_to_shell.
SUSPEND_BINDING = Binding("ctrl+z", "suspend_process", "suspend", show=False, key_display="Ctrl-Z",
                          tooltip="suspend to the shell (fg comes back)")


def redraw_on_resume(app: App[int]) -> None:
    """After `fg` the terminal holds the shell's text: Textual's driver comes back into
    application mode but repaints only what changes; the whole screen is painted again."""
    app.app_resume_signal.subscribe(app, lambda _app: app.refresh(layout=True))


def suspend_to_shell(app: App[int]) -> None:
    """Ctrl-Z: the job stops and the shell has the terminal (`fg` redraws the app). Where no
    shell can resume it (the app run straight by tmux or ssh) it stays and says so; a
    headless app (the tests) has no terminal to give back."""
    if app.is_headless or sys.platform == "win32":
        return
    from monitor.tui.driver import suspend_job

    if not suspend_job():
        app.notify("Ctrl-Z: no shell to come back to (started without job control); q quits",
                   severity="warning", markup=False)


class _Blank(Vertical):
    """A box that draws nothing of its own (see widgets.run_view._Box)."""

    BLANK = True


class _MainScreen(Screen[None]):
    """The main screen draws nothing but its children: a repaint of any line would otherwise
    repaint the whole screen's background (from its cache) too."""

    BLANK = True


class NanowatchApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "nanowatch"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "quit"),
        # Ctrl-C quits, as in htop and less, with the exit code of an interrupt (not Textual's toast).
        Binding("ctrl+c", "interrupt", "quit", show=False, priority=True),
        Binding("question_mark", "help", "help", key_display="?", tooltip="this help (escape closes it)"),
        Binding("l", "log_scale", "log scale", tooltip="loss chart: log / linear scale"),
        Binding("p", "pause", "pause", tooltip="pause / resume following (the screen holds still; no line is lost)"),
        Binding("f", "follow", "newest run", tooltip="follow the newest run (when the log holds several)"),
        Binding("left_square_bracket", "run(-1)", "prev run", show=False, key_display="[",
                tooltip="look at the previous / next run"),
        Binding("right_square_bracket", "run(1)", "next run", show=False, key_display="]",
                tooltip="look at the previous / next run"),
        Binding("e", "events", "events", tooltip="events full screen / back"),
        SUSPEND_BINDING,
    ]

    def __init__(
        self,
        session: Session,
        lines: LineSourceFactory | None = None,
        gpu: GpuSourceFactory | None = None,
        *,
        on_pause: Callable[[bool], None] | None = None,
        handle_signals: bool = True,
        monotonic: Callable[[], float] = time.monotonic,
        bell: bool = False,
        freeze_gc: bool = False,
    ) -> None:
        super().__init__()
        #: start-up objects kept out of the collector's passes (at mount, and once the log's
        #: first read is done: on_mount, _tick)
        self._freeze_gc = freeze_gc
        self._read_frozen = False
        #: --bell: rings when the newest run finishes, crashes, stalls… (monitor.core.alerts)
        self._bell_watch = AlertWatch() if bell else None
        self.session = session
        self._line_factory = lines
        self._gpu_factory = gpu
        self._on_pause = on_pause
        self._handle_signals = handle_signals
        self.feed: LiveFeed | None = None
        self._waker = Waker(self)
        self._throttle = Throttle(self, self.redraw, MIN_REDRAW_S, monotonic)
        self._charts = ChartPacer(self, self._charts_due, CHART_MIN_S, monotonic)
        self.paused = False
        self.pinned_run: int | None = None
        self.snapshot: Snapshot | None = None
        self._live = False  # widgets mounted: redraws may touch them

    def get_default_screen(self) -> Screen[None]:
        return _MainScreen(id="_default")

    def get_driver_class(self) -> type[Driver]:
        return quiet_driver(super().get_driver_class())

    # --- layout ---

    def compose(self) -> ComposeResult:
        self.run_view = RunView(id="run")
        yield self.run_view
        # In a box of its own: not repainted with every change above it (run_view._alone).
        with _Blank(id="keys"):
            yield Footer()

    # The widgets, by what they show (the tests read them).
    header_view = property(lambda self: self.run_view.header)
    progress_view = property(lambda self: self.run_view.progress)
    finish_view = property(lambda self: self.run_view.finish)
    loss_chart = property(lambda self: self.run_view.loss_chart)
    step_chart = property(lambda self: self.run_view.step_chart)
    gpu_view = property(lambda self: self.run_view.gpus)
    energy_view = property(lambda self: self.run_view.energy)
    totals_view = property(lambda self: self.run_view.totals)
    events_view = property(lambda self: self.run_view.events)

    def on_mount(self) -> None:
        self._live = True
        redraw_on_resume(self)
        if self._freeze_gc:
            # What exists now (modules, styles, widgets: ~80k objects) lives as long as the
            # app: out of the cyclic collector's way, whose full passes scanned it all (~80 ms
            # each, a few times a minute while lines arrive; Python's gc.freeze).
            gc.collect()
            gc.freeze()
        if self._handle_signals:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):  # SIGINT: sent by kill
                loop.add_signal_handler(sig, self._signalled, sig)
        self.redraw(charts=True)
        self.set_interval(TICK_S, self._tick)
        # Sources start once the screen is up, so their first lines find a ready app.
        if self._line_factory is not None or self._gpu_factory is not None:
            # GPU samples alone wake nobody: they are drained and shown at the next tick.
            self.feed = LiveFeed(self.session, self._line_factory, self._gpu_factory, wake=self._waker,
                                 samples_wake=False, max_queued_reads=MAX_PENDING_READS)
            self.feed.start()

    def on_unmount(self) -> None:
        self._live = False
        if self._freeze_gc:
            gc.unfreeze()
        if self.feed is not None:
            self.feed.stop()
        if self._handle_signals:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):  # SIGINT: sent by kill
                loop.remove_signal_handler(sig)

    def _signalled(self, sig: signal.Signals) -> None:
        # A clean exit: Textual restores the terminal (alternate screen, cursor, raw mode) on the way out.
        self.exit(128 + int(sig), return_code=128 + int(sig))

    # --- the sources' events, on the app's thread ---

    @on(FeedWoke)
    def _feed_woke(self) -> None:
        """Lines came: the next redraw (now, or when the MIN_REDRAW_S window ends) drains
        them. Until then further lines post nothing (the Waker is taken by the drain), so a
        log growing at 10 lines/s costs two messages a second, not ten; each line keeps the
        time its read stamped on it. A cold start's big reads are drained at once: their
        reader waits for room."""
        if self.paused or (self.feed is not None and self.feed.backlogged()):
            self._drain()
        if not self.paused:
            self._throttle.soon()

    def _drain(self) -> None:
        self._waker.taken()  # before draining: a line queued after the drain posts again
        if self.feed is not None:
            self.feed.drain()

    def _tick(self) -> None:
        """A quiet log's redraw; a screen that lines have redrawn within the last second
        needs none (each of those redraws read the clock and the GPU samples too)."""
        self._drain()
        if self._freeze_gc and not self._read_frozen and self.feed is not None and not self.feed.backlogged():
            gc.freeze()  # and what the log's first read left (its run's notes, evals, config)
            self._read_frozen = True
        if not self.paused and not self._throttle.pending and self._throttle.idle_s() >= TICK_S / 2:
            self.redraw()

    def _charts_due(self) -> None:
        """What the charts draw changed within their last CHART_MIN_S: draw it now."""
        if not self.paused:
            self._throttle.soon()

    def redraw(self, charts: bool | None = None) -> None:
        """Drain what the sources queued, build a Snapshot and hand it to every widget; the
        charts when asked, else when what they draw changed (at most every CHART_MIN_S)."""
        if not self._live or not self.is_running:  # not mounted yet, or closing (screens go first)
            return
        self._drain()
        self._throttle.redrawn()
        key = self.session.chart_key(self.pinned_run)
        charts = self._charts.wanted(key) if charts is None else charts
        snap = self.session.snapshot(charts=charts, run_index=self.pinned_run)
        self.snapshot = snap
        self._watch_newest(snap)
        if charts:
            self._charts.drawn(key)
        self.run_view.show(snap, charts=charts, paused=self.paused, pinned_run=self.pinned_run)

    def _watch_newest(self, snap: Snapshot) -> None:
        """--notify (the session's on_snapshot) and --bell follow the newest run, also while an
        earlier one is on screen."""
        watchers = self._bell_watch is not None or self.session.has_watchers
        if self.pinned_run is not None and watchers:
            snap = self.session.snapshot()
        if self._bell_watch is not None and self._bell_watch.see(snap):
            self.bell()

    # --- keys ---

    def action_interrupt(self) -> None:
        self.exit(EXIT_INTERRUPTED, return_code=EXIT_INTERRUPTED)

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.BINDINGS))

    def action_suspend_process(self) -> None:
        # A replay's clock holds while the job is stopped, as `p` holds it: `fg` goes on where
        # it was, not as far ahead as the time spent in the shell (the SIGTSTP handler stops
        # the process inside suspend_to_shell; it returns once `fg` has resumed it).
        hold = None if self.paused else self._on_pause
        if hold is not None:
            hold(True)
        try:
            suspend_to_shell(self)
        finally:
            if hold is not None:
                hold(False)

    def action_log_scale(self) -> None:
        self.run_view.log_scale = not self.run_view.log_scale
        if self.snapshot is not None:
            self.redraw(charts=True)

    def action_pause(self) -> None:
        self.paused = not self.paused
        if self._on_pause is not None:
            self._on_pause(self.paused)
        self.redraw(charts=not self.paused)

    def action_follow(self) -> None:
        self.pinned_run = None
        if self.paused:
            self.action_pause()
        else:
            self.redraw(charts=True)

    def action_run(self, step: int) -> None:
        count = self.session.run_count
        current = count - 1 if self.pinned_run is None else self.pinned_run
        target = min(count - 1, max(0, current + step))
        self.pinned_run = None if target == count - 1 else target
        self.redraw(charts=True)

    def action_events(self) -> None:
        events = self.events_view
        if self.screen.maximized is events:
            self.screen.minimize()
        elif self.screen.maximize(events, container=False):
            events.notes.focus()  # the arrow keys and page keys scroll it
        # Either way the pane changes height: it shows the newest events, not where the old height left it.
        events.notes.call_after_refresh(events.notes.scroll_end, animate=False)


def make_app(
    session: Session,
    lines: LineSourceFactory | None = None,
    gpu: GpuSourceFactory | None = None,
    *,
    on_pause: Callable[[bool], None] | None = None,
    handle_signals: bool = True,
    bell: bool = False,
    freeze_gc: bool = False,
) -> NanowatchApp:
    """The one way to build the app (CLI and tests): a Session, a factory for the line source
    and one for the GPU sampler, each called with the hooks of the app's LiveFeed; `on_pause`
    is told when the user pauses (a replay holds its clock); `bell` rings the terminal bell on
    the run's alerts (--bell); `freeze_gc` moves what exists at start-up out of the cyclic
    garbage collector's passes while the app runs (the CLI's app: the process is the app's)."""
    return NanowatchApp(session, lines, gpu, on_pause=on_pause, handle_signals=handle_signals, bell=bell,
                        freeze_gc=freeze_gc)
