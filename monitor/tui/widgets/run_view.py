"""One run's full view: header, progress, finish, charts, GPUs, energy, totals and events;
the single-log screen and the run opened from the runs table are both this widget.

UI ring: renders a Snapshot; no I/O, no clock.
"""

from __future__ import annotations

from typing import TypeVar

from textual import events
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widget import Widget

from monitor.core.snapshot import Snapshot
from monitor.tui.widgets.charts import LossChart, StepChart
from monitor.tui.widgets.events import EventsPanel
from monitor.tui.widgets.header import FinishLine, ProgressLine, RunHeader
from monitor.tui.widgets.panels import EnergyPanel, GpuPanel, TotalsPanel, gpu_rows

W = TypeVar("W", bound=Widget)


def _titled(widget: W, title: str) -> W:
    widget.border_title = title
    return widget


class _Box(Vertical):
    """A container that draws nothing of its own: Textual repaints it as blank lines, not
    line by line through its styles (every repaint of a widget inside renders its boxes)."""

    BLANK = True


class _Row(Horizontal):
    BLANK = True


def _alone(widget: Widget, classes: str = "alone") -> _Box:
    """`widget` in a box of its own: Textual repaints every widget inside the box that holds
    a changed one (whole, from its cache), so a widget that changes often is kept apart
    from its neighbours."""
    return _Box(widget, classes=classes)


class RunView(_Box):
    """Every widget of one run, each handed the same Snapshot."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.log_scale = False
        self.header = RunHeader(id="header")
        self.progress = ProgressLine(id="progress")
        self.finish = FinishLine(id="finish")
        self.loss_chart = LossChart(id="loss-chart")
        self.step_chart = StepChart(id="step-chart")
        self.gpus = _titled(GpuPanel(id="gpus"), "GPUs")
        self.energy = _titled(EnergyPanel(id="energy"), "energy and cost")
        self.totals = _titled(TotalsPanel(id="totals"), "totals")
        self.events = _titled(EventsPanel(id="events"), "events")
        self._snap: Snapshot | None = None

    def compose(self) -> ComposeResult:
        # Each line and panel in a box of its own (_alone): a new step repaints the progress
        # line and the totals' loss line, and Textual paints only what shares their boxes.
        with _Box(id="top"):
            yield _alone(self.header)
            yield _alone(self.progress)
            yield _alone(self.finish)
        with _Box(id="body"):
            with _Row(id="charts"):
                yield self.loss_chart
                yield self.step_chart
            yield _alone(self.gpus)
            with _Row(id="numbers"):
                yield _alone(self.energy)
                yield _alone(self.totals)
            yield _alone(self.events, "alone-fill")

    def on_resize(self, event: events.Resize) -> None:
        # another height holds another number of GPU lines
        if self._snap is not None:
            self.gpus.show(self._snap, gpu_rows(event.size.height))

    def show(self, snap: Snapshot, *, charts: bool = True, paused: bool = False,
             pinned_run: int | None = None) -> None:
        """Hand `snap` to every widget; the charts only with `charts` (they cost the most)."""
        self.header.show(snap, paused=paused, pinned_run=pinned_run)
        self.progress.show(snap)
        self.finish.show(snap)
        if charts:
            self.loss_chart.show(snap, self.log_scale)
            self.step_chart.show(snap)
        self._snap = snap
        self.gpus.show(snap, gpu_rows(self.size.height or 24))
        self.energy.show(snap)
        self.totals.show(snap)
        self.events.show(snap)
