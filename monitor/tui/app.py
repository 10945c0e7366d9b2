"""The Textual app: one screen that answers "when will it finish, and what will it cost?".

UI ring. Line and GPU sources are plain objects run in their own threads; their callbacks
become Messages (post_message is thread-safe) and only this thread touches the Session and
the widgets. `make_app` builds the app for the CLI and for the tests alike.
"""

from __future__ import annotations

import asyncio
import itertools
import signal
import threading
import time
from collections.abc import Callable
from typing import ClassVar, TypeVar

from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Footer

from monitor.core.alerts import AlertWatch
from monitor.core.snapshot import Snapshot
from monitor.core.telemetry import Reading, Telemetry
from monitor.session import Session
from monitor.tui.messages import (
    BlockArrived,
    GpuFailed,
    GpuSampled,
    GpuSourceFactory,
    Line,
    LineHooks,
    LinesArrived,
    LineSource,
    LineSourceFactory,
    Source,
    SourceChanged,
    SourceFailed,
    SourceRestarted,
)
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

UNAVAILABLE = "GPU telemetry unavailable: "
#: A redraw at most this often while lines pour in (a few times a second).
MIN_REDRAW_S = 0.25
#: The exit code of Ctrl-C (128 + SIGINT), as in --jsonl.
EXIT_INTERRUPTED = 130
#: A quiet log is still redrawn this often: the finish time and "stalled since" move with the
#: clock, and GPU samples (which arrive every --gpu-interval) are shown at this pace.
TICK_S = 2.0
#: Batches of at least this many lines with one arrival time (a cold open) go through the
#: session's bulk reader.
BLOCK_LINES = 256
#: Batches a source may have posted and the app not yet read: a source reading a huge file
#: waits instead of queueing all of it as Python objects.
MAX_PENDING_BATCHES = 2


class NanowatchApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "nanowatch"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "quit"),
        # Ctrl-C quits, as in htop and less, with the exit code of an interrupt (not Textual's toast).
        Binding("ctrl+c", "interrupt", "quit", show=False, priority=True),
        Binding("question_mark", "help", "help", key_display="?"),
        Binding("l", "log_scale", "log scale"),
        Binding("p", "pause", "pause"),
        Binding("f", "follow", "newest run"),
        Binding("e", "events", "events"),
        Binding("left_square_bracket", "run(-1)", "prev run", show=False),
        Binding("right_square_bracket", "run(1)", "next run", show=False),
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
    ) -> None:
        super().__init__()
        #: --bell: rings when the newest run finishes, crashes, stalls… (monitor.core.alerts)
        self._bell_watch = AlertWatch() if bell else None
        self.session = session
        self._line_factory = lines
        self._gpu_factory = gpu
        self._on_pause = on_pause
        self._handle_signals = handle_signals
        self._monotonic = monotonic
        self._sources: list[Source] = []
        self._line_source: LineSource | None = None
        self._source_state: str | None = None
        self._pending = threading.BoundedSemaphore(MAX_PENDING_BATCHES)
        self._changed = True
        self._redraw_pending = False
        self._last_redraw = -1e9
        self.log_scale = False
        self.paused = False
        self.pinned_run: int | None = None
        self.snapshot: Snapshot | None = None
        self._live = False  # widgets mounted: redraws may touch them

    # --- layout ---

    def compose(self) -> ComposeResult:
        self.header_view = RunHeader(id="header")
        self.progress_view = ProgressLine(id="progress")
        self.finish_view = FinishLine(id="finish")
        self.loss_chart = LossChart(id="loss-chart")
        self.step_chart = StepChart(id="step-chart")
        self.gpu_view = _titled(GpuPanel(id="gpus"), "GPUs")
        self.energy_view = _titled(EnergyPanel(id="energy"), "energy and cost")
        self.totals_view = _titled(TotalsPanel(id="totals"), "totals")
        self.events_view = _titled(EventsPanel(id="events"), "events")
        yield self.header_view
        yield self.progress_view
        yield self.finish_view
        with Horizontal(id="charts"):
            yield self.loss_chart
            yield self.step_chart
        yield self.gpu_view
        with Horizontal(id="numbers"):
            yield self.energy_view
            yield self.totals_view
        yield self.events_view
        yield Footer()

    def on_mount(self) -> None:
        self._live = True
        if self._handle_signals:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGHUP):
                loop.add_signal_handler(sig, self._signalled, sig)
        self.redraw(charts=True)
        self.set_interval(TICK_S, self._tick)
        # Sources start once the screen is up, so their first lines find a ready app.
        if self._line_factory is not None:
            hooks = LineHooks(
                self._lines_from_thread,
                self._line_error_from_thread,
                self._state_from_thread,
                self._reset_from_thread,
                self._block_from_thread,
            )
            self._line_source = self._line_factory(hooks)
            self._sources.append(self._line_source)
        if self._gpu_factory is not None:
            self._sources.append(self._gpu_factory(self._samples_from_thread, self._gpu_error_from_thread))
        for source in self._sources:
            source.start()

    def on_unmount(self) -> None:
        self._live = False
        for source in self._sources:
            source.stop()
        if self._handle_signals:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGHUP):
                loop.remove_signal_handler(sig)

    def _signalled(self, sig: signal.Signals) -> None:
        # A clean exit: Textual restores the terminal (alternate screen, cursor, raw mode) on the way out.
        self.exit(128 + int(sig), return_code=128 + int(sig))

    # --- callbacks from source threads: only post messages ---

    def _lines_from_thread(self, lines: list[Line]) -> None:
        self._post_lines(LinesArrived(lines))

    def _block_from_thread(self, t: float | None, block: bytes) -> None:
        self._post_lines(BlockArrived(t, block))

    def _post_lines(self, message: Message) -> None:
        while not self._pending.acquire(timeout=0.2):
            if not self._live:
                return  # the app is gone: nobody will read these
        if not self.post_message(message):
            self._pending.release()

    def _line_error_from_thread(self, reason: str) -> None:
        self.post_message(SourceFailed(reason))

    def _state_from_thread(self, state: str) -> None:
        self.post_message(SourceChanged(state))

    def _reset_from_thread(self) -> None:
        self.post_message(SourceRestarted())

    def _samples_from_thread(self, samples: list[Reading]) -> None:
        self.post_message(GpuSampled(samples))

    def _gpu_error_from_thread(self, reason: str) -> None:
        self.post_message(GpuFailed(reason))

    # --- messages, on the app's thread ---

    @on(LinesArrived)
    def _lines_arrived(self, message: LinesArrived) -> None:
        session = self.session
        changed = False
        # Lines of one batch mostly share their arrival time: feed them in runs of equal t.
        try:
            for t, group in itertools.groupby(message.lines, key=lambda item: item[0]):
                lines = [line for _, line in group]
                if len(lines) >= BLOCK_LINES:
                    changed = session.feed_block(b"\n".join(lines), t) or changed
                else:
                    changed = session.feed_many(lines, t) or changed
        finally:
            self._pending.release()
        self._lines_fed(changed)

    @on(BlockArrived)
    def _block_arrived(self, message: BlockArrived) -> None:
        try:
            changed = self.session.feed_block(message.block, message.t)
        finally:
            self._pending.release()
        self._lines_fed(changed)

    def _lines_fed(self, changed: bool) -> None:
        session = self.session
        session.waiting = False
        if self._line_source is not None and self._line_source.mtime is not None:
            session.file_mtime = self._line_source.mtime
        self._changed = self._changed or changed
        self._redraw_soon()

    @on(SourceFailed)
    def _source_failed(self, message: SourceFailed) -> None:
        if self._source_state in ("deleted", "unreadable"):
            self.session.source_notice = message.reason  # lasts until the file is back
        self.session.state.current.note(self.session.clock(), "warning", message.reason)
        self._changed = True
        self._redraw_soon()

    @on(SourceChanged)
    def _source_changed(self, message: SourceChanged) -> None:
        self._source_state = message.state
        self.session.waiting = message.state == "waiting"
        if message.state in ("following", "waiting", "ended"):
            self.session.source_notice = None
        if message.state == "ended":
            self.session.state.current.note(self.session.clock(), "warning", "the input ended (no more lines)")
        self._changed = True
        self._redraw_soon()

    @on(SourceRestarted)
    def _source_restarted(self) -> None:
        self.session.reset()
        self._changed = True
        self._redraw_soon()

    @on(GpuSampled)
    def _gpu_sampled(self, message: GpuSampled) -> None:
        # Shown at the next tick: GPU samples alone never cost an extra redraw.
        self.session.add_gpu_samples(message.samples)

    @on(GpuFailed)
    def _gpu_failed(self, message: GpuFailed) -> None:
        if message.reason.startswith(UNAVAILABLE):
            if self.session.telemetry is None:
                self.session.telemetry = Telemetry()
            self.session.telemetry.unavailable(message.reason.removeprefix(UNAVAILABLE))
        else:  # one GPU stopped answering; the others are still sampled
            self.session.state.current.note(self.session.clock(), "warning", message.reason)
            self._changed = True
        self._redraw_soon()

    # --- redrawing ---

    def _redraw_soon(self) -> None:
        """Redraw now, or at the end of the current MIN_REDRAW_S window if one just happened."""
        if self._redraw_pending or self.paused:
            return
        self._redraw_pending = True
        delay = self._last_redraw + MIN_REDRAW_S - self._monotonic()
        if delay > 0:
            self.set_timer(delay, self._redraw_due)
        else:  # a zero-delay Timer divides by zero inside Textual
            self.call_later(self._redraw_due)

    def _redraw_due(self) -> None:
        self._redraw_pending = False
        self.redraw(charts=self._changed)

    def _tick(self) -> None:
        if not self.paused and not self._redraw_pending:
            self.redraw(charts=self._changed)

    def redraw(self, charts: bool = False) -> None:
        """Build a Snapshot and hand it to every widget; the charts only when the run changed."""
        if not self._live:
            return
        self._last_redraw = self._monotonic()
        snap = self.session.snapshot(charts=charts, run_index=self.pinned_run)
        self.snapshot = snap
        self._watch_newest(snap)
        self.header_view.show(snap, paused=self.paused, pinned_run=self.pinned_run)
        self.progress_view.show(snap)
        self.finish_view.show(snap)
        if charts:
            self._changed = False
            self.loss_chart.show(snap, self.log_scale)
            self.step_chart.show(snap)
        self.gpu_view.show(snap)
        self.energy_view.show(snap)
        self.totals_view.show(snap)
        self.events_view.show(snap)

    def _watch_newest(self, snap: Snapshot) -> None:
        """--notify (the session's on_snapshot) and --bell follow the newest run, also while an
        earlier one is on screen."""
        watchers = self._bell_watch is not None or self.session.on_snapshot is not None
        if self.pinned_run is not None and watchers:
            snap = self.session.snapshot()
        if self._bell_watch is not None and self._bell_watch.see(snap):
            self.bell()

    # --- keys ---

    def action_interrupt(self) -> None:
        self.exit(EXIT_INTERRUPTED, return_code=EXIT_INTERRUPTED)

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_log_scale(self) -> None:
        self.log_scale = not self.log_scale
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
        count = len(self.session.state.runs)
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


W = TypeVar("W", bound=Widget)


def _titled(widget: W, title: str) -> W:
    widget.border_title = title
    return widget


def make_app(
    session: Session,
    lines: LineSourceFactory | None = None,
    gpu: GpuSourceFactory | None = None,
    *,
    on_pause: Callable[[bool], None] | None = None,
    handle_signals: bool = True,
    bell: bool = False,
) -> NanowatchApp:
    """The one way to build the app (CLI and tests): a Session, a factory for the line source
    and one for the GPU source, each called with the app's thread-safe callbacks; `on_pause`
    is told when the user pauses (a replay holds its clock); `bell` rings the terminal bell on
    the run's alerts (--bell)."""
    return NanowatchApp(session, lines, gpu, on_pause=on_pause, handle_signals=handle_signals, bell=bell)
