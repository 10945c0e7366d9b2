"""The two charts: train loss per iteration (raw, smoothed, val points) and step time per iteration.

UI ring: draws the Snapshot's chart series with textual-plotext; no I/O. A long column
arrives as min/max/mean per bucket of steps (core/envelope.py); it is drawn at two
buckets per cell of width, and redrawn at most every CHART_MIN_S, so a redraw costs the
same at a million steps as at a thousand.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from textual.timer import Timer
from textual_plotext import PlotextPlot

from monitor.core.envelope import rebin
from monitor.core.snapshot import Series, Snapshot

#: Step times above this multiple of the typical one (compile, evals, checkpoints) are
#: peaks: marked on the top edge, so the steady pace keeps the chart's height.
CLIP_FACTOR = 4.0
#: A value above the 95th percentile is a peak only when it is also this many times the
#: typical step: a run whose steps are all alike has no peaks.
PEAK_FACTOR = 1.5
#: The step-time axis spans at least this share of the typical step time: variation of
#: well under a millisecond on a 364 ms step is drawn as the flat line it is.
MIN_SPAN_SHARE = 0.1
#: Charts are rebuilt at most this often (seconds); the text panels follow every line.
CHART_MIN_S = 2.0
#: Ticks on an axis, about.
TICKS = 5


def smooth(y: np.ndarray) -> np.ndarray:
    """An exponential moving average whose span grows with the number of points."""
    if len(y) < 3:
        return y
    alpha = 2.0 / (max(5.0, len(y) / 15.0) + 1.0)
    out = np.empty_like(y, dtype=np.float64)
    acc = float(y[0])
    for i, value in enumerate(y.tolist()):
        acc += alpha * (value - acc)
        out[i] = acc
    return out


def nice_step(span: float, count: int = TICKS) -> float:
    """A 1, 2 or 5 times a power of ten step that cuts `span` into about `count` parts."""
    if not span > 0 or not math.isfinite(span):
        return 1.0
    raw = span / max(count - 1, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    return next(m * power for m in (1.0, 2.0, 5.0, 10.0) if m * power >= raw * 0.999)


def nice_ticks(lo: float, hi: float, count: int = TICKS, integer: bool = False) -> list[float]:
    """Evenly spaced round values inside [lo, hi] (whole numbers when `integer`)."""
    step = nice_step(hi - lo, count)
    if integer:
        step = max(1.0, round(step))
    first = math.ceil(lo / step - 1e-9) * step
    ticks = [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]
    return [float(round(t)) if integer else round(t, 12) for t in ticks] or [lo]


def tick_label(value: float, step: float) -> str:
    """A tick's text: as few decimals as the step needs; thousands as k, millions as M."""
    if abs(value) >= 1e6 and step >= 1e5:
        return f"{value / 1e6:.{_decimals(step / 1e6)}f}M"
    if abs(value) >= 1e4 and step >= 1e3:
        return f"{value / 1e3:.{_decimals(step / 1e3)}f}k"
    return f"{value:.{_decimals(step)}f}"


def _decimals(step: float) -> int:
    return max(0, -math.floor(math.log10(step) + 1e-9)) if step > 0 else 0


def x_axis(plt: Any, xs: list[np.ndarray]) -> None:
    """Whole-number step ticks over all the x values drawn; one point gets one tick."""
    values = [float(v) for x in xs if len(x) for v in (x.min(), x.max())]
    if not values:
        return
    lo, hi = min(values), max(values)
    if hi - lo < 1:
        plt.xlim(lo - 1, hi + 1)
        ticks = [float(round(lo))]
    else:
        plt.xlim(lo, hi)
        ticks = nice_ticks(lo, hi, integer=True)
    # One tick inside a long span is labelled at the span's step too: 500k, not 500000.
    step = ticks[1] - ticks[0] if len(ticks) > 1 else max(1.0, nice_step(hi - lo))
    plt.xticks(ticks, [tick_label(t, step) for t in ticks])


def y_axis(plt: Any, lo: float, hi: float, side: str = "left", log: bool = False) -> None:
    """Limits [lo, hi] and round ticks between them (log: values are log10 of the data)."""
    if not hi > lo:
        pad = abs(lo) * 0.05 or 0.5
        lo, hi = lo - pad, hi + pad
    plt.ylim(lo, hi, yside=side)
    if log:
        ticks = nice_ticks(10**lo, 10**hi)
        ticks = [t for t in ticks if t > 0]
        step = ticks[1] - ticks[0] if len(ticks) > 1 else ticks[0] if ticks else 1.0
        plt.yticks([math.log10(t) for t in ticks], [tick_label(t, step) for t in ticks], yside=side)
        return
    ticks = nice_ticks(lo, hi)
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
    plt.yticks(ticks, [tick_label(t, step) for t in ticks], yside=side)


