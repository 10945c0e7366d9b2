"""A log's name in the TUI header, however long or hostile: a name too long for the width is
cut in its middle (its start and its file name stay) and the family after it stays in view, at
every width and after a resize; a name's controls are written out."""

from __future__ import annotations

import pytest
from conftest import FakeClock
from test_app import sync, text_of
from tui_fakes import recorded, session_at, utc

from monitor.tui.app import make_app

LONG = "/scratch/" + "nested/" * 30 + "run-42/train.log"


@pytest.fixture(autouse=True)
def _utc():
    with utc():
        yield


@pytest.mark.parametrize("size", [(120, 40), (80, 24), (40, 12)])
@sync
async def test_a_long_name_is_cut_in_its_middle_and_the_family_stays(size: tuple[int, int]) -> None:
    app = make_app(session_at(recorded("compiled"), FakeClock(), source=LONG, gpus=None), handle_signals=False)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        header = text_of(app.header_view)
        assert header.rstrip().endswith(".log · nanogpt") and "…" in header
        assert header.lstrip().startswith("finished   /scr")
        assert len(header.rstrip()) <= size[0]


@sync
async def test_the_header_fits_its_name_again_after_a_resize() -> None:
    app = make_app(session_at(recorded("compiled"), FakeClock(), source=LONG, gpus=None), handle_signals=False)
    async with app.run_test(size=(40, 12)) as pilot:
        await pilot.pause()
        narrow = text_of(app.header_view)
        await pilot.resize_terminal(200, 40)
        await pilot.pause()
        await pilot.pause()
        wide = text_of(app.header_view)
        assert len(wide) > len(narrow) and wide.rstrip().endswith("run-42/train.log · nanogpt")


@sync
async def test_a_short_hostile_name_is_written_out_whole() -> None:
    name = "esc\x1b]0;PWNED\x07\u202egol.txt"
    app = make_app(session_at(recorded("compiled"), FakeClock(), source=name, gpus=None), handle_signals=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        header = text_of(app.header_view)
        assert "esc\\x1b]0;PWNED\\x07\\u202egol.txt · nanogpt" in header and "\x1b" not in header
