"""Small pieces the widgets share: log text made safe to show, bars, clock times, status styles.

UI ring helpers: no I/O, no clock; log text always goes through `safe` into a rich Text.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from rich.segment import Segment
from rich.style import Style as RichStyle
from rich.terminal_theme import TerminalTheme
from rich.text import Text
from textual.geometry import Region
from textual.strip import Strip
from textual.style import Style as VisualStyle
from textual.widget import Widget
from textual.widgets import Static

from monitor.core.sanitise import clean
from monitor.core.snapshot import Snapshot

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


class _Reads:
    """A Snapshot that notes the fields read from it, with their values."""

    __slots__ = ("_snap", "read")

    def __init__(self, snap: Snapshot) -> None:
        self._snap = snap
        self.read: dict[str, object] = {}

    def __getattr__(self, name: str) -> object:
        value = getattr(self._snap, name)
        self.read[name] = value
        return value


def _equal(a: object, b: object) -> bool:
    try:
        return a is b or bool(a == b)
    except (TypeError, ValueError):  # an array: not compared, so never taken as unchanged
        return False


class BuiltFrom:
    """What a widget's text was last built from: the Snapshot fields the builder read (and
    their values) and its other arguments. Builders are pure functions of those, so a newer
    Snapshot with the same values in those fields builds the same text: it is not built again.
    (A NaN is never equal to itself: its text is built again, as it would be anyway.)"""

    def __init__(self) -> None:
        self._read: dict[str, object] | None = None
        self._args: tuple[object, ...] = ()

    def text(self, snap: Snapshot, args: tuple[object, ...], build: Callable[[Snapshot], Text]) -> Text | None:
        """`build(snap)`, or None when it would give the text built last time."""
        read = self._read
        if read is not None and args == self._args and all(_equal(getattr(snap, k), v) for k, v in read.items()):
            return None
        reads = _Reads(snap)
        text = build(reads)  # type: ignore[arg-type]  # reads as a Snapshot does
        self._read, self._args = reads.read, args
        return text


class _FromSnapshot:
    """A widget whose text is built from a Snapshot: not built again while what it read is
    unchanged (BuiltFrom)."""

    _built: BuiltFrom
    put: Callable[[Text], None]

    def put_from(self, snap: Snapshot, args: tuple[object, ...], build: Callable[[Snapshot], Text]) -> None:
        """Show `build(snap)` (`args`: what else the text depends on, e.g. the width)."""
        text = self._built.text(snap, args, build)
        if text is not None:
            self.put(text)


class PaintedLines(Widget):
    """A widget whose painted lines (content, padding and border, as Textual's styles cache
    gives them) are kept until it is next marked dirty: Textual repaints every widget in
    the rectangle around a frame's changes (the progress line at the top and the totals'
    loss line below the charts, at every step), and a widget in there that did not change
    then costs a lookup."""

    _painted: tuple[Region, list[Strip]] | None = None

    def render_lines(self, crop: Region) -> list[Strip]:
        painted = self._painted
        if painted is not None and painted[0] == crop:
            return painted[1]
        strips = super().render_lines(crop)
        self._painted = (crop, strips)
        return strips

    def _set_dirty(self, *regions: Region) -> None:
        # Widget._set_dirty is where Textual marks the styles cache's lines stale (refresh,
        # a new style or pseudo-class, a scroll): the lines kept here go with them.
        self._painted = None
        super()._set_dirty(*regions)

    def notify_style_update(self) -> None:
        self._painted = None
        super().notify_style_update()


class SnapshotView(_FromSnapshot, Static):
    """A Static that re-renders only when what it shows has changed, and asks for a new
    layout of the screen only when its height changes."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(Text(), id=id, classes=classes)
        self._built = BuiltFrom()
        self._shown: Text | None = None
        self._rows: tuple[int, int] = (0, 0)  # (width, rows) of the text shown

    def put(self, text: Text) -> None:
        if self._shown is not None and same_text(text, self._shown):
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


