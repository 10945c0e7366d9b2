"""The events pane at 80x24: warnings that do not fit its rows are counted on its last row,
never cut silently; `e` (the pane maximized) shows every one of them."""

from __future__ import annotations

from conftest import FakeClock
from rich.text import Text
from tui_fakes import recorded, session_at

from monitor.inbox import GpuFailed, SourceChanged, SourceFailed
from monitor.sources.problems import LoopFailed
from monitor.tui.app import make_app
from monitor.tui.widgets.events import fit_rows

COMPILED = recorded("compiled")
LONG = "the reader of {} failed and keeps trying again every second: " + "a long explanation " * 4


def _warned_app():
    session = session_at(COMPILED[:300], FakeClock(), gpus=None)
    session.ingest([SourceChanged("deleted"), SourceFailed("run.log was deleted; " + LONG.format("the log")),
                    SourceFailed(LoopFailed("follower of run.log", LONG.format("the log"))),
                    GpuFailed(LoopFailed("GPU sampler", LONG.format("NVML")))])
    return make_app(session, handle_signals=False)


def _screen_text(app) -> str:
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def _check(app, warnings: tuple[str, ...]) -> list[str]:
    """The warnings whose start is on screen; the others must be counted there."""
    screen = _screen_text(app)
    shown = [w for w in warnings if w[:30] in screen.replace("\n", " ")]
    more = len(warnings) - len(shown)
    if more:
        assert f"+{more} more warning" in screen, screen
    return shown


def test_warnings_that_do_not_fit_at_80x24_are_counted_and_e_shows_them_all() -> None:
    import asyncio

    async def run() -> None:
        app = _warned_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            warnings = app.snapshot.warnings
            assert len(warnings) >= 3, warnings  # the log deleted, its reader, the GPU sampler
            shown = _check(app, warnings)
            assert len(shown) < len(warnings)  # two rows: not all of them fit, and the screen says so
            await pilot.press("e")
            await pilot.pause()
            screen = _screen_text(app).replace("\n", " ")
            assert all(w[:30] in screen for w in warnings), screen
            assert "more warning" not in screen
            await pilot.press("e")
            await pilot.pause()
            _check(app, warnings)

    asyncio.run(run())


def test_fit_rows_keeps_the_first_warnings_and_counts_the_rest() -> None:
    texts = [Text(str(i)) for i in range(4)]
    assert fit_rows(texts, [1, 1, 1, 1], 4) == texts
    fitted = fit_rows(texts, [2, 1, 1, 1], 3)
    assert [t.plain for t in fitted] == ["0", "+3 more warnings (e: all events)"]
    assert [t.plain for t in fit_rows(texts, [3, 1, 1, 1], 2)] == ["+4 more warnings (e: all events)"]
    assert [t.plain for t in fit_rows(texts[:2], [1, 1], 1)] == ["+2 more warnings (e: all events)"]
