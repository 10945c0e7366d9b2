"""The two charts: train loss per iteration (raw, smoothed, val points) and step time per iteration.

UI ring: draws the Snapshot's downsampled series with textual-plotext; no I/O.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from textual_plotext import PlotextPlot

from monitor.core.snapshot import Series, Snapshot

#: Step times above this multiple of the median (compile, evals) are drawn clipped,
#: so the steady pace stays readable.
CLIP_FACTOR = 4.0


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


def iter_ticks(x: np.ndarray, count: int = 5) -> list[float]:
    """Whole-number iteration ticks across the x range (plotext would print 292.5)."""
    if not len(x):
        return []
    lo, hi = int(x.min()), int(np.ceil(x.max()))
    return sorted({float(round(float(v))) for v in np.linspace(lo, hi, count)})


def _iteration_axis(plt: Any, x: np.ndarray) -> None:
    ticks = iter_ticks(x)
    plt.xticks(ticks, [f"{t:.0f}" for t in ticks])


def _key(*series: Series) -> tuple[object, ...]:
    return tuple((len(s.x), float(s.x[-1]) if len(s.x) else None, float(s.y[-1]) if len(s.y) else None) for s in series)


class _Chart(PlotextPlot):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._key: object = None

    def _redraw(self, key: object) -> bool:
        if key == self._key:
            return False
        self._key = key
        self.plt.clear_figure()  # data, ticks and labels alike (the theme is set again at render)
        return True


class LossChart(_Chart):
    """Train loss per iteration, its smoothed line, and the val-loss points; log scale on demand."""

    def show(self, snap: Snapshot, log_scale: bool = False) -> None:
        loss, val = snap.loss_series, snap.val_series
        if not self._redraw((_key(loss, val), log_scale)):
            return
        plt = self.plt
        plt.title("loss (log scale)" if log_scale else "loss")
        # Log scale is drawn as log10 of the values on a linear axis with the real values as
        # labels: plotext's own log scale transforms its data again at every redraw.
        keep = loss.y > 0 if log_scale else np.ones(len(loss.y), dtype=bool)
        scale = np.log10 if log_scale else _identity
        if keep.any():
            x, y = loss.x[keep].tolist(), loss.y[keep]
            plt.plot(x, scale(y).tolist(), marker="braille", color="gray", label="train")
            plt.plot(x, scale(smooth(y)).tolist(), marker="braille", color="cyan", label="smoothed")
            _iteration_axis(plt, loss.x[keep])
        val_keep = val.y > 0 if log_scale else np.ones(len(val.y), dtype=bool)
        if val_keep.any():
            plt.scatter(val.x[val_keep].tolist(), scale(val.y[val_keep]).tolist(), marker="●", color="yellow",
                        label="val")
        if log_scale and (keep.any() or val_keep.any()):
            values = np.concatenate([loss.y[keep], val.y[val_keep]])
            ticks = np.linspace(np.log10(values.min()), np.log10(values.max()), 5)
            plt.yticks(ticks.tolist(), [f"{10**t:.3g}" for t in ticks])
        self.refresh()


def _identity(y: np.ndarray) -> np.ndarray:
    return y


class StepChart(_Chart):
    """Step time per iteration, in ms: slowdowns show as a rising floor, evals as clipped spikes."""

    def show(self, snap: Snapshot) -> None:
        steps = snap.step_series
        if not self._redraw(_key(steps)):
            return
        plt = self.plt
        plt.title("step time (ms)")
        if len(steps.y):
            y_ms = steps.y * 1000.0
            cap = float(np.median(y_ms)) * CLIP_FACTOR
            clipped = bool((y_ms > cap).any())
            if clipped:
                plt.title(f"step time (ms; peaks cut at {cap:.0f})")
                y_ms = np.minimum(y_ms, cap)
            plt.plot(steps.x.tolist(), y_ms.tolist(), marker="braille", color="green")
            _iteration_axis(plt, steps.x)
        self.refresh()
