"""What one chart build costs, per renderer: the TUI's two charts (train loss with its smoothed
line and val points; step time with its peaks) drawn from the min/max envelope of a long run,
by nanowatch's numpy braille renderer and by the terminal-plotting libraries that could do it.

Run: python benchmarks/chart_cost.py [--lines N] [--size 58x19] [--repeat R]

Every renderer gets the same series (a session's Snapshot of a generated N-line nanoGPT log,
fitted to two buckets per cell) and draws them to text a terminal widget can show; a build is
timed from the series to that text (plotext and uniplot: their ANSI string through rich's
decoder, as textual-plotext does; textual-plot: its canvases rendered to strips inside a
running Textual app). Libraries that are not installed are skipped, said so in the table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from cold_open import write_log

from monitor.core.report import Options
from monitor.core.snapshot import Series, Snapshot
from monitor.session import Session
from monitor.tui.widgets import braille, charts

Build = Callable[[], object]


def snapshot_of(lines: int) -> Snapshot:
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "train.log"
        write_log(log, lines)
        session = Session(Options(source=str(log)), clock=lambda: 1e9)
        session.feed_block(log.read_bytes(), None)
    return session.snapshot(charts=True)


def ours(snap: Snapshot, width: int, height: int) -> dict[str, Build]:
    from rich.style import Style

    def build(chart: type[charts._Chart]) -> Build:
        widget = chart.__new__(chart)  # only its figure: no app needed
        return lambda: braille.strips(braille.draw(widget._figure(snap, False, 2 * width), width, height),
                                      width, Style())

    return {"loss": build(charts.LossChart), "step": build(charts.StepChart)}


def _step_data(snap: Snapshot, bins: int) -> tuple[Series, np.ndarray, np.ndarray, float, float, float | None]:
    steps = charts.fit(snap.step_series, bins)
    y, lo, hi = steps.y * 1000, steps.lo * 1000, steps.hi * 1000
    bottom, top, cut = charts.step_view(y, lo, hi)
    if cut is not None:
        hi = np.where(hi > cut, np.minimum(y, cut), hi)
    return steps, np.minimum(lo, top), hi, bottom, top, cut


def plotext_builds(snap: Snapshot, width: int, height: int) -> dict[str, Build]:
    import plotext
    from rich.text import Text

    def axes(p: object, axis: braille.Axis | None, x: bool) -> None:
        if axis is not None:
            (p.xlim if x else p.ylim)(axis.lo, axis.hi)  # type: ignore[attr-defined]
            (p.xticks if x else p.yticks)(list(axis.ticks), list(axis.labels))  # type: ignore[attr-defined]

    def loss() -> object:
        p = plotext._figure._figure_class()
        train, val = charts.fit(snap.loss_series, width), snap.val_series
        x, y = charts.envelope_xy(train)
        p.plot(x.tolist(), y.tolist(), marker="braille", color="gray")
        p.plot(train.x.tolist(), charts.smooth(train.y).tolist(), marker="hd", color="cyan")
        p.scatter(val.x.tolist(), val.y.tolist(), marker="●", color="yellow")
        axes(p, charts.y_axis(*charts._limits(np.concatenate([train.lo, train.hi, val.y]))), False)
        axes(p, charts.x_axis([train.x, val.x]), True)
        p.title("loss")
        p.plotsize(width, height)
        return Text.from_ansi(p.build())

    def step() -> object:
        p = plotext._figure._figure_class()
        steps, lo, hi, bottom, top, cut = _step_data(snap, width)
        if cut is not None:
            peak = steps.hi * 1000 > cut
            p.scatter(steps.x[peak].tolist(), [cut] * int(peak.sum()), marker="▴", color="red")
        x, y = charts.envelope_xy(Series(steps.x, steps.y), lo, hi)
        p.plot(x.tolist(), y.tolist(), marker="braille", color="green")
        axes(p, charts.y_axis(bottom, top), False)
        axes(p, charts.x_axis([steps.x]), True)
        p.title("step time (ms)")
        p.plotsize(width, height)
        return Text.from_ansi(p.build())

    def empty() -> object:
        p = plotext._figure._figure_class()
        p.plotsize(width, height)
        return Text.from_ansi(p.build())

    return {"loss": loss, "step": step, "empty figure": empty}


def uniplot_builds(snap: Snapshot, width: int, height: int) -> dict[str, Build]:
    import uniplot
    from rich.text import Text

    def loss() -> object:
        train, val = charts.fit(snap.loss_series, 2 * width), snap.val_series
        x, y = charts.envelope_xy(train)
        rows = uniplot.plot_to_string([y, charts.smooth(train.y), val.y], [x, train.x, val.x],
                                      lines=[True, True, False], width=width - 10, height=height - 5,
                                      title="loss", legend_labels=["train", "smoothed", "val"], color=True)
        return Text.from_ansi(rows if isinstance(rows, str) else "\n".join(rows))

    def step() -> object:
        steps, lo, hi, bottom, top, _ = _step_data(snap, 2 * width)
        x, y = charts.envelope_xy(Series(steps.x, steps.y), lo, hi)
        rows = uniplot.plot_to_string(y, x, lines=True, width=width - 10, height=height - 5, title="step time (ms)",
                                      y_min=bottom, y_max=top, color=True)
        return Text.from_ansi(rows if isinstance(rows, str) else "\n".join(rows))

    return {"loss": loss, "step": step}


def textual_plot_times(snap: Snapshot, width: int, height: int, repeat: int) -> dict[str, float]:
    """textual-plot draws on its canvases when the widget renders: timed inside a running app."""
    from textual.app import App, ComposeResult
    from textual_hires_canvas import Canvas
    from textual_plot import HiResMode, PlotWidget

    class One(App[None]):
        CSS = f"PlotWidget {{ width: {width}; height: {height}; }}"

        def compose(self) -> ComposeResult:
            yield PlotWidget()

    out: dict[str, float] = {}

    async def run() -> None:
        app = One()
        async with app.run_test(size=(width + 10, height + 5)) as pilot:
            await pilot.pause()
            plot = app.query_one(PlotWidget)

            def finish() -> None:
                plot._render_plot()
                for canvas in plot.query(Canvas):
                    for row in range(canvas.size.height):
                        canvas.render_line(row)

            def loss() -> None:
                train, val = charts.fit(snap.loss_series, 2 * width), snap.val_series
                x, y = charts.envelope_xy(train)
                plot.clear()
                plot.plot(x, y, hires_mode=HiResMode.BRAILLE, line_style="grey50")
                plot.plot(train.x, charts.smooth(train.y), hires_mode=HiResMode.QUADRANT, line_style="cyan")
                plot.scatter(val.x, val.y, marker="●", marker_style="yellow")
                finish()

            def step() -> None:
                steps, lo, hi, _, _, _ = _step_data(snap, 2 * width)
                x, y = charts.envelope_xy(Series(steps.x, steps.y), lo, hi)
                plot.clear()
                plot.plot(x, y, hires_mode=HiResMode.BRAILLE, line_style="green")
                finish()

            for name, build in (("loss", loss), ("step", step)):
                out[name] = per_build_ms(build, repeat)

    asyncio.run(run())
    return out


def drawille_builds(snap: Snapshot, width: int, height: int) -> dict[str, Build]:
    """drawille has dots and lines only (no axes or colours): the step chart's line alone."""
    import drawille

    def step() -> object:
        steps, lo, hi, bottom, top, _ = _step_data(snap, 2 * width)
        x, y = charts.envelope_xy(Series(steps.x, steps.y), lo, hi)
        px = ((x - x.min()) / max(float(np.ptp(x)), 1e-9) * (2 * width - 1)).tolist()
        py = ((top - y) / max(top - bottom, 1e-9) * (4 * height - 1)).tolist()
        canvas = drawille.Canvas()
        for i in range(len(px) - 1):
            for dx, dy in drawille.line(px[i], py[i], px[i + 1], py[i + 1]):
                canvas.set(dx, dy)
        return canvas.frame()

    return {"step (line only)": step}


