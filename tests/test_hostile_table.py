"""The runs table at 80 columns: a long log name gives way (an ellipsis) before the finish,
kWh and cost columns are cut, and names that share a long start and end still read apart."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.cells import cell_len
from test_app import sync
from test_multi import StaticRuns, _static_runs

from monitor.core.sanitise import clean_name
from monitor.tui.multi_app import make_multi_app
from monitor.tui.widgets.names import fit_names, shorten
from monitor.tui.widgets.runs_table import MIN_CELLS, RunsTable, fit_widths

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


# --- names that share a long start and end --------------------------------------------------

SWEEP = ["llmc_gpt2_124M_run1.log", "llmc_gpt2_124M_run2.log", "mng_2025_a.log", "mng_2025_b.log",
         "exp_2025_11_30_gpt2_124M_fineweb_seed1.log", "exp_2025_11_30_gpt2_124M_fineweb_seed2.log",
         "nanochat_speedrun_d20_seed1.log", "nanochat_speedrun_d20_seed2.log",
         "nanogpt_shakespeare_char_lr3e-4.log", "nanogpt_shakespeare_char_lr6e-4.log"]


@pytest.mark.parametrize("width", [9, 10, 11, 14, 18, 30])
def test_names_that_share_their_start_and_end_still_read_apart(width: int) -> None:
    shown = fit_names(SWEEP, width)
    assert len(set(shown)) == len(SWEEP)  # the middle cut alone gave `llmc_….log` twice at 10 cells
    for name, cut in zip(SWEEP, shown):
        assert cell_len(cut) <= width
        assert cut == name or (cut.count("…") == 1 and cut.endswith(name[-3:]))  # the extension kept


def test_a_name_cut_keeps_the_part_that_tells_it_apart() -> None:
    assert fit_names(SWEEP[:4], 10) == ["…_run1.log", "…_run2.log", "…025_a.log", "…025_b.log"]
    # with room for a start as well, the start is kept
    assert fit_names(SWEEP[4:8], 18) == ["exp…eweb_seed1.log", "exp…eweb_seed2.log",
                                         "nan…_d20_seed1.log", "nan…_d20_seed2.log"]
    # a cut that tells them apart already is the plain middle cut, as before; names that fit are whole
    assert fit_names(["a/train.log", LONG, "c/train.log"], 10) == ["a/tra….log", "exper….log", "c/tra….log"]
    assert fit_names(SWEEP[2:4], 14) == SWEEP[2:4]


def test_a_cut_name_stays_escaped() -> None:
    names = [clean_name(f"\x1b[2J\u202e{'x' * 20}_{i}.log") for i in (1, 2)]  # as RunRow.cells gives them
    assert names[0].startswith("\\x1b[2J\\u202e")
    shown = fit_names(names, 12)
    assert shown == ["\\x1b[2…1.log", "\\x1b[2…2.log"]  # cut as text: no control character comes back
    assert not any(char in cut for cut in shown for char in "\x1b\u202e\t\n")


@settings(max_examples=60, deadline=None)
@given(st.text("ab_-0123456789", max_size=40), st.lists(st.text("xyz0123456789", min_size=1, max_size=3),
       min_size=2, max_size=12, unique=True), st.sampled_from(["", ".log", "_train.log", ".txt"]),
       st.integers(10, 40))
def test_a_sweep_of_names_reads_apart_at_any_width(prefix: str, ids: list[str], suffix: str, width: int) -> None:
    names = [f"{prefix}{i}{suffix}" for i in ids]
    shown = fit_names(names, width)
    assert len(set(shown)) == len(names)
    assert all(cell_len(c) <= width for c in shown)


@sync
async def test_the_runs_table_at_80_columns_tells_a_sweep_apart() -> None:
    stem = "experiments_2026_11_30_gpt2_124M_fineweb10B_lr_sweep_warmup_700_run"
    runs = _static_runs()
    runs.names[:] = [f"{stem}{i}.log" for i in range(1, 4)]
    app = make_multi_app(lambda wake, notice: runs)  # type: ignore[arg-type,return-value]
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        table = app.query_one(RunsTable)
        shown = [str(table.get_cell(str(i), "run")) for i in range(3)]
        assert table._widths[0] < len(runs.names[0])  # cut
        assert len(set(shown)) == 3 and all(c.endswith(f"run{i}.log") for i, c in zip((1, 2, 3), shown))
