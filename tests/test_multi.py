"""Several logs at once: names, table rows and totals, the `--jsonl` stream of several logs,
and the runs table TUI (Enter opens a run, Escape comes back)."""

from __future__ import annotations

import asyncio
import io
import json
import math
import shutil
import threading
import time
from pathlib import Path

import pytest
from conftest import SAMPLES
from test_app import until

from monitor.core.report import Options
from monitor.core.rows import run_row, short_names, totals
from monitor.core.snapshot import Snapshot
from monitor.multi import Runs, follow_many_jsonl
from monitor.session import Session
from monitor.tui.multi_app import RunScreen, make_multi_app
from monitor.tui.widgets import RunHeader
from monitor.tui.widgets.runs_table import RunsTable

LOG = SAMPLES / "recorded" / "compiled" / "run.log"
T = 1_800_000_000.0
#: Upper bound on waiting for a follower thread to pass lines on; the waits end as soon as it has.
DEADLINE_S = 20.0


def _snap(**kw: object) -> Snapshot:
    base: dict[str, object] = {"t": T, "source": "/r/a.log", "format": "nanogpt", "status": "training",
                               "run_index": 0, "price_per_kwh": 0.15, "currency": "USD"}
    base.update(kw)
    return Snapshot(**base)  # type: ignore[arg-type]


def test_short_names_tell_logs_apart() -> None:
    assert short_names(["/x/a/run.log", "/x/b/run.log"]) == ["a/run.log", "b/run.log"]
    assert short_names(["/x/a.log", "/y/b.log"]) == ["a.log", "b.log"]
    assert short_names(["/p/q/a/run.log", "/r/q/a/run.log", "/s/c.log"]) == ["p/q/a/run.log", "r/q/a/run.log", "c.log"]


def test_rows_say_unknown_as_question_marks() -> None:
    row = run_row("a.log", _snap(status="starting"))
    assert row.cells() == ("a.log", "starting", "?", "?", "?", "?")
    row = run_row("b.log", _snap(iter=2500, max_iters=5000, progress=0.5, eta_finish=T + 3600, eta_remaining_s=3600,
                                  energy_j=3.6e6, energy_final_j=7.2e6, cost=0.15, cost_final=0.3))
    assert row.progress == "50.0%"
    assert row.finish == time.strftime("%H:%M:%S", time.localtime(T + 3600))
    assert (row.kwh, row.cost) == ("1.000→2.000", "0.15→0.30")
    small = run_row("s.log", _snap(energy_j=900.0, energy_final_j=43_200.0, cost=0.0000375, cost_final=0.0018))
    assert (small.kwh, small.cost) == ("0.00025→0.012", "0.000037→0.0018")  # not 0.000 beside a cost
    assert run_row("e.log", _snap(iter=70)).progress == "iter 70"
    assert run_row("c.log", _snap(status="stalled", stalled_for_s=300)).status == "stalled for 5 m 00 s"
    stalled = run_row("c.log", _snap(status="stalled", stalled_for_s=300, last_line_t=T - 300))
    assert stalled.status == f"stalled since {time.strftime('%H:%M', time.localtime(T - 300))}"
    assert run_row("d.log", _snap(status="finished", last_line_t=T)).finish.startswith("done ")


def test_totals_add_up_what_is_known() -> None:
    snaps = [_snap(energy_j=3.6e6, energy_final_j=7.2e6, cost=0.15, cost_final=0.3),
             _snap(status="finished", energy_j=1.8e6, cost=0.08),
             _snap(status="starting")]
    assert totals(snaps) == "3 runs · 1 training · 1.500 kWh → 2.500 kWh · 0.23 → 0.38 USD"
    assert totals([_snap()]) == "1 run · 1 training"
    assert totals([_snap(), _snap()]).startswith("2 runs · 2 training")


def _copy(tmp_path: Path, name: str, lines: int | None = None) -> Path:
    target = tmp_path / name / "run.log"
    target.parent.mkdir(parents=True)
    if lines is None:
        shutil.copy(LOG, target)
    else:
        target.write_bytes(b"".join(LOG.read_bytes().splitlines(keepends=True)[:lines]))
    return target


