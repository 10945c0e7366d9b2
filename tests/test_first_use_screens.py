"""What the screen says to a new user: a NaN loss first, the val metric named as the log names
it, caveats and warnings wrapped at 80 columns, the events pane back at its newest entries
after `e` twice, and the several-logs view's help listing only its own keys."""

from __future__ import annotations

import pytest
from conftest import SAMPLES, FakeClock
from test_app import sync, text_of, until
from test_multi import _static_runs
from tui_fakes import recorded, session_at, utc

from monitor.session import Session
from monitor.tui.app import make_app
from monitor.tui.multi_app import make_multi_app
from monitor.tui.widgets import HelpScreen

NAN_LOG = SAMPLES / "nanogpt/chenzihua_termux_cpu_nan_killed.log"
BPB_LOG = SAMPLES / "nanochat/jonhenshaw_speedrun_gradnorm_aborted.log"
T0 = 1_800_000_000.0


@pytest.fixture(autouse=True)
def _utc():
    with utc():
        yield


def timed(path, step_s: float = 1.0) -> list[tuple[float, bytes]]:
    """The log's lines, one every `step_s` seconds from T0."""
    return [(T0 + i * step_s, line) for i, line in enumerate(path.read_bytes().splitlines())]


def nan_session(silent_s: float = 0.0) -> Session:
    """The CPU run whose loss turns NaN at step 425, seen `silent_s` after its last line."""
    clock = FakeClock()
    session = session_at(timed(NAN_LOG), clock, source="nan.log", gpus=None)
    clock.advance(silent_s)
    return session


# --- NaN first --------------------------------------------------------------------------------


@sync
async def test_a_nan_loss_is_the_first_thing_in_the_header() -> None:
    app = make_app(nan_session(), handle_signals=False)
    async with app.run_test(size=(80, 24)):
        header = text_of(app.header_view)
        assert header.index("LOSS IS NaN") < header.index("nan.log")
        assert header.startswith(" training ")
        assert "loss nan" in text_of(app.totals_view)


def test_a_nan_loss_is_in_the_status_row_of_once() -> None:
    from monitor.core.summary import summary

    text = summary(nan_session().snapshot())
    assert text.splitlines()[1] == "  status    training · loss is NaN"


def test_a_nan_loss_is_in_the_runs_table() -> None:
    from monitor.core import textfmt
    from monitor.core.rows import run_row

    assert run_row("nan.log", nan_session().snapshot()).status == "training · loss NaN"
    stalled = nan_session(3600).snapshot()  # the one status wording (core.textfmt.status_words)
    since = textfmt.clock(stalled.last_line_t, stalled.t, seconds=False)
    assert run_row("nan.log", stalled).status == f"stalled since {since} · loss NaN"


# --- the val metric named as the log names it ---------------------------------------------------


@sync
async def test_the_val_metric_is_named_as_the_log_names_it() -> None:
    clock = FakeClock()
    session = session_at(timed(BPB_LOG), clock, source="base_train.log", gpus=None)
    snap = session.snapshot()
    assert snap.val_metric == "bpb"
    assert "best val bpb 0.9506 (11 evals)" in __import__("monitor.core.summary").core.summary.summary(snap)
    app = make_app(session, handle_signals=False)
    async with app.run_test(size=(80, 24)):
        assert "val bpb 0.9506" in text_of(app.totals_view)
    assert nan_session().snapshot().val_metric == "loss"


# --- 80 columns: wrapped, not cut ------------------------------------------------------------


@sync
async def test_the_stall_caveat_and_warnings_wrap_at_80_columns() -> None:
    app = make_app(nan_session(silent_s=1800), handle_signals=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        finish = text_of(app.finish_view)
        assert finish.endswith(" if it goes on now") and len(finish) > 78
        assert app.finish_view.size.height == 2  # the caveat on a second line, whole
        warnings = app.events_view.warnings
        # the pane is laid out a refresh after its text changes: wait for the two to agree
        await until(pilot, lambda: warnings.size.height == len(text_of(warnings).splitlines()))
        shown = text_of(warnings).splitlines()
        # the pane's three rows: two whole warnings, and the third counted, not cut
        # (the stall's row in the events' columns: when the log went silent, then its kind)
        assert [line.split("  ")[0][-7:] for line in shown] == ["warning", "stalled", "+1 more warning (e: all events)"[-7:]]
        assert warnings.size.height == len(shown) == app.events_view.content_size.height
        await pilot.press("e")  # the pane maximized: all three, each whole, one of them on two lines
        await pilot.pause()
        lines = text_of(warnings).count("\n") + 1
        assert lines == 3 and warnings.size.height > lines


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_nan_and_stalled_screen(snap_compare, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(nan_session(silent_s=1800), handle_signals=False), terminal_size=size)


# --- events: `e` twice ---------------------------------------------------------------------------


@sync
async def test_events_show_the_newest_after_e_twice() -> None:
    app = make_app(session_at(recorded("compiled"), FakeClock(), gpus=None), handle_signals=False)
    async with app.run_test(size=(80, 24)) as pilot:
        notes = app.events_view.notes
        await until(pilot, lambda: notes.max_scroll_y > 0 and notes.scroll_y == notes.max_scroll_y)
        await pilot.press("e")
        await pilot.pause()
        await pilot.press("e")
        await until(pilot, lambda: app.screen.maximized is None and notes.max_scroll_y > 0)
        await until(pilot, lambda: notes.scroll_y == notes.max_scroll_y)


# --- the several-logs view's help ------------------------------------------------------------------


@sync
async def test_the_runs_table_help_lists_only_its_keys() -> None:
    app = make_multi_app(lambda wake, notice: _static_runs())  # type: ignore[arg-type,return-value]
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        keys = [key for key, _ in app.screen.keys]  # made from the table's and a run screen's bindings
        assert keys == ["q", "?", "Ctrl-Z", "↑ ↓", "Enter", "Esc", "l"]
        assert "Enter" in keys and "Esc" in keys
        assert not {"p", "f", "[ ]", "e"} & set(keys)


def test_runs_table_help_screen(snap_compare) -> None:
    app = make_multi_app(lambda wake, notice: _static_runs())  # type: ignore[arg-type,return-value]
    assert snap_compare(app, terminal_size=(80, 24), press=["question_mark"])
