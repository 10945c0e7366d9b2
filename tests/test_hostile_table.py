"""The runs table at 80 columns: a long log name gives way (an ellipsis) before the finish,
kWh and cost columns are cut."""

from __future__ import annotations

import pytest
from rich.cells import cell_len
from test_app import sync
from test_multi import StaticRuns, _static_runs

from monitor.tui.multi_app import make_multi_app
from monitor.tui.widgets.runs_table import MIN_CELLS, RunsTable, fit_widths, shorten

LONG = "experiments/2026-11-30_gpt2_124M_lr_sweep/lr_3e-4_warmup_2000_wd_0.1/train.log"


def test_the_run_column_gives_way_first_then_the_status() -> None:
    assert fit_widths([20, 8, 8, 16, 11, 9], 80) == [20, 8, 8, 16, 11, 9]  # it fits: untouched
    assert fit_widths([60, 8, 8, 16, 11, 9], 80) == [28, 8, 8, 16, 11, 9]
    # the name at its least, then the status; the figures are never cut
    assert fit_widths([60, 30, 8, 16, 11, 9], 50) == [MIN_CELLS[0], MIN_CELLS[1], 8, 16, 11, 9]


@pytest.mark.parametrize(("text", "width", "middle", "out"), [
    ("short.log", 20, True, "short.log"),
    ("abcdefghij.log", 9, True, "abcd….log"),
    ("crashed (run 2) · loss NaN", 10, False, "crashed (…"),
    ("日本語のとても長い名前.log", 10, True, "日本….log"),  # a wide character is not split
])
def test_shorten_keeps_the_width_and_says_it_cut(text: str, width: int, middle: bool, out: str) -> None:
    got = shorten(text, width, middle=middle)
    assert got == out
    assert cell_len(got) <= width


def _long_named_runs() -> StaticRuns:
    runs = _static_runs()
    runs.names[1] = LONG
    return runs


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_a_long_name_leaves_the_figures_whole(snap_compare, size: tuple[int, int]) -> None:
    from tui_fakes import utc

    app = make_multi_app(lambda wake, notice: _long_named_runs())  # type: ignore[arg-type,return-value]
    with utc():
        assert snap_compare(app, terminal_size=size)


@sync
async def test_the_figures_stay_whole_at_80_columns_and_come_back_when_wider() -> None:
    app = make_multi_app(lambda wake, notice: _long_named_runs())  # type: ignore[arg-type,return-value]
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        table = app.query_one(RunsTable)
        full = table._cells[1]
        shown = [str(table.get_cell(str(1), c)) for c in ("run", "progress", "finish", "kWh", "cost")]
        assert shown[1:] == [full[2], full[3], full[4], full[5]]
        assert shown[0] == "exper….log"  # its start and its end
        assert sum(table._widths) + 2 * len(table._widths) <= 80
        await pilot.resize_terminal(200, 24)
        await pilot.pause()
        assert str(table.get_cell("1", "run")) == LONG


@sync
async def test_long_totals_wrap_rather_than_lose_the_cost(monkeypatch) -> None:
    from monitor.tui import multi_app

    long = "12 runs · 4 training · 1234.567 kWh → 4567.890 kWh · 185.19 → 685.18 USD"
    monkeypatch.setattr(multi_app, "totals", lambda snaps: long)
    app = make_multi_app(lambda wake, notice: _long_named_runs())  # type: ignore[arg-type,return-value]
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        summary = app.query_one("#runs-summary")
        assert summary.size.height == 2
        shown = "".join(strip.text for strip in summary.render_lines(summary.region.reset_offset))
        assert "685.18 USD" in shown and "…" not in shown