def envelope_xy(series: Series, lo: np.ndarray | None = None, hi: np.ndarray | None = None) -> tuple[list, list]:
    """Points that draw a series: for buckets, a stroke from each min to its max, so a single
    spike among a thousand steps still reaches its height. The strokes go up and down in
    turn (min→max, then max→min), so one bucket joins the next at the same extreme: no
    line crosses the whole height between buckets (plotext's cost grows with the dots drawn)."""
    lo = series.lo if lo is None else lo
    hi = series.hi if hi is None else hi
    if lo is None or hi is None:
        return series.x.tolist(), series.y.tolist()
    x = np.repeat(series.x, 2)
    y = np.empty(2 * len(series.x))
    up = np.arange(len(series.x)) % 2 == 0
    y[0::2], y[1::2] = np.where(up, lo, hi), np.where(up, hi, lo)
    return x.tolist(), y.tolist()


def fit(series: Series, bins: int) -> Series:
    """The series in at most `bins` points (buckets merged: min of mins, max of maxes)."""
    if series.lo is None or series.hi is None or len(series.x) <= bins:
        return series
    x, lo, hi, mean = rebin(series.x, series.lo, series.hi, series.y, bins)
    return Series(x, mean, lo, hi)


def step_view(y_ms: np.ndarray, lo_ms: np.ndarray, hi_ms: np.ndarray) -> tuple[float, float, float | None]:
    """The step-time axis (bottom, top) and the height of the peak marks (None when there
    are no peaks): the steady pace fills the chart; peaks, values above both the 95th
    percentile and PEAK_FACTOR times the typical step (and any above CLIP_FACTOR times it),
    are cut at the top."""
    typical = float(np.median(y_ms))
    cap = min(max(float(np.quantile(hi_ms, 0.95)), PEAK_FACTOR * typical), CLIP_FACTOR * typical)
    peaks = bool((hi_ms > cap).any())
    bottom = float(lo_ms.min())
    top = float(max(hi_ms[hi_ms <= cap].max(initial=-math.inf), y_ms[y_ms <= cap].max(initial=-math.inf), bottom))
    span = max(top - bottom, MIN_SPAN_SHARE * abs(typical))
    if top - bottom < span:
        middle = (top + bottom) / 2.0
        bottom, top = middle - span / 2.0, middle + span / 2.0
    if peaks:
        top += 0.15 * span  # room for the peak marks above the steady line
    return bottom, top, (top if peaks else None)


class _Chart(PlotextPlot):
    """Rebuilt only when its data changed, and at most every CHART_MIN_S seconds: a newer
    Snapshot within that window is drawn when the window ends."""

    def __init__(self, *, id: str | None = None, monotonic: Callable[[], float] = time.monotonic) -> None:
        super().__init__(id=id)
        self._key: tuple[object, bool] | None = None
        self._monotonic = monotonic
        self._drawn_at = -math.inf
        self._due: tuple[Snapshot, bool] | None = None
        self._timer: Timer | None = None

    def show(self, snap: Snapshot, log_scale: bool = False) -> None:
        """Draw `snap` now, or when CHART_MIN_S has passed since the last drawing (a new scale
        is drawn at once). Within that window a newer Snapshot only replaces the one waiting:
        what it would look like is worked out once, when the window ends."""
        self._due = (snap, log_scale)
        wait = self._drawn_at + CHART_MIN_S - self._monotonic()
        if wait > 0 and self._key is not None and self._key[1] == log_scale:
            if self._timer is None:
                self._timer = self.set_timer(wait, self._draw_due)
            return
        self._draw_due()

    def on_resize(self) -> None:
        if self._due is not None:
            self._draw_due(resized=True)  # a new width: the buckets per cell change

    def _draw_due(self, *, resized: bool = False) -> None:
        """Draw the waiting Snapshot if it looks different on this canvas (or the canvas changed)."""
        self._timer = None
        if self._due is None:
            return
        snap, log_scale = self._due
        key = (self._data_key(snap), log_scale)
        if key == self._key and not resized:
            return
        self._key = key
        self._drawn_at = self._monotonic()
        self.plt.clear_figure()  # data, ticks and labels alike (the theme is set again at render)
        self._draw(snap, log_scale)
        self.refresh()

    @property
    def _bins(self) -> int:
        """Buckets drawn: one a cell, each drawn from its min to its max over the cell's two
        braille dot columns (plotext's cost grows with the points it is given)."""
        return max(self.size.width, 20)

    def _pixels(self, *series: Series, limits: tuple[float, float] | None = None) -> tuple[object, ...]:
        """What the series look like on this canvas: their values and steps rounded to its dots
        (4 a cell high, 2 a cell wide). A new step that moves no dot does not redraw the chart,
        so a long run's chart is rebuilt only when what it shows changes."""
        fitted = [fit(s, self._bins) for s in series]
        ys = [a for s in fitted for a in (s.y, s.lo, s.hi) if a is not None and len(a)]
        xs = [s.x for s in fitted if len(s.x)]
        if not ys or not xs:
            return tuple(len(s.x) for s in fitted)
        y_all, x_all = np.concatenate(ys), np.concatenate(xs)
        finite = y_all[np.isfinite(y_all)]
        y0, y1 = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
        if limits is not None:  # the axis shows this range; values beyond it are cut
            y0, y1 = limits
            y_all = np.clip(y_all, y0, y1)
        x0, x1 = float(x_all.min()), float(x_all.max())
        rows, cols = 4 * max(self.size.height, 1), 2 * max(self.size.width, 1)
        with np.errstate(invalid="ignore"):
            y_dots = np.round((y_all - y0) / ((y1 - y0) or 1.0) * rows)
            x_dots = np.round((x_all - x0) / ((x1 - x0) or 1.0) * cols)
        nice = nice_ticks(y0, y1) if y1 > y0 else [y0]
        return (f"{y0:.3g}", f"{y1:.3g}", nice[0], nice[-1], int(x0), _magnitude(x1 - x0),
                y_dots.tobytes(), x_dots.tobytes())

    def _data_key(self, snap: Snapshot) -> object:
        raise NotImplementedError

    def _draw(self, snap: Snapshot, log_scale: bool) -> None:
        raise NotImplementedError


