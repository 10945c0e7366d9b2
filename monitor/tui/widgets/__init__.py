"""Widgets of the nanowatch screen: each renders a Snapshot and nothing else.

UI ring: may import textual and the PURE core; never reads files, NVML or the clock.
"""

from __future__ import annotations

from monitor.tui.widgets.charts import LossChart, StepChart
from monitor.tui.widgets.events import EventsPanel
from monitor.tui.widgets.header import FinishLine, ProgressLine, RunHeader
from monitor.tui.widgets.help import HelpScreen
from monitor.tui.widgets.panels import EnergyPanel, GpuPanel, TotalsPanel
from monitor.tui.widgets.run_view import RunView

__all__ = [
    "EnergyPanel", "EventsPanel", "FinishLine", "GpuPanel", "HelpScreen", "LossChart",
    "ProgressLine", "RunHeader", "RunView", "StepChart", "TotalsPanel",
]  # fmt: skip
