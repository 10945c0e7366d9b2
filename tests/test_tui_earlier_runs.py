"""An earlier run of a log read from what the file held: the file's mtime is when its last run's
last line was written, not when an earlier run ended. The header said `finished 02:37` for every
run of a three-stage speedrun log; an earlier run now reads `finished`, its end time not known."""

from __future__ import annotations

from conftest import FakeClock
from test_app import sync, text_of
from tui_fakes import recorded, utc

from monitor.core.report import Options
from monitor.inbox import FileTouched, LinesRead
from monitor.session import Session
from monitor.tui.app import make_app

MTIME = 1_800_000_000.0  # 2027-01-15 08:00:00 UTC


def _read_whole() -> Session:
    """Two runs (a finished one, an interrupted one) read as a file's history: no line times."""
    lines = [line for _, line in recorded("compiled")] + [line for _, line in recorded("interrupted")]
    clock = FakeClock(MTIME + 3600)
    session = Session(Options(source="run.log"), clock)
    session.ingest([FileTouched(MTIME), LinesRead([(None, line) for line in lines])])
    return session


def test_only_the_last_run_ends_at_the_files_mtime() -> None:
    session = _read_whole()
    assert session.snapshot().last_line_t == MTIME
    earlier = session.snapshot(run_index=0)
    assert (earlier.status, earlier.last_line_t) == ("finished", None)


@sync
async def test_an_earlier_run_read_whole_is_finished_at_no_made_up_time() -> None:
    with utc():
        app = make_app(_read_whole(), handle_signals=False)
        async with app.run_test(size=(120, 40)) as pilot:
            assert "run 2 of 2" in text_of(app.header_view)
            await pilot.press("left_square_bracket")
            assert "run 1 of 2" in text_of(app.header_view)
            finish = text_of(app.finish_view)
            assert finish.startswith("finished · ") and "took" in finish and "08:00" not in finish
            await pilot.press("f")
            assert text_of(app.finish_view).startswith("interrupted at iter")
