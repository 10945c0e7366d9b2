"""`?` explains what a new user cannot tell from the screen alone: what the GPU row's numbers are
and what the charts' x axis and cut peaks mean; readable whole at 80x24 (the help scrolls)."""

from __future__ import annotations

from conftest import FakeClock
from test_app import sync
from tui_fakes import recorded, session_at

from monitor.tui.app import make_app
from monitor.tui.widgets.help import HelpScreen


@sync
async def test_the_help_explains_the_gpu_row_and_the_charts() -> None:
    app = make_app(session_at(recorded("compiled"), FakeClock(), gpus=1), handle_signals=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = " ".join(strip.text.strip("│ ") for strip in app.screen._compositor.render_strips())
        text = " ".join(text.split())
        assert "util: the share of time a kernel ran" in text and "VRAM used/total in GiB" in text
        assert "charts: against the iteration" in text and "marked ▴" in text