def _runs(paths: list[Path], wake=None, notice=None) -> Runs:
    def session_for(path: str) -> Session:
        return Session(Options(source=path), time.time)
    return Runs([str(p) for p in paths], session_for, wake=wake, on_notice=notice)


def test_jsonl_of_several_logs(tmp_path: Path) -> None:
    a, b = _copy(tmp_path, "a"), _copy(tmp_path, "b", lines=40)
    wake, stop = threading.Event(), threading.Event()
    out = io.StringIO()
    published: list[Snapshot] = []
    runs = _runs([a, b], wake=wake.set)
    thread = threading.Thread(target=follow_many_jsonl, args=(runs, wake),
                              kwargs={"interval_s": 0.2, "out": out, "publish": published.append, "stop": stop})
    thread.start()
    try:
        with open(b, "ab") as f:
            f.write(b"iter 600: loss 1.2345, time 14.40ms, mfu 22.00%\n")
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline:
            records = [json.loads(line) for line in out.getvalue().splitlines()]
            if (any(r["source"] == str(b) and r["iter"] == 600 for r in records)
                    and any(r["source"] == str(a) and r["status"] == "finished" for r in records)):
                break
            time.sleep(0.05)
    finally:
        stop.set()
        wake.set()
        thread.join(timeout=10)
    assert not thread.is_alive()
    last = {r["source"]: r for r in records}
    assert set(last) == {str(a), str(b)}
    assert last[str(a)]["status"] == "finished" and last[str(a)]["iter"] == 5000
    assert last[str(b)]["iter"] == 600 and last[str(b)]["loss"] == 1.2345
    assert {s.source for s in published} == {str(a), str(b)}


def test_runs_table_opens_a_run_and_comes_back(tmp_path: Path) -> None:
    asyncio.run(_open_and_come_back(tmp_path))


async def _open_and_come_back(tmp_path: Path) -> None:
    a, b = _copy(tmp_path, "a"), _copy(tmp_path, "b", lines=40)
    published: list[Snapshot] = []
    app = make_multi_app(lambda wake, notice: _runs([a, b], wake, notice), publish=published.append)
    async with app.run_test(size=(100, 30)) as pilot:
        table = app.query_one(RunsTable)
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline:
            app.redraw()
            if (table.row_count == 2 and "finished" in str(table.get_cell("0", "status"))
                    and "reading" not in str(table.get_cell("1", "status"))):
                break
            await pilot.pause(0.05)
        assert str(table.get_cell("0", "run")) == "a/run.log"
        assert str(table.get_cell("1", "run")) == "b/run.log"
        assert str(table.get_cell("0", "progress")) == "100.0%"
        assert {s.source for s in published} == {str(a), str(b)}
        await pilot.press("down", "enter")
        await pilot.pause()
        assert isinstance(app.screen, RunScreen) and app.screen.index == 1
        header = app.screen.query_one(RunHeader)
        assert str(b) in str(header.render())
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, RunScreen)
        assert app.query_one(RunsTable).cursor_row == 1


@pytest.mark.parametrize("name", ["[red]x[/red].log"])
def test_markup_in_a_file_name_is_shown_as_text(tmp_path: Path, name: str) -> None:
    assert run_row(name, _snap()).run == name


# --- snapshots of the runs table and of a run opened from it ---------------------------------


class StaticRuns:
    """Runs already read, as monitor.multi.Runs offers them to the app: nothing follows, the clock is fixed."""

    def __init__(self, sessions: list[Session], names: list[str], clock) -> None:
        self.sessions, self.names, self.clock = sessions, names, clock

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def drain_log(self, index: int) -> bool:
        return False

    def history_read(self, index: int) -> bool:
        return True

    def newest_first(self) -> list[int]:
        return list(range(len(self.sessions)))


