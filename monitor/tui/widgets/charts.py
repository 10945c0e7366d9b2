"""The two charts: train loss per iteration (raw, smoothed, val points) and step time per iteration.

UI ring: draws the Snapshot's chart series in braille (widgets/braille.py); no I/O. A long
column arrives as min/max/mean per bucket of steps (core/envelope.py); it is drawn at about
one bucket per dot column, so a drawing costs the same at a million steps as at a thousand.
The app rebuilds the charts only when what they draw changed, at most every CHART_MIN_S
(messages.ChartPacer).
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
from rich.text import Text
from textual.strip import Strip

from monitor.core.envelope import rebin
from monitor.core.snapshot import Series, Snapshot
from monitor.tui.widgets import braille
from monitor.tui.widgets.braille import Axis, Figure, Layer, Row
from monitor.tui.widgets.common import PaintedLines

#: Step times above this multiple of the typical one (compile, evals, checkpoints) are
#: peaks: marked on the top edge, so the steady pace keeps the chart's height.
CLIP_FACTOR = 4.0
#: A value above the 95th percentile is a peak only when it is also this many times the
#: typical step: a run whose steps are all alike has no peaks.
PEAK_FACTOR = 1.5
#: The step-time axis spans at least this share of the typical step time: variation of
#: well under a millisecond on a 364 ms step is drawn as the flat line it is.
MIN_SPAN_SHARE = 0.1
#: Charts are rebuilt at most this often (seconds), by the app; the text panels follow every line.
CHART_MIN_S = 2.0
#: Ticks on an axis, about.
TICKS = 5
#: Colours of the series (ANSI names: the terminal's palette, as plotext drew them).
TRAIN_COLOR, SMOOTH_COLOR, VAL_COLOR, STEP_COLOR, PEAK_COLOR = "bright_black", "cyan", "blue", "green", "red"


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


def x_axis(xs: list[np.ndarray]) -> Axis | None:
    """Whole-number step ticks over all the x values drawn; one point gets one tick."""
    values = [float(v) for x in xs if len(x) for v in (x.min(), x.max())]
    if not values:
        return None
    lo, hi = min(values), max(values)
    if hi - lo < 1:
        lo, hi, ticks = lo - 1, hi + 1, [float(round(lo))]
    else:
        ticks = nice_ticks(lo, hi, integer=True)
    # One tick inside a long span is labelled at the span's step too: 500k, not 500000.
    step = ticks[1] - ticks[0] if len(ticks) > 1 else max(1.0, nice_step(hi - lo))
    return Axis(lo, hi, tuple(ticks), tuple(tick_label(t, step) for t in ticks))


def y_axis(lo: float, hi: float, log: bool = False) -> Axis:
    """Limits [lo, hi] and round ticks between them (log: values are log10 of the data)."""
    if not hi > lo:
        pad = abs(lo) * 0.05 or 0.5
        lo, hi = lo - pad, hi + pad
    if log:
        ticks = [t for t in nice_ticks(10**lo, 10**hi) if t > 0]
        step = ticks[1] - ticks[0] if len(ticks) > 1 else ticks[0] if ticks else 1.0
        return Axis(lo, hi, tuple(math.log10(t) for t in ticks), tuple(tick_label(t, step) for t in ticks))
    ticks = nice_ticks(lo, hi)
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
    return Axis(lo, hi, tuple(ticks), tuple(tick_label(t, step) for t in ticks))


def envelope_xy(series: Series, lo: np.ndarray | None = None, hi: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Points that draw a series: for buckets, a stroke from each min to its max, so a single
    spike among a thousand steps still reaches its height. The strokes go up and down in
    turn (min→max, then max→min), so one bucket joins the next at the same extreme: no
    line crosses the whole height between buckets."""
    lo = series.lo if lo is None else lo
    hi = series.hi if hi is None else hi
    if lo is None or hi is None:
        return series.x, series.y
    x = np.repeat(series.x, 2)
    y = np.empty(2 * len(series.x))
    up = np.arange(len(series.x)) % 2 == 0
    y[0::2], y[1::2] = np.where(up, lo, hi), np.where(up, hi, lo)
    return x, y


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
        bottom = max(middle - span / 2.0, 0.0)  # no step takes less than no time
        top = bottom + span
    if peaks:
        top += 0.15 * span  # room for the peak marks above the steady line
    return bottom, top, (top if peaks else None)


