"""The events pane's stall warning is laid out as an event: the time the log went silent in
the events' time column, its kind in the kind column (it had neither)."""

from __future__ import annotations

from test_app import sync, text_of
from test_first_use_screens import nan_session

from monitor.tui.app import make_app
from monitor.tui.widgets.events import STALL_WARNING, warning_text


def test_a_warning_with_a_start_time_has_the_events_columns() -> None:
    assert warning_text("no new line for 5m", "14:32:05").plain == "14:32:05 stalled    no new line for 5m"
    assert warning_text("max_iters unknown: pass --max-iters").plain == "warning  max_iters unknown: pass --max-iters"


@sync
async def test_the_stall_warning_shows_when_the_log_went_silent() -> None:
    session = nan_session(silent_s=1800)
    snap = session.snapshot()
    assert snap.status == "stalled" and any(w.startswith(STALL_WARNING) for w in snap.warnings)
    app = make_app(session, handle_signals=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        rows = text_of(app.events_view.warnings).splitlines()
        stall = next(row for row in rows if STALL_WARNING in row)
        silent_at = stall.split(STALL_WARNING)[1].split("(last at ")[1].rstrip(")")
        assert stall.startswith(f"{silent_at} stalled ")
