"""An 8-GPU node (or a GPU log of 1,024) at 80x24: the GPU panel lists what its rows hold and sums
the others on its last line (`+5 more GPUs · 1,500 W · VRAM …`), so energy, totals and events keep
their rows; at 120x40 all eight are listed. Sums of power keep their thousands separator."""

from __future__ import annotations

import pytest
from conftest import FakeClock
from test_app import sync
from tui_fakes import recorded, session_at

from monitor.core.summary import summary
from monitor.tui.app import make_app
from monitor.tui.widgets.panels import gpu_rows


def _screen(app) -> str:
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


@pytest.mark.parametrize(("height", "rows"), [(23, 4), (39, 9), (10, 2), (200, 9)])
def test_the_gpu_panel_leaves_the_other_panels_their_rows(height: int, rows: int) -> None:
    assert gpu_rows(height) == rows


@sync
async def test_eight_gpus_at_80x24_leave_energy_and_events_on_screen() -> None:
    app = make_app(session_at(recorded("compiled")[:300], FakeClock(), gpus=8), handle_signals=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        screen = _screen(app)
        assert "energy and cost" in screen and "events" in screen and "totals" in screen, screen
        more = next(line for line in screen.splitlines() if "more GPUs" in line)
        assert more.strip().startswith("+5 more GPUs · ") and " W · VRAM " in more, more
        await pilot.resize_terminal(120, 40)
        await pilot.pause()
        await pilot.pause()
        screen = _screen(app)
        assert "more GPU" not in screen and all(f" {i} " in screen for i in range(8)), screen


def test_a_summed_power_has_its_thousands_separator() -> None:
    session = session_at(recorded("compiled")[:300], FakeClock(), gpus=8)
    gpu = next(line for line in summary(session.snapshot()).splitlines() if line.strip().startswith("gpu"))
    watts = gpu.split(" · ")[1]
    assert watts.endswith(" W") and ("," in watts or len(watts) <= 5), gpu