class _Chart(PaintedLines):
    """A chart drawn by monitor.tui.widgets.braille from the Snapshots it is shown (the app
    decides how often: messages.ChartPacer), repainted only when a cell of it changed."""

    DEFAULT_CSS = """
    _Chart {
        width: 1fr;
        height: 1fr;
    }
    """

    #: The chart's figure from a snapshot, `bins` points wide, on a log scale or not: each chart
    #: (LossChart, StepChart) draws its own; _Chart itself is never shown.
    _figure: ClassVar[staticmethod[[Snapshot, bool, int], Figure]]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._shown: tuple[Snapshot, bool] | None = None  # the last drawing's (snapshot, log scale)
        self._rows: tuple[Row, ...] = ()
        self._strips: list[Strip] = []

    def show(self, snap: Snapshot, log_scale: bool = False) -> None:
        """Draw `snap`'s series now (it must hold them: Session.snapshot(charts=True))."""
        self._shown = (snap, log_scale)
        self._draw(snap, log_scale)

    def on_resize(self) -> None:
        if self._shown is not None:
            self._draw(*self._shown)  # a new size: other buckets per column, other rows

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._restrip()  # a new theme: the same cells over another background

    def _draw(self, snap: Snapshot, log_scale: bool) -> None:
        """Lay out the figure at this size; repaint only when a cell changed."""
        width, height = self.size
        if width <= 0 or height <= 0:
            return
        rows = braille.draw(self._figure(snap, log_scale, self._bins), width, height)
        if rows != self._rows:
            self._rows = rows
            self._restrip()

    def _restrip(self) -> None:
        self._strips = braille.strips(self._rows, self.size.width, self.visual_style.rich_style)
        self.refresh()

    def render_line(self, y: int) -> Strip:
        if y < len(self._strips):
            return self._strips[y]
        return Strip.blank(self.size.width, self.visual_style.rich_style)

    def render(self) -> Text:
        """The chart as plain text (what the cells say; the screen is drawn by render_line)."""
        return Text(braille.plain_text(self._rows))

    @property
    def _bins(self) -> int:
        """Buckets drawn: about one per braille dot column, each a stroke from its min to its max."""
        return max(2 * self.size.width, 20)


class LossChart(_Chart):
    """Train loss per iteration, its smoothed line, and the val points (on their own axis at
    the right when the log's val metric is not a loss, e.g. nanochat's bpb); log scale on demand."""

    @staticmethod
    def _figure(snap: Snapshot, log_scale: bool, bins: int) -> Figure:
        loss, val = fit(snap.loss_series, bins), snap.val_series
        metric = snap.val_metric or "loss"
        own_axis = metric != "loss"
        scale = np.log10 if log_scale else _identity
        train = _positive(loss) if log_scale else loss
        val = _positive(val) if log_scale else val
        legend: list[tuple[str, str | None]] = []
        layers: list[Layer] = []
        left: list[np.ndarray] = []
        right_axis = None
        if len(train.x):
            x, y = envelope_xy(train)
            layers.append(Layer(x, scale(y), TRAIN_COLOR))
            layers.append(Layer(train.x, scale(smooth(train.y)), SMOOTH_COLOR, "quad"))
            legend += [(" ⣿", TRAIN_COLOR), (" train", None), (" ▀", SMOOTH_COLOR), (" smoothed", None)]
            left += [train.lo if train.lo is not None else train.y, train.hi if train.hi is not None else train.y]
        if len(val.x):
            layers.append(Layer(val.x, scale(val.y), VAL_COLOR, "mark", "●", right=own_axis))
            legend += [(" ●", VAL_COLOR), (f" val {metric}" + (" →" if own_axis else ""), None)]
            if own_axis:
                right_axis = y_axis(*_limits(scale(val.y)), log=log_scale)
            else:
                left.append(val.y)
        left_axis = y_axis(*_limits(scale(np.concatenate(left))), log=log_scale) if left else None
        title = "loss (log scale)" if log_scale else "loss"
        pieces = ((f"{title}:", None), *legend) if legend else ((title, None),)
        return Figure(pieces, x_axis([train.x, val.x]), left_axis, right_axis, tuple(layers))


class StepChart(_Chart):
    """Step time per iteration, in ms: slowdowns show as a rising line, evals as peaks cut at the top."""

    @staticmethod
    def _figure(snap: Snapshot, log_scale: bool, bins: int) -> Figure:
        steps = fit(snap.step_series, bins)
        if not len(steps.x):
            return Figure((("step time: not printed by this log" if snap.iters_done else "step time (ms)", None),))
        y = steps.y * 1000.0
        lo = steps.lo * 1000.0 if steps.lo is not None else y
        hi = steps.hi * 1000.0 if steps.hi is not None else y
        bottom, top, cut = step_view(y, lo, hi)
        title = "step time (ms)"
        layers = []
        if cut is not None:
            peak = hi > cut
            # A bucket holding a peak is drawn to its mean; the peak is a mark on the top edge.
            hi = np.where(peak, np.minimum(y, cut), hi)
            layers.append(Layer(steps.x[peak], np.full(int(peak.sum()), cut), PEAK_COLOR, "mark", "▴"))
            highest = float(np.max(steps.hi if steps.hi is not None else steps.y)) * 1000
            title = f"step time (ms), peaks to {highest:,.0f} cut"
        x, yy = envelope_xy(Series(steps.x, y), np.minimum(lo, top), hi)
        layers.insert(0, Layer(x, yy, STEP_COLOR))
        return Figure(((title, None),), x_axis([steps.x]), y_axis(bottom, top), None, tuple(layers))


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
