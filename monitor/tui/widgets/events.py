"""The events panel: evals, checkpoints, warnings and tracebacks of the run, newest last.

UI ring: renders a Snapshot; log text is shown as text (escaped), never as markup.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll

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


class EventsPanel(Vertical):
    """The run's warnings (a few lines that may change every second) above its events (which
    change only when the log says something), scrolling with the newest event unless the user
    has scrolled up to read."""

    ALLOW_MAXIMIZE = True

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.warnings = SnapshotView(classes="events-warnings")
        self.notes = VerticalScroll(classes="events-notes")
        self._body = SnapshotView(classes="events-body")
        self._key: object = None

    def compose(self) -> ComposeResult:
        yield self.warnings
        with self.notes:
            yield self._body

    def show(self, snap: Snapshot) -> None:
        warnings = warnings_text(snap)
        self.warnings.display = bool(warnings)
        self.warnings.put(warnings)
        key = (len(snap.notes), snap.notes[-1:])
        if key == self._key:
            return
        self._key = key
        notes = self.notes
        following = notes.scroll_y >= notes.max_scroll_y - 1
        self._body.put(events_text(snap))
        if following:
            notes.call_after_refresh(notes.scroll_end, animate=False)


def warnings_text(snap: Snapshot) -> Text:
    text = Text()
    for warning in snap.warnings:
        if text:
            text.append("\n")
        text.append("warning  ", style="bold yellow")
        text.append_text(plain(warning))
    return text


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
