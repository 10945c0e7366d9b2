"""The runs table of `nanowatch LOG1 LOG2 …`: one row per log (run, status, progress, finish,
kWh, cost); Enter on a row asks for that run's full screen.

UI ring: renders RunRows built by monitor.core.rows; no I/O, no clock. Log names are data, not markup.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.cells import cell_len
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import DataTable

from monitor.core.rows import COLUMNS, RunRow
from monitor.tui.widgets.common import STATUS_STYLE
from monitor.tui.widgets.names import fit_names, shorten

#: A cut column keeps at least this many cells (its ellipsis included): run, then status.
MIN_CELLS = (10, 9)


def fit_widths(natural: Sequence[int], room: int) -> list[int]:
    """Column widths (cells) for `natural` widths in `room` cells: when they do not fit, the
    run column gives way first, then the status column, each down to MIN_CELLS; the figures
    (progress, finish, kWh, cost) are never cut (past that, the table scrolls sideways)."""
    widths = list(natural)
    excess = sum(widths) - room
    for i, least in enumerate(MIN_CELLS):
        if excess <= 0:
            break
        cut = max(0, min(excess, widths[i] - least))
        widths[i] -= cut
        excess -= cut
    return widths


class RunsTable(DataTable[Text]):
    """Rows keep their place and the cursor stays put while the numbers change; the columns
    fit the table's width (a long log name is shortened, the figures are kept whole)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        # up and down are DataTable's own; listed here so that the help names them
        Binding("up", "cursor_up", "up", show=False, tooltip="choose a run in the table"),
        Binding("down", "cursor_down", "down", show=False, tooltip="choose a run in the table"),
        Binding("enter", "select_cursor", "open run", tooltip="open the chosen run's full screen"),
    ]

    class Chosen(Message):
        """The user pressed Enter on a run (its position in the list of logs)."""

        def __init__(self, index: int) -> None:
            super().__init__()
            self.index = index

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        #: every row's full cells, and the statuses that style them
        self._cells: list[tuple[str, ...]] = []
        self._statuses: list[str] = []
        #: the column widths and the (shortened) cells on screen
        self._widths: list[int] = []
        self._shown: list[tuple[str, ...]] = []
        self._on_screen_only = False

    def show(self, rows: Sequence[RunRow], statuses: Sequence[str], *, on_screen_only: bool = False) -> None:
        """Show `rows`; `on_screen_only`: a row out of sight keeps what it shows until a later
        show (any cell updated repaints every row on screen: 200 rows filled one by one out of
        sight would repaint it 200 times)."""
        self._cells = [row.cells() for row in rows]
        self._statuses = list(statuses)
        self._on_screen_only = on_screen_only
        self._lay_out()

    def on_resize(self, event: events.Resize) -> None:
        self._lay_out()

    def _room(self) -> int:
        """Cells for the columns' text: the table's width less each cell's padding (a cell
        more and a scrollbar would take a row)."""
        width = self.scrollable_content_region.width or self.app.size.width
        return width - 2 * self.cell_padding * len(COLUMNS)

    def _lay_out(self) -> None:
        natural = [max([cell_len(name), *(cell_len(cells[i]) for cells in self._cells)])
                   for i, name in enumerate(COLUMNS)]
        widths = fit_widths(natural, self._room())
        if widths != self._widths:  # new widths: the columns are laid again, the cursor kept
            row = self.cursor_row
            self.clear(columns=True)
            for name, width in zip(COLUMNS, widths):
                self.add_column(name, width=width, key=name)
            self._widths, self._shown = widths, []
            if self._cells:
                self._put_rows()
                self.move_cursor(row=min(row, len(self._cells) - 1), scroll=False)
            return
        self._put_rows()

    def _put_rows(self) -> None:
        top = self.scroll_offset.y
        seen = range(top, top + self.size.height) if self._on_screen_only else range(len(self._cells))
        names = fit_names([full[0] for full in self._cells], self._widths[0])  # still told apart
        for i, (full, status) in enumerate(zip(self._cells, self._statuses)):
            if i < len(self._shown) and i not in seen:
                continue
            cells = (names[i], *(shorten(c, w, middle=False) for c, w in zip(full[1:], self._widths[1:])))
            rendered = [Text(c) for c in cells]  # a file name is shown as text, never as markup
            rendered[1].stylize(STATUS_STYLE.get(status, ""))
            if i >= len(self._shown):
                self.add_row(*rendered, key=str(i))
                self._shown.append(cells)
            elif cells != self._shown[i]:
                for name, old, new, text in zip(COLUMNS, self._shown[i], cells, rendered):
                    if old != new:
                        self.update_cell(str(i), name, text)
                self._shown[i] = cells

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.post_message(self.Chosen(int(event.row_key.value)))