def _static_runs() -> StaticRuns:
    from conftest import FakeClock
    from tui_fakes import recorded, session_at

    end = 1_795_500_000.0
    runs = {"a/train.log": recorded("compiled")[:300], "b/train.log": recorded("compiled"),
            "c/train.log": recorded("interrupted")}
    sessions = []
    clock = FakeClock(end)
    for name, items in runs.items():
        shift = end - 1.0 - items[-1][0]  # every run's last line one second before the common clock
        sessions.append(session_at([(t + shift, line) for t, line in items], clock, source=name))
    assert clock.t == end
    return StaticRuns(sessions, list(runs), clock)


@pytest.fixture
def _utc():
    from tui_fakes import utc

    with utc():
        yield


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_runs_table_screen(snap_compare, _utc, size: tuple[int, int]) -> None:
    app = make_multi_app(lambda wake, notice: _static_runs())  # type: ignore[arg-type,return-value]
    assert snap_compare(app, terminal_size=size)


def test_run_opened_from_the_table(snap_compare, _utc) -> None:
    app = make_multi_app(lambda wake, notice: _static_runs())  # type: ignore[arg-type,return-value]
    assert snap_compare(app, terminal_size=(80, 24), press=["down", "enter"])


# --- from the command line -----------------------------------------------------------------


def test_cli_once_for_several_logs(capsys) -> None:
    from monitor.cli import main

    other = SAMPLES / "recorded" / "interrupted" / "run.log"
    assert main([str(LOG), "--no-gpu", str(other), "--once", "--json"]) == 0  # options between the logs
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["source"], r["status"]) for r in records] == [(str(LOG), "finished"), (str(other), "interrupted")]
    assert main([str(LOG), str(other), "--once", "--no-gpu"]) == 0
    out = capsys.readouterr().out
    assert out.count("nanowatch · ") == 2 and "\n\nnanowatch · " in out


@pytest.mark.parametrize(("argv", "reason"), [
    ([str(LOG), str(LOG), "--once"], "a log is given twice"),
    (["-", str(LOG), "--jsonl"], "'-' (stdin) cannot be one of several logs"),
    ([str(LOG), str(LOG), "--once", "--metrics-port", "9464"], "--metrics-port serves a live view"),
])
def test_cli_several_logs_usage_errors(capsys, argv: list[str], reason: str) -> None:
    from monitor.cli import main

    assert main(argv) == 2
    assert capsys.readouterr().err.startswith(f"nanowatch: error: {reason}")


# --- the table is drawn before the logs' histories are read ----------------------------------


class GatedRuns(StaticRuns):
    """StaticRuns whose histories are read only once the test lets them (`ready`), the most
    recently written first in the order `newest`; `read` lists them in the order the app took them."""

    def __init__(self, runs: StaticRuns, newest: list[int]) -> None:
        super().__init__(runs.sessions, runs.names, runs.clock)
        self.newest, self.ready, self.read = newest, set[int](), list[int]()

    def history_read(self, index: int) -> bool:
        if index in self.ready and index not in self.read:
            self.read.append(index)
        return index in self.ready

    def newest_first(self) -> list[int]:
        return list(self.newest)


def _statuses(table: RunsTable) -> list[str]:
    return [str(table.get_cell(str(i), "status")) for i in range(table.row_count)]


def test_the_table_is_drawn_before_any_history_is_read_and_filled_as_each_is() -> None:
    asyncio.run(_fills_in())


async def _fills_in() -> None:
    runs = GatedRuns(_static_runs(), newest=[2, 0, 1])
    app = make_multi_app(lambda wake, notice: runs)  # type: ignore[arg-type,return-value]
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause(0.1)
        table = app.query_one(RunsTable)
        assert _statuses(table) == ["reading…"] * 3  # drawn at once, every row waiting for its log
        assert [str(table.get_cell(str(i), "run")) for i in range(3)] == runs.names
        assert "reading 3 logs…" in str(app.query_one("#runs-summary").render())
        runs.ready.add(1)
        app.redraw()
        # the app reads it in its own time: a slice at a time between paints
        await until(pilot, lambda: _statuses(table)[1] != "reading…")
        assert _statuses(table)[0] == _statuses(table)[2] == "reading…"
        assert _statuses(table)[1].startswith("finished")
        summary = str(app.query_one("#runs-summary").render())
        assert summary.startswith("nanowatch · 1 run ·") and summary.endswith("reading 2 logs…")
        runs.ready.update({0, 2})
        await until(pilot, lambda: "reading…" not in _statuses(table))
        assert "reading…" not in _statuses(table)
        assert runs.read == [1, 2, 0]  # 1 when let; then the newest first
        assert "reading" not in str(app.query_one("#runs-summary").render())


