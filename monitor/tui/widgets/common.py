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
    """A Static that re-renders only when what it shows has changed, and asks for a new
    layout of the screen only when its height changes."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__("", id=id, classes=classes)
        self._shown: Text | None = None
        self._rows: tuple[int, int] = (0, 0)  # (width, rows) of the text shown

    def put(self, text: Text) -> None:
        if text == self._shown:
            return
        self._shown = text
        width = self.content_size.width
        if not width:  # not laid out yet
            self.update(text)
            return
        # A layout of the whole screen costs more than the rest of a redraw: only when the
        # text needs another number of rows at this width (a line more, or wrapped otherwise).
        before = self._rows[1] if self._rows[0] == width else self.get_content_height(self.size, self.size, width)
        self.update(text, layout=False)
        if self.styles.text_wrap == "nowrap":
            rows = text.plain.count("\n") + 1
        else:
            rows = self.get_content_height(self.size, self.size, width)
        self._rows = (width, rows)
        if rows != before:
            self.refresh(layout=True)
