"""What a redraw costs: only the charts whose data changed are rebuilt, at most every
CHART_MIN_S; a tick shortly after a line's redraw does not redraw again; a panel whose text
is unchanged is not repainted, a panel repaints only the lines that changed, and its text is
not built again while the fields it read are unchanged. Clocks and timers are the test's
own: no timing thresholds."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable
from dataclasses import replace

import pytest
from conftest import FakeClock
from rich.text import Text
from textual.app import App, ComposeResult
from textual.geometry import Region
from tui_fakes import DATA, recorded, session_at

from monitor.core.snapshot import Snapshot
from monitor.session import Session
from monitor.tui.app import TICK_S, NanowatchApp, make_app
from monitor.tui.messages import ChartPacer
from monitor.tui.widgets.charts import CHART_MIN_S
from monitor.tui.widgets.common import BuiltFrom, TextLines, same_text
from monitor.tui.widgets.header import FinishLine, ProgressLine, RunHeader
from monitor.tui.widgets.panels import EnergyPanel, GpuPanel, TotalsPanel

COMPILED = recorded("compiled")


class FakeTimer:
    def __init__(self, wait_s: float, callback: Callable[[], None]) -> None:
        self.wait_s, self.callback, self.stopped = wait_s, callback, False

    def stop(self) -> None:
        self.stopped = True


class TimerApp:
    """An app as a ChartPacer sees it: set_timer, recorded."""

    def __init__(self) -> None:
        self.timers: list[FakeTimer] = []

    def set_timer(self, wait_s: float, callback: Callable[[], None]) -> FakeTimer:
        self.timers.append(FakeTimer(wait_s, callback))
        return self.timers[-1]


def test_the_pacer_wants_charts_only_for_new_data_and_at_most_every_min_s() -> None:
    now, due = [100.0], []
    app = TimerApp()
    pacer = ChartPacer(app, lambda: due.append(now[0]), CHART_MIN_S, lambda: now[0])  # type: ignore[arg-type]
    assert pacer.wanted(("a",))  # never drawn
    pacer.drawn(("a",))
    assert not pacer.wanted(("a",))  # nothing new
    now[0] = 100.5
    assert not pacer.wanted(("b",))  # new, but within the window: one timer for its end
    now[0] = 101.0
    assert not pacer.wanted(("c",))
    assert [t.wait_s for t in app.timers] == [pytest.approx(CHART_MIN_S - 0.5)]
    now[0] = 100.0 + CHART_MIN_S
    app.timers[0].callback()
    assert due == [100.0 + CHART_MIN_S]
    assert pacer.wanted(("c",))
    pacer.drawn(("c",))
    now[0] += 0.1
    assert not pacer.wanted(("d",))
    pacer.drawn(("d",))  # drawn anyway (a key asked for it): the pending end of window is dropped
    assert app.timers[-1].stopped
    pacer.reset()
    assert pacer.wanted(("d",))


def _app(session: Session, now: list[float]) -> NanowatchApp:
    return NanowatchApp(session, handle_signals=False, monotonic=lambda: now[0])


def _step(session: Session, it: int, loss: float, t: float) -> None:
    session.feed(f"iter {it}: loss {loss:.4f}, time 900.00ms, mfu 30.00%".encode(), t)


def test_charts_are_rebuilt_when_their_data_changed_at_most_every_chart_min_s(monkeypatch) -> None:
    now = [100.0]
    session = session_at(COMPILED[:100], FakeClock())
    built: list[float] = []
    timers: list[FakeTimer] = []

    async def run() -> None:
        app = _app(session, now)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            show = app.step_chart.show
            monkeypatch.setattr(app.step_chart, "show", lambda *a: (built.append(now[0]), show(*a)))
            monkeypatch.setattr(app, "set_timer", lambda wait, callback: timers.append(FakeTimer(wait, callback))
                                or timers[-1])
            first = app.snapshot.iter
            now[0] = 100.1
            _step(session, first + 10, 1.0, 2e9)
            app.redraw()
            now[0] = 100.6
            _step(session, first + 20, 1.0, 2e9 + 1)
            app.redraw()
            assert built == [] and len(timers) == 1  # within the window: drawn when it ends
            assert app.snapshot.step_series.x.size == 0  # the series were not even built
            now[0] = 100.0 + CHART_MIN_S
            timers[0].callback()
            await pilot.pause()
            assert built == [100.0 + CHART_MIN_S]
            assert app.snapshot.step_series.x[-1] == first + 20
            now[0] = 110.0
            session.feed(b"a line of the script's own", 2e9 + 2)
            app.redraw()  # the screen moves on; what the charts draw did not change
            await pilot.pause()
            assert built == [100.0 + CHART_MIN_S] and len(timers) == 1

    asyncio.run(run())


def test_a_tick_after_a_lines_redraw_in_the_same_second_does_not_redraw_again(monkeypatch) -> None:
    now = [100.0]
    session = session_at(COMPILED[:100], FakeClock())
    shown: list[float] = []

    async def run() -> None:
        app = _app(session, now)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            show = app.run_view.show
            monkeypatch.setattr(app.run_view, "show", lambda *a, **k: (shown.append(now[0]), show(*a, **k)))
            _step(session, app.snapshot.iter + 10, 1.0, 2e9)
            app.redraw()  # a line's redraw
            now[0] += TICK_S / 2 - 0.01
            app._tick()  # the tick in the same second: the screen is fresh
            now[0] += 0.02
            app._tick()  # the next one, a second after the line: time has moved on
            assert shown == [100.0, pytest.approx(100.0 + TICK_S / 2 + 0.01)]

    asyncio.run(run())


def test_a_new_step_repaints_the_lines_that_show_it_and_nothing_else(monkeypatch) -> None:
    now = [100.0]
    session = session_at(COMPILED[:100], FakeClock(), gpus=None)
    refreshed: dict[str, list[tuple[Region, ...]]] = {}

    async def run() -> None:
        app = _app(session, now)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            view = app.run_view
            for widget in (view.header, view.progress, view.gpus, view.energy, view.totals):
                refresh = widget.refresh
                monkeypatch.setattr(widget, "refresh", lambda *regions, _r=refresh, _id=widget.id, **k: (
                    refreshed.setdefault(_id, []).append(regions), _r(*regions, **k))[1])
            snap = app.snapshot
            assert snap.mfu is not None and snap.step_time_s is not None
            # the next logged step, at the same pace and MFU: a new step number and loss
            session.feed(f"iter {snap.iter + 10}: loss 0.5000, time {snap.last_step_time_s * 1000:.2f}ms, "
                         f"mfu {snap.mfu * 100:.2f}%".encode(), session.clock())
            app.redraw()
            await pilot.pause()
            # the progress line, and of the totals only the loss line (the third)
            assert refreshed == {"progress": [(Region(0, 0, view.progress.size.width, 1),)],
                                 "totals": [(Region(0, 2, view.totals.size.width, 1),)]}
            assert "loss 0.5000" in view.totals.render_line(2).text
            refreshed.clear()
            app.redraw()  # nothing new: nothing repainted
            await pilot.pause()
            assert refreshed == {}

    asyncio.run(run())


def test_a_frame_between_the_progress_line_and_the_totals_does_not_render_the_finish_line_again(monkeypatch) -> None:
    """Textual paints every widget in the rectangle around a frame's changes: the finish line
    lies between the progress line and the totals, and gives its painted lines (PaintedLines)."""
    session = session_at(COMPILED[:100], FakeClock(), gpus=None)
    rendered: list[str] = []

    async def run() -> None:
        app = _app(session, [100.0])
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            view = app.run_view
            for widget in (view.finish, view.progress, view.totals):
                render = widget._styles_cache.render_widget
                monkeypatch.setattr(widget._styles_cache, "render_widget", lambda *a, _r=render, _id=widget.id: (
                    rendered.append(_id), _r(*a))[1])
            view.progress.refresh()
            view.totals.refresh()
            await pilot.pause()
            assert sorted(rendered) == ["progress", "totals"]
            rendered.clear()
            view.finish.update("finishes later")  # changed: painted again
            await pilot.pause()
            assert rendered == ["finish"]

    asyncio.run(run())


class Lines(App[None]):
    def compose(self) -> ComposeResult:
        yield TextLines(id="lines")


def test_text_lines_repaint_the_changed_lines_only_and_lay_out_when_their_number_changes(monkeypatch) -> None:
    async def run() -> None:
        app = Lines()
        async with app.run_test(size=(30, 5)) as pilot:
            lines = app.query_one(TextLines)
            lines.put(Text("one\ntwo\nthree"))
            await pilot.pause()
            calls: list[tuple[tuple[Region, ...], bool]] = []
            refresh = lines.refresh
            monkeypatch.setattr(lines, "refresh", lambda *regions, layout=False: (
                calls.append((regions, layout)), refresh(*regions, layout=layout))[1])
            lines.put(Text("one\ntwo\nthree"))
            assert calls == []  # the same text
            lines.put(Text.assemble("one\n", ("two", "bold"), "\nthree"))
            assert calls == [((Region(0, 1, 30, 1),), False)]  # another style on one line
            await pilot.pause()
            assert [lines.render_line(y).text.rstrip() for y in range(3)] == ["one", "two", "three"]
            assert [bool(seg.style and seg.style.bold) for seg in lines.render_line(1) if seg.text.strip()] == [True]
            calls.clear()
            lines.put(Text("one\ntwo"))
            assert calls == [((), True)]  # a line less: a new layout
            lines.put(Text("one\ntwo", style="red"))
            assert len(calls) == 3  # the Text's own style is part of each line

    asyncio.run(run())


def test_same_text_sees_the_texts_own_style() -> None:
    assert same_text(Text("a", style="red"), Text("a", style="red"))
    assert not same_text(Text("a", style="red"), Text("a", style="blue"))  # rich's == says equal
    assert not same_text(Text.assemble(("a", "bold")), Text("a"))


def _snapshots() -> list[Snapshot]:
    """Snapshots of many kinds: early, training, stalled, finished, crashed; with GPUs and without."""
    out = []
    crash = [(COMPILED[299][0] + 0.5, line) for line in (DATA / "oom_traceback.txt").read_bytes().splitlines()]
    for items, gpus in ((COMPILED[:30], 1), (COMPILED[:100], None), (COMPILED[:300], 2), (COMPILED, 1),
                        (COMPILED[:300] + crash, None)):
        clock = FakeClock()
        session = session_at(items, clock, gpus=gpus)
        out.append(session.snapshot())
        clock.t += 3600.0  # silent for an hour
        out.append(session.snapshot())
    return out


def test_a_panel_built_from_a_snapshot_is_not_built_again_only_when_it_would_read_the_same() -> None:
    progress, finish = ProgressLine(), FinishLine()
    builders: list[tuple[tuple[object, ...], Callable[[Snapshot], Text]]] = [
        ((False, None), lambda s: RunHeader.line(s, False, None)),
        ((True, 0), lambda s: RunHeader.line(s, True, 0)),
        ((118,), lambda s: progress.compose_line(s, 118)),
        ((118,), lambda s: finish.compose_line(s, 118)),
        ((), GpuPanel.text), ((), EnergyPanel.text), ((), TotalsPanel.text),
    ]
    snaps = _snapshots()
    skipped = 0
    for args, build in builders:
        for a in snaps:
            for b in [*snaps, replace(a, t=a.t + 1.0), replace(a, loss=0.123), replace(a, run_count=3)]:
                built = BuiltFrom()
                assert built.text(a, args, build) is not None
                again = built.text(b, args, build)
                if again is None:  # taken as unchanged: it must be
                    skipped += 1
                    assert same_text(build(b), build(a))
                else:
                    assert same_text(again, build(b))
                assert built.text(b, args, build) is None  # b again: nothing to build
    assert skipped > 0


def test_the_clis_app_keeps_its_start_up_objects_out_of_the_collectors_passes_while_it_runs() -> None:
    frozen: list[int] = []

    async def run() -> None:
        app = make_app(session_at(COMPILED[:100], FakeClock()), handle_signals=False, freeze_gc=True)
        async with app.run_test() as pilot:
            await pilot.pause()
            frozen.append(gc.get_freeze_count())

    before = gc.get_freeze_count()
    asyncio.run(run())
    assert frozen[0] > before + 10_000  # the modules, styles and widgets
    assert gc.get_freeze_count() == before  # given back when the app ends


class Panel(App[None]):
    """A panel as the totals are: a border on top with a title, padding, a background."""

    CSS = "TextLines { border-top: solid red; border-title-color: yellow; padding: 0 1; background: blue 40%; }"

    def __init__(self, extra_css: str = "") -> None:
        super().__init__()
        self.extra_css = extra_css

    def compose(self) -> ComposeResult:
        lines = TextLines(id="lines")
        lines.border_title = "totals"
        if self.extra_css:
            lines.styles.border_left = ("solid", "green")
        yield lines


def _cells(strips: list) -> list[list[tuple[str, object]]]:
    return [[(ch, seg.style) for seg in strip for ch in seg.text] for strip in strips]


@pytest.mark.parametrize("side_border", [False, True])
def test_a_changed_line_is_laid_into_the_painted_lines_as_textuals_styles_cache_paints_it(
        monkeypatch, side_border: bool) -> None:
    async def run() -> None:
        app = Panel("side" if side_border else "")
        async with app.run_test(size=(30, 6)) as pilot:
            lines = app.query_one(TextLines)
            lines.put(Text("one\ntwo\nthree"))
            await pilot.pause()
            crop = Region(0, 0, *lines.outer_size)
            lines.render_lines(crop)
            painted: list[str] = []
            render = lines._styles_cache.render_widget
            monkeypatch.setattr(lines._styles_cache, "render_widget", lambda *a: (painted.append("cache"), render(*a))[1])
            lines.put(Text.assemble("one\n", ("a longer second line, cut", "bold red"), "\nthree"))
            laid = lines.render_lines(crop)
            # laid into the kept lines without the styles cache, unless a side border draws over them
            assert painted == (["cache"] if side_border else [])
            lines._painted = lines._laid_out = None
            lines._styles_cache.clear()
            assert _cells(laid) == _cells(lines.render_lines(crop))  # as the styles cache paints it
            assert "a longer second" in laid[2].text

    asyncio.run(run())