def _magnitude(span: float) -> float:
    """The x span to the precision its tick step shows (ticks move when the step changes)."""
    return nice_step(span) if span > 0 else 0.0


class LossChart(_Chart):
    """Train loss per iteration, its smoothed line, and the val points (on their own axis at
    the right when the log's val metric is not a loss, e.g. nanochat's bpb); log scale on demand."""

    def _data_key(self, snap: Snapshot) -> object:
        return (self._pixels(snap.loss_series), self._pixels(snap.val_series), snap.val_metric)

    def _draw(self, snap: Snapshot, log_scale: bool) -> None:
        plt = self.plt
        loss, val = fit(snap.loss_series, self._bins), snap.val_series
        metric = snap.val_metric or "loss"
        own_axis = metric != "loss"
        scale = np.log10 if log_scale else _identity
        train = _positive(loss) if log_scale else loss
        val = _positive(val) if log_scale else val
        legend = []
        left: list[np.ndarray] = []
        if len(train.x):
            x, y = envelope_xy(train)
            plt.plot(x, scale(np.asarray(y)).tolist(), marker="braille", color="gray")
            plt.plot(train.x.tolist(), scale(smooth(train.y)).tolist(), marker="hd", color="cyan")
            legend.append("⣿ train ▀ smoothed")
            left += [train.lo if train.lo is not None else train.y, train.hi if train.hi is not None else train.y]
        if len(val.x):
            side = "right" if own_axis else "left"
            plt.scatter(val.x.tolist(), scale(val.y).tolist(), marker="●", color="yellow", yside=side)
            legend.append(f"● val {metric}" + (" →" if own_axis else ""))
            if own_axis:
                y_axis(plt, *_limits(scale(val.y)), side="right", log=log_scale)
            else:
                left.append(val.y)
        if left:
            y_axis(plt, *_limits(scale(np.concatenate(left))), log=log_scale)
        x_axis(plt, [train.x, val.x])
        title = "loss (log scale)" if log_scale else "loss"
        plt.title(f"{title}: {' '.join(legend)}" if legend else title)


class StepChart(_Chart):
    """Step time per iteration, in ms: slowdowns show as a rising line, evals as peaks cut at the top."""

    def _data_key(self, snap: Snapshot) -> object:
        steps = fit(snap.step_series, self._bins)
        if not len(steps.y):
            return bool(snap.iters_done)
        lo = steps.lo if steps.lo is not None else steps.y
        hi = steps.hi if steps.hi is not None else steps.y
        bottom, top, _ = step_view(steps.y, lo, hi)
        return (self._pixels(steps, limits=(bottom, top)), bool(snap.iters_done))

    def _draw(self, snap: Snapshot, log_scale: bool) -> None:
        plt = self.plt
        steps = fit(snap.step_series, self._bins)
        if not len(steps.x):
            plt.title("step time: not printed by this log" if snap.iters_done else "step time (ms)")
            return
        y = steps.y * 1000.0
        lo = steps.lo * 1000.0 if steps.lo is not None else y
        hi = steps.hi * 1000.0 if steps.hi is not None else y
        bottom, top, cut = step_view(y, lo, hi)
        title = "step time (ms)"
        if cut is not None:
            peak = hi > cut
            # A bucket holding a peak is drawn to its mean; the peak is a mark on the top edge.
            hi = np.where(peak, np.minimum(y, cut), hi)
            plt.scatter(steps.x[peak].tolist(), [cut] * int(peak.sum()), marker="▴",
                        color="red")
            title = f"step time (ms), peaks to {float(np.max(steps.hi if steps.hi is not None else steps.y)) * 1000:,.0f} cut"
        x, yy = envelope_xy(Series(steps.x, y), np.minimum(lo, top), hi)
        plt.plot(x, yy, marker="braille", color="green")
        y_axis(plt, bottom, top)
        x_axis(plt, [steps.x])
        plt.title(title)


def _identity(y: np.ndarray) -> np.ndarray:
    return y


def _positive(series: Series) -> Series:
    keep = series.y > 0
    if series.lo is not None:
        keep &= series.lo > 0
    return Series(series.x[keep], series.y[keep],
                  None if series.lo is None else series.lo[keep], None if series.hi is None else series.hi[keep])


def _limits(values: np.ndarray) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if not len(finite):
        return 0.0, 1.0
    return float(finite.min()), float(finite.max())
