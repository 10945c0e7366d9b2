"""Snapshot tests of the main screen (pytest-textual-snapshot) at 80x24 and 120x40 for a run
in training, a finished run and a crashed run: a fixed clock, UTC, a fake GPU source.
Update after a deliberate change of the screen with `pytest --snapshot-update`."""

from __future__ import annotations

import pytest
from conftest import FakeClock
from tui_fakes import DATA, recorded, session_at, utc

from monitor.tui.app import make_app

COMPILED = recorded("compiled")


def _crashed() -> list[tuple[float, bytes]]:
    t_end = COMPILED[299][0]
    return COMPILED[:300] + [(t_end + 0.5, line) for line in (DATA / "oom_traceback.txt").read_bytes().splitlines()]


RUNS = {
    "training": lambda: COMPILED[:300],
    "finished": lambda: COMPILED,
    "crashed": _crashed,
}


@pytest.fixture(autouse=True)
def _utc():
    with utc():
        yield


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
@pytest.mark.parametrize("run", list(RUNS))
def test_main_screen(snap_compare, run: str, size: tuple[int, int]) -> None:
    session = session_at(RUNS[run](), FakeClock(), source="out/train.log", gpus=1)
    app = make_app(session, handle_signals=False)
    assert snap_compare(app, terminal_size=size)
