"""The events pane keeps the newest event in view — after the terminal shrinks (120x40 to 80x24,
when what fitted no longer does) as before it — until the user scrolls up to read, and again
once they scroll back to the end (Textual's scroll anchor)."""

from __future__ import annotations

from conftest import FakeClock
from test_app import sync, until
from tui_fakes import recorded, session_at

from monitor.tui.app import make_app

COMPILED = recorded("compiled")


def _first_events(n_lines: int):
    clock = FakeClock()
    session = session_at(COMPILED[:n_lines], clock, gpus=None)
    return session, clock


async def _overflow_at_120x40(n_lines: int) -> bool:
    """Whether the events of the log's first `n_lines` lines overflow the pane at 120x40."""
    session, _ = _first_events(n_lines)
    app = make_app(session, handle_signals=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        return app.events_view.notes.max_scroll_y > 0


@sync
async def test_the_newest_event_stays_in_view_after_the_terminal_shrinks() -> None:
    # The most lines, in tens, whose events still fit the pane at 120x40: events only accumulate
    # as lines come, so the first ten that overflow it is found by doubling, then halving.
    fitted, over = 0, 10
    while not await _overflow_at_120x40(over):
        fitted, over = over, 2 * over
    while over - fitted > 10:
        middle = (fitted + over) // 20 * 10
        fitted, over = (fitted, middle) if await _overflow_at_120x40(middle) else (middle, over)
    session, clock = _first_events(fitted)
    app = make_app(session, handle_signals=False)
    async with app.run_test(size=(120, 40)) as pilot:
        notes = app.events_view.notes
        await pilot.pause()
        assert notes.max_scroll_y == 0  # the events fit
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        for t, line in COMPILED[fitted:]:
            session.feed(line, t)
            if line.startswith(b"step "):  # an eval: a new event, shown as the app would
                clock.t = t + 1
                app.events_view.show(session.snapshot())
                await pilot.pause()
        await until(pilot, lambda: notes.max_scroll_y > 0 and notes.scroll_y == notes.max_scroll_y)


@sync
async def test_a_user_scrolled_up_stays_where_they_read_until_back_at_the_end() -> None:
    session, _ = _first_events(len(COMPILED) // 2)
    app = make_app(session, handle_signals=False)
    async with app.run_test(size=(80, 24)) as pilot:
        notes = app.events_view.notes
        await until(pilot, lambda: notes.max_scroll_y > 0 and notes.scroll_y == notes.max_scroll_y)
        notes.scroll_home(animate=False)
        await pilot.pause()
        for t, line in COMPILED[len(COMPILED) // 2:]:
            session.feed(line, t)
        app.events_view.show(session.snapshot())
        await pilot.pause()
        await pilot.pause()
        assert notes.scroll_y == 0 < notes.max_scroll_y  # still reading the first events
        notes.scroll_end(animate=False)
        await until(pilot, lambda: notes.scroll_y == notes.max_scroll_y)
