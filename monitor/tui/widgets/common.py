"""Small pieces the widgets share: log text made safe to show, bars, clock times, status styles.

UI ring helpers: no I/O, no clock; log text always goes through `safe` into a rich Text.
"""

from __future__ import annotations

import math

from rich.text import Text
from textual.widgets import Static

from monitor.core.sanitise import clean

STATUS_STYLE = {
    "waiting": "bold reverse",
    "starting": "bold cyan",
    "training": "bold green",
    "evaluating": "bold blue",
    "stalled": "bold black on yellow",
    "finished": "bold black on green",
    "crashed": "bold white on red",
    "interrupted": "bold black on yellow",
}


def safe(text: str) -> str:
    """Outside text made safe for the terminal: the one sanitiser, core.sanitise.clean()."""
    return clean(text)


def plain(text: str, style: str = "") -> Text:
    """A Text holding `text` as it is: no markup parsed, controls made visible."""
    return Text(safe(text), style=style, no_wrap=False)


def bar(fraction: float | None, width: int, style: str = "green") -> Text:
    """A horizontal bar of `width` cells filled to `fraction` (unknown: an empty dotted bar)."""
    width = max(1, width)
    if fraction is None or not math.isfinite(fraction):
        return Text("┄" * width, style="dim")
    filled = min(width * 8, max(0, round(fraction * width * 8)))
    full, part = divmod(filled, 8)
    partial = " ▏▎▍▌▋▊▉"[part] if part and full < width else ""
    rest = width - full - len(partial)
    return Text.assemble(("█" * full + partial, style), ("░" * rest, "dim"))


class SnapshotView(Static):
    """A Static that re-renders only when what it shows has changed."""

    def __init__(self, *, id: str | None = None, classes: str | None = None, wraps: bool = False) -> None:
        super().__init__("", id=id, classes=classes)
        self._shown: Text | None = None
        self._wraps = wraps  # wrapped text can change height without changing its line count

    def put(self, text: Text) -> None:
        if text != self._shown:
            # A new layout only when the height may change (a line more or less): relayout
            # of the whole screen is most of what an idle redraw costs.
            lines = text.plain.count("\n")
            layout = self._wraps or self._shown is None or self._shown.plain.count("\n") != lines
            self._shown = text
            self.update(text, layout=layout)
