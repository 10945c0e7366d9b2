"""Small pieces the widgets share: log text made safe to show, bars, clock times, status styles.

UI ring helpers: no I/O, no clock; log text always goes through `safe` into a rich Text.
"""

from __future__ import annotations

import math

from rich.segment import Segment
from rich.style import Style as RichStyle
from rich.text import Text
from textual.strip import Strip
from textual.style import Style as VisualStyle
from textual.widget import Widget
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


class TextLines(Widget):
    """Lines of text that never wrap (a line too long for the width ends in …), drawn from
    strips built straight from the rich Text: a change costs about a tenth of a Static's
    re-render (its content pipeline ran for every changed panel at every redraw). Re-renders
    only when what it shows has changed; asks for a layout only when the number of lines does."""

    DEFAULT_CSS = """
    TextLines {
        height: auto;
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._text = Text()
        self._lines: list[Text] = [Text()]
        self._strips: list[Strip] = []
        self._width = -1

    @property
    def content(self) -> Text:
        """The text shown (as `Static.content` is)."""
        return self._text

    def render(self) -> Text:
        """The text shown (the screen is drawn by render_line)."""
        return self._text

    def put(self, text: Text) -> None:
        if text == self._text:
            return
        lines = list(text.split("\n", allow_blank=True)) or [Text()]
        layout = len(lines) != len(self._lines)
        self._text, self._lines, self._strips = text, lines, []
        self.refresh(layout=layout)

    def get_content_height(self, container: object, viewport: object, width: int) -> int:  # type: ignore[override]
        return len(self._lines)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips = []  # another theme: the same text over other colours

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if not self._strips or width != self._width:
            self._strips, self._width = self._render_strips(width), width
        if y < len(self._strips):
            return self._strips[y]
        return Strip.blank(width, self.visual_style.rich_style)

    def _render_strips(self, width: int) -> list[Strip]:
        base = self.visual_style.rich_style
        console, theme = self.app.console, self.app.ansi_theme
        styles: dict[RichStyle, RichStyle] = {}

        def styled(style: RichStyle) -> RichStyle:
            if style not in styles:
                styles[style] = VisualStyle.from_rich_style(style, theme).rich_style
            return styles[style]

        out = []
        for line in self._lines:
            line = line.copy()
            if line.cell_len > width:
                line.truncate(width, overflow="ellipsis")
            # The Text's own style is read as Textual reads it (a string in its CSS colours);
            # the spans' styles as rich styles, as Textual's text pipeline does.
            whole = line.style
            line.style = ""
            lead = VisualStyle.parse(whole) if isinstance(whole, str) else VisualStyle.from_rich_style(whole, theme)
            under = base + lead.rich_style if whole else base
            segments = [Segment(text, under + styled(style) if style else under)
                        for text, style, _ in line.render(console, end="")]
            out.append(Strip(segments).adjust_cell_length(width, base))
        return out
