"""The help screen behind `?`: the keys and what the numbers mean.

UI ring: static text only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

KEYS = (
    ("q", "quit"),
    ("?", "this help (escape closes it)"),
    ("l", "loss chart: log / linear scale"),
    ("p", "pause / resume following (the screen holds still; no line is lost)"),
    ("f", "follow the newest run (when the log holds several)"),
    ("[ ]", "look at the previous / next run"),
    ("e", "events full screen / back"),
)

#: The keys of the several-logs view (`nanowatch LOG1 LOG2 …`): the table and one run's screen.
MULTI_KEYS = (
    ("q", "quit"),
    ("?", "this help (escape closes it)"),
    ("↑ ↓", "choose a run in the table"),
    ("Enter", "open the chosen run's full screen"),
    ("Esc", "back from a run's screen to the table of runs"),
    ("l", "on a run's screen: loss chart log / linear scale"),
)

NOTES = (
    (
        "finishes: the clock time of the last step, from the steady step time (compile warm-up left out) "
        "plus the evals still to come; the band in brackets is its likely range."
    ),
    (
        "energy: measured from the GPUs (NVML or --gpu-log) since the run's first line; → is the projection "
        "to the finish. cost = energy × PUE × price."
    ),
    "MFU: as the training script printed it, and against the detected GPU's peak.",
    "replay and demo: clock times are the recording's, not now's; the header says the speed.",
    "Log text is shown as text: nothing in a log line can change the screen.",
)


class HelpScreen(ModalScreen[None]):
    """The keys that work where it was opened (`keys`), and what the numbers mean."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "dismiss", "close"),
    ]

    def __init__(self, keys: Sequence[tuple[str, str]] = KEYS) -> None:
        super().__init__()
        self.keys = tuple(keys)

    def compose(self) -> ComposeResult:
        text = Text()
        text.append("nanowatch keys\n\n", style="bold")
        for key, what in self.keys:
            text.append(f"  {key:<5}", style="bold cyan")
            text.append(f" {what}\n")
        text.append("\n")
        for note in NOTES:
            text.append(f"{note}\n\n")
        with VerticalScroll(id="help-box"):
            yield Static(text)
