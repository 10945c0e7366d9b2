"""The help screen behind `?`: the keys (made from the screen's key bindings) and what the
numbers mean.

UI ring: static text only.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

#: How the help names keys a binding does not give a `key_display` for (the footer keeps its own).
KEY_NAMES = {"enter": "Enter", "escape": "Esc", "up": "↑", "down": "↓", "question_mark": "?"}

NOTES = (
    (
        "finishes: the clock time of the last step, from the steady step time (compile warm-up left out) "
        "plus the evals still to come; the band in brackets is its likely range. took/running ≈: added up from "
        "the printed step times (a log opened after the run), not seen."
    ),
    (
        "energy: measured from the GPUs (NVML or --gpu-log) since the run's first line; → is the projection "
        "to the finish. cost = energy × PUE × price."
    ),
    (
        "charts: against the iteration. Step-time peaks (evals, checkpoints, compile) are cut at the top and "
        "marked ▴, so the steady pace keeps the height; the title says how high they went."
    ),
    "MFU: as the training script printed it, and against the detected GPU's peak.",
    (
        "GPUs: VRAM used/total in GiB (the run's peak after it), power in W (/ the limit), util: the share of "
        "time a kernel ran (NVML's, not how busy the cores were), temperature. More GPUs than the panel's "
        "rows: the last row sums the others (+5 more GPUs · power · VRAM)."
    ),
    "replay and demo: clock times are the recording's, not now's; the header says the speed.",
    "Log text is shown as text: nothing in a log line can change the screen.",
)


def keys(bindings: Iterable[BindingType]) -> list[tuple[str, str]]:
    """(keys, what they do) for the help, from the key bindings themselves: the tooltip, else
    the footer's description; a hidden binding without a tooltip (ctrl+c, backspace) is left
    out; bindings that say the same thing share a line (`[ ]`, `↑ ↓`)."""
    out: list[tuple[str, str]] = []
    for binding in bindings:
        if not isinstance(binding, Binding):
            binding = Binding(*binding)
        if not binding.show and not binding.tooltip:
            continue
        key = binding.key_display or KEY_NAMES.get(binding.key, binding.key)
        what = binding.tooltip or binding.description
        if out and out[-1][1] == what:
            out[-1] = (f"{out[-1][0]} {key}", what)
        else:
            out.append((key, what))
    return out


class HelpScreen(ModalScreen[None]):
    """The keys that work where it was opened (from their bindings), then what the numbers mean."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "dismiss", "close"),
    ]

    def __init__(self, bindings: Iterable[BindingType]) -> None:
        super().__init__()
        self.keys = keys(bindings)

    def compose(self) -> ComposeResult:
        # A grid, not padded text: a description that wraps (at 80 columns) stays under its
        # own column instead of falling back under the keys.
        grid = Table.grid(padding=(0, 1))
        grid.add_column(style="bold cyan", no_wrap=True)
        grid.add_column()
        for key, what in self.keys:
            grid.add_row(f" {key}", Text(what))
        notes = [Text(note) for note in NOTES]
        with VerticalScroll(id="help-box"):
            yield Static(Group(Text("nanowatch keys\n", style="bold"), grid, Text(), *notes_spaced(notes)))


def notes_spaced(notes: list[Text]) -> list[Text]:
    """The notes with a blank line between each two."""
    out: list[Text] = []
    for note in notes:
        out += [note, Text()]
    return out[:-1]