def per_build_ms(build: Callable[[], object], repeat: int) -> float:
    build()  # warm: imports, caches
    t0 = time.process_time()
    for _ in range(repeat):
        build()
    return (time.process_time() - t0) / repeat * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--size", default="58x19", help="a chart's cells at 120x40 (WIDTHxHEIGHT)")
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    snap = snapshot_of(args.lines)
    print(f"Chart builds · {args.lines:,}-line nanoGPT log · {width}x{height} cells · "
          f"{platform.machine()} · {os.cpu_count()} cores · Python {platform.python_version()} · "
          f"load {os.getloadavg()[0]:.1f}")
    print(f"{'renderer':<34} {'chart':<18} {'CPU ms a build':>15} {'vs nanowatch':>13}")
    base = {name: per_build_ms(build, args.repeat) for name, build in ours(snap, width, height).items()}
    rows: list[tuple[str, str, float | None]] = [("nanowatch braille (numpy)", n, ms) for n, ms in base.items()]
    libraries: list[tuple[str, Callable[[], dict[str, float]]]] = [
        ("plotext (via textual-plotext's path)", lambda: {n: per_build_ms(b, args.repeat)
                                                          for n, b in plotext_builds(snap, width, height).items()}),
        ("uniplot", lambda: {n: per_build_ms(b, args.repeat) for n, b in uniplot_builds(snap, width, height).items()}),
        ("textual-plot (textual-hires-canvas)", lambda: textual_plot_times(snap, width, height, args.repeat)),
        ("drawille", lambda: {n: per_build_ms(b, args.repeat) for n, b in drawille_builds(snap, width, height).items()}),
    ]
    for name, timed in libraries:
        try:
            rows += [(name, chart, ms) for chart, ms in timed().items()]
        except ImportError as e:
            rows.append((name, f"not installed ({e.name})", None))
    for name, chart, ms in rows:
        ratio = f"{ms / base[chart]:.1f}x" if ms is not None and chart in base else ""
        print(f"{name:<34} {chart:<18} {'' if ms is None else f'{ms:.2f}':>15} {ratio:>13}")


if __name__ == "__main__":
    main()