def test_a_run_opened_before_its_history_is_read_is_read_next() -> None:
    asyncio.run(_opened_early())


async def _opened_early() -> None:
    runs = GatedRuns(_static_runs(), newest=[0, 1, 2])
    app = make_multi_app(lambda wake, notice: runs)  # type: ignore[arg-type,return-value]
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause(0.1)
        await pilot.press("down", "down", "enter")
        await pilot.pause()
        assert isinstance(app.screen, RunScreen) and app.screen.index == 2
        runs.ready.update({0, 1, 2})
        await until(pilot, lambda: len(runs.read) == 3)
        assert runs.read[0] == 2


def test_logs_are_read_the_most_recently_written_first(tmp_path: Path) -> None:
    import os

    paths = [_copy(tmp_path, name, lines=40) for name in ("a", "b", "c", "d")]
    for path, age_s in zip(paths, (30, 10, 20, 40)):
        os.utime(path, (T - age_s, T - age_s))
    missing = tmp_path / "e" / "run.log"  # not there yet: read last
    assert _runs([*paths, missing]).newest_first() == [1, 2, 0, 3, 4]


def test_a_redraw_or_read_that_comes_while_the_app_closes_does_nothing() -> None:
    asyncio.run(_closing())


async def _closing() -> None:
    """A throttled redraw or a slice of reading queued before `q` can run after the table is
    gone (the app's screens close before its timers stop): it must not raise NoMatches."""
    runs = GatedRuns(_static_runs(), newest=[0, 1, 2])
    app = make_multi_app(lambda wake, notice: runs)  # type: ignore[arg-type,return-value]
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause(0.1)
        await pilot.press("q")
    runs.ready.update({0, 1, 2})
    app.redraw(every=True)
    app._fill()
    assert app.snapshots == [None, None, None]  # nothing read once closed


def test_the_totals_line_lays_the_screen_out_again_only_when_its_height_changes(monkeypatch) -> None:
    asyncio.run(_totals_layouts(monkeypatch))


async def _totals_layouts(monkeypatch) -> None:
    """While the logs are read the totals line changes every second (`reading N logs…`): a new
    layout of the screen (the whole table's) only when it needs another number of lines."""
    from textual.widget import Widget

    from monitor.tui import multi_app

    runs = GatedRuns(_static_runs(), newest=[0, 1, 2])
    app = make_multi_app(lambda wake, notice: runs)  # type: ignore[arg-type,return-value]
    # 120 columns: the totals and "reading N logs…" fit one line (energy has two significant digits)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause(0.1)
        summary = app.query_one("#runs-summary")
        layouts: list[bool] = []
        real_refresh = Widget.refresh

        def refresh(widget: Widget, *args: object, layout: bool = False, **kwargs: object) -> Widget:
            if widget is summary:
                layouts.append(layout)
            return real_refresh(widget, *args, layout=layout, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(Widget, "refresh", refresh)
        for ready in (1, 0):
            runs.ready.add(ready)
            app._shown_at = -math.inf  # the next redraw shows the table
            app.redraw()
            await until(pilot, lambda: f"reading {3 - len(runs.ready)} log" in str(summary.render()))
        assert layouts and not any(layouts) and summary.size.height == 1
        long = "12 runs · 4 training · 1234.567 kWh → 4567.890 kWh · 185.19 → 685.18 USD · and a good deal more text"
        monkeypatch.setattr(multi_app, "totals", lambda snaps: long)
        app._shown_at = -math.inf
        app._show()
        await pilot.pause(0.1)
        assert any(layouts) and summary.size.height == 2  # two lines now: laid out again
