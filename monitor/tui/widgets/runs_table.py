"""The runs table of `nanowatch LOG1 LOG2 …`: one row per log (run, status, progress, finish,
kWh, cost); Enter on a row asks for that run's full screen.

UI ring: renders RunRows built by monitor.core.rows; no I/O, no clock. Log names are data, not markup.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import DataTable

from monitor.core.rows import COLUMNS, RunRow
from monitor.tui.widgets.common import STATUS_STYLE


class RunsTable(DataTable[Text]):
    """Rows keep their place and the cursor stays put while the numbers change."""

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
        self._shown: list[tuple[str, ...]] = []

    def on_mount(self) -> None:
        for name in COLUMNS:
            self.add_column(name, key=name)

    def show(self, rows: Sequence[RunRow], statuses: Sequence[str]) -> None:
        for i, (row, status) in enumerate(zip(rows, statuses)):
            cells = row.cells()
            rendered = [Text(c) for c in cells]  # a file name is shown as text, never as markup
            rendered[1].stylize(STATUS_STYLE.get(status, ""))
            if i >= len(self._shown):
                self.add_row(*rendered, key=str(i))
                self._shown.append(cells)
            elif cells != self._shown[i]:
                for name, old, new, text in zip(COLUMNS, self._shown[i], cells, rendered):
                    if old != new:
                        self.update_cell(str(i), name, text, update_width=True)
                self._shown[i] = cells

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.post_message(self.Chosen(int(event.row_key.value)))
