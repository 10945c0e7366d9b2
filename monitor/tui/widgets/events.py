"""The events panel: evals, checkpoints, warnings and tracebacks of the run, newest last.

UI ring: renders a Snapshot; log text is shown as text (escaped), never as markup.
"""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.visual import visualize

from monitor.core import textfmt as fmt
from monitor.core.snapshot import Snapshot
from monitor.tui.widgets.common import SnapshotView, plain

KIND_STYLE = {
    "eval": "cyan",
    "checkpoint": "green",
    "warning": "yellow",
    "nan": "bold yellow",
    "resume": "magenta",
    "crash": "bold red",
    "interrupted": "bold yellow",
}
#: Rows the warnings may always fill (the pane's first ones); beyond them they leave this
#: many rows to the events below. Warnings that do not fit are counted on a last line.
WARNING_ROWS, EVENT_ROWS = 5, 3
#: How report.py's stall warning begins (`no new line for 5m 3s (last at 14:32:05)`).
STALL_WARNING = "no new line for "


class EventsPanel(Vertical):
    """The run's warnings (a few lines that may change every second) above its events (which
    change only when the log says something), scrolling with the newest event unless the user
    has scrolled up to read. Warnings that do not fit the pane (80x24 leaves it two rows) are
    not cut silently: the last row says how many more there are and that `e` shows them."""

    ALLOW_MAXIMIZE = True

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.warnings = SnapshotView(classes="events-warnings")
        self.notes = VerticalScroll(classes="events-notes")
        self._body = SnapshotView(classes="events-body")
        self._key: object = None
        self._warnings: tuple[str, ...] = ()
        #: when the log went silent, in the events' time column, while the run is stalled
        self._silent_since: str | None = None
        self._fitted: object = None

    def compose(self) -> ComposeResult:
        yield self.warnings
        with self.notes:
            yield self._body

    def show(self, snap: Snapshot) -> None:
        self._warnings = box_warnings(snap)
        stalled = snap.status == "stalled" and snap.last_line_t is not None
        self._silent_since = fmt.clock(snap.last_line_t, snap.t) if stalled else None
        self._show_warnings()
        key = (len(snap.notes), snap.notes[-1:])
        if key == self._key:
            return
        self._key = key
        self._body.put(events_text(snap))

    def on_mount(self) -> None:
        # Textual's anchor keeps the newest event in view as events come and the pane changes size,
        # lets go when the user scrolls up to read, and takes hold again once they are back at the end.
        self.notes.anchor()

    def on_resize(self, event: events.Resize) -> None:
        # Maximized (e) or a new terminal size: another number fits. After this layout is
        # done: a new height asked for while it is under way would be lost.
        self.call_after_refresh(self._show_warnings)

    def _show_warnings(self) -> None:
        width, rows = self.content_size.width, self.content_size.height
        key = (self._warnings, self._silent_since, width, rows)
        if key == self._fitted:
            return
        self._fitted = key
        texts = [warning_text(w, self._silent_since if w.startswith(STALL_WARNING) else None) for w in self._warnings]
        if width and rows:
            texts = fit_rows(texts, [self._rows(t, width) for t in texts],
                             max(min(rows, WARNING_ROWS), rows - EVENT_ROWS))
        text = Text("\n").join(texts)
        self.warnings.display = bool(text)
        self.warnings.put(text)

    def _rows(self, text: Text, width: int) -> int:
        """Rows `text` takes in the warnings' box at `width` cells (wrapped at words, as shown)."""
        visual = visualize(self.warnings, text, markup=False)
        return visual.get_height(self.warnings.styles, width)  # type: ignore[arg-type]  # as Widget.get_content_height does


def fit_rows(texts: list[Text], rows: list[int], room: int) -> list[Text]:
    """The first warnings that fit in `room` rows, the last row saying how many more there are
    (all of them when they fit)."""
    if sum(rows) <= room:
        return texts
    shown, used = 0, 0
    while shown < len(texts) and used + rows[shown] <= room - 1:
        used += rows[shown]
        shown += 1
    more = len(texts) - shown
    return [*texts[:shown], Text(f"+{fmt.counted(more, 'more warning')} (e: all events)", style="bold yellow")]


def box_warnings(snap: Snapshot) -> tuple[str, ...]:
    """The warnings shown above the events: all but those the events below already hold with
    their time (a log cut the run went on through is one `resume` event, its warning the same
    text, with `(N times)` after it when it was cut again)."""
    events = {text for _, kind, text in snap.notes if kind == "resume"}
    return tuple(w for w in snap.warnings if w not in events and w.rpartition(" (")[0] not in events)


def warning_text(warning: str, since: str | None = None) -> Text:
    """A warning row; one with `since` (the stall's: when the log went silent) is laid out
    as an event, in the events' time and kind columns."""
    if since is None:
        return Text.assemble(("warning  ", "bold yellow"), plain(warning))
    return Text.assemble((f"{since} ", "dim"), (f"{'stalled':<10} ", "bold yellow"), plain(warning))


def events_text(snap: Snapshot) -> Text:
    text = Text()
    for t, kind, message in snap.notes:
        if text:
            text.append("\n")
        text.append(f"{fmt.clock(t, snap.t) if t is not None else '--:--:--'} ", style="dim")
        text.append(f"{kind:<10} ", style=KIND_STYLE.get(kind, ""))
        text.append_text(plain(message))
    if not text:
        text.append("no evals, checkpoints or warnings yet", style="dim")
    return text