class TextLines(_FromSnapshot, PaintedLines):
    """Lines of text that never wrap (a line too long for the width ends in …), drawn from
    strips built straight from the rich Text: a change costs about a tenth of a Static's
    re-render (its content pipeline ran for every changed panel at every redraw). Only the
    lines whose text changed are rebuilt and repainted (Textual then repaints those rows,
    not the whole panel and its border); a layout is asked for only when the number of
    lines changes."""

    DEFAULT_CSS = """
    TextLines {
        height: auto;
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._built = BuiltFrom()
        #: content lines changed since the last paint, repainted into the kept painted lines
        self._changed: set[int] = set()
        self._refreshing_rows = False
        #: how Textual's styles cache laid out the last full paint (see _Layout)
        self._laid_out: _Layout | None = None
        self._text = Text()
        self._lines: list[Text] = [Text()]
        self._strips: list[Strip | None] = [None]  # per line; None: to build at the next paint
        self._width = -1
        self._styles: dict[RichStyle, RichStyle] = {}  # a span's style as Textual paints it
        self._theme: TerminalTheme | None = None  # the app's ANSI theme (until a style update)

    @property
    def content(self) -> Text:
        """The text shown (as `Static.content` is)."""
        return self._text

    def render(self) -> Text:
        """The text shown (the screen is drawn by render_line)."""
        return self._text

    def put(self, text: Text) -> None:
        if same_text(text, self._text):
            return
        # (a Text made by split runs its text through rich's control-code filter again)
        lines = (list(text.split("\n", allow_blank=True)) or [Text()]) if "\n" in text.plain else [text]
        old, self._text, self._lines = self._lines, text, lines
        width = self.size.width
        if len(lines) != len(old) or not width:
            self._strips = [None] * len(lines)
            self.refresh(layout=len(lines) != len(old))
            return
        for y, (line, was) in enumerate(zip(lines, old)):
            if not same_text(line, was):
                self._strips[y] = None
                self._changed.add(y)
                self._refreshing_rows = True
                try:
                    self.refresh(Region(0, y, width, 1))
                finally:
                    self._refreshing_rows = False

    def _set_dirty(self, *regions: Region) -> None:
        if self._refreshing_rows and regions:
            # A changed line of ours (put): Textual repaints its row; the painted lines are
            # kept, that row repainted into them (render_lines).
            Widget._set_dirty(self, *regions)
            return
        self._changed.clear()
        super()._set_dirty(*regions)

    def render_lines(self, crop: Region) -> list[Strip]:
        """The painted lines, the changed content lines laid into the kept ones where Textual's
        styles cache lays a line out plainly (see _Layout); else through that cache."""
        painted, layout = self._painted, self._laid_out
        if self._changed:
            if painted is not None and painted[0] == crop and layout is not None:
                strips = layout.lay(painted[1], crop, self._changed, self.render_line)
                if strips is not None:
                    self._changed.clear()
                    self._painted = (crop, strips)
                    return strips
            self._changed.clear()
            self._painted = painted = None
        strips = super().render_lines(crop)
        if self._painted is not painted:  # painted afresh through the styles cache
            self._laid_out = _Layout.of(self)
        return strips

    def get_content_height(self, container: object, viewport: object, width: int) -> int:  # type: ignore[override]
        return len(self._lines)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._laid_out = None
        # another theme: the same text over other colours
        self._styles, self._theme = {}, None
        self._strips = [None] * len(self._lines)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if width != self._width:
            self._strips, self._width = [None] * len(self._lines), width
        if y >= len(self._lines):
            return Strip.blank(width, self.visual_style.rich_style)
        strip = self._strips[y]
        if strip is None:
            strip = self._strips[y] = self._render_strip(self._lines[y], width)
        return strip

    def _render_strip(self, line: Text, width: int) -> Strip:
        base = self.visual_style.rich_style
        # The Text's own style is read as Textual reads it (a string in its CSS colours);
        # the spans' styles as rich styles, as Textual's text pipeline does.
        whole = line.style
        if whole or line.cell_len > width:  # a copy to cut or to take the style off (~0.1 ms)
            line = line.copy()
            line.truncate(width, overflow="ellipsis")
            line.style = ""
        theme = self._theme
        if theme is None:
            theme = self._theme = self.app.ansi_theme
        lead = VisualStyle.parse(whole) if isinstance(whole, str) else VisualStyle.from_rich_style(whole, theme)
        under = base + lead.rich_style if whole else base
        segments = [Segment(text, under + self._styled(style, theme) if style else under)
                    for text, style, _ in line.render(self.app.console, end="")]
        return Strip(segments).adjust_cell_length(width, base)

    def _styled(self, style: RichStyle, theme: TerminalTheme) -> RichStyle:
        styled = self._styles.get(style)
        if styled is None:
            styled = self._styles[style] = VisualStyle.from_rich_style(style, theme).rich_style
        return styled


class _Layout:
    """How Textual's styles cache lays out a content line of a widget whose styles draw
    nothing over it (no side border or outline, no tint, hatch or opacity): the left padding,
    the line, the right padding, then the app's line filters over the background. A changed
    line is laid into the kept painted line the same way, without the cache's per-paint work
    (~0.4 ms a widget on this VM: its background, title and styles looked up again)."""

    __slots__ = ("background", "content_width", "filters", "left", "top", "width")

    def __init__(self, widget: Widget) -> None:
        self.background = widget.background_colors[1]
        self.filters = tuple(widget.app.get_line_filters())
        self.left, self.top = widget.content_offset
        self.content_width, self.width = widget.size.width, widget.outer_size.width

    @classmethod
    def of(cls, widget: Widget) -> _Layout | None:
        """The widget's layout, or None where its styles draw over its lines."""
        styles = widget.styles
        plain = (
            not styles.border_left[0] and not styles.border_right[0]
            and not any(edge for edge, _ in styles.outline)
            and not styles.tint.a and styles.text_opacity == 1.0 and widget.opacity == 1.0
            and (not styles.has_rule("hatch") or styles.hatch == "none")
        )  # fmt: skip
        return cls(widget) if plain else None

    def lay(self, strips: list[Strip], crop: Region, rows: set[int],
            render_line: Callable[[int], Strip]) -> list[Strip] | None:
        """`strips` (painted for `crop`) with content lines `rows` laid in again, or None when
        `crop` cuts columns."""
        if crop.x != 0 or crop.width != self.width:
            return None
        strips = list(strips)
        right = self.left + self.content_width
        for y in rows:
            i = y + self.top - crop.y
            if not 0 <= i < len(strips):
                continue
            line = render_line(y)
            for line_filter in self.filters:
                line = line.apply_filter(line_filter, self.background)
            old = strips[i]
            strips[i] = Strip.join([old.crop(0, self.left), line, old.crop(right, self.width)])
        return strips


def same_text(a: Text, b: Text) -> bool:
    """The same characters in the same styles (rich's Text == leaves out the Text's own style)."""
    return a.plain == b.plain and a.style == b.style and a.spans == b.spans
