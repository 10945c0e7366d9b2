"""A chart's view of a column at bounded resolution: min, max and mean per bucket of steps,
kept up to date as rows arrive (amortised O(1) a row), so spikes stay visible at any length.

PURE ring: numpy only; no I/O, no textual/watchdog/pynvml imports.
"""

from __future__ import annotations

import numpy as np

#: Buckets kept: between CAPACITY and 2 * CAPACITY once the column is longer than that,
#: several times the widest chart (a braille canvas is two dots per terminal cell).
CAPACITY = 512
#: Buckets an envelope has room for before its first growth.
FIRST_BUCKETS = 16


class Envelope:
    """Rows (x, y) folded into buckets of `width` consecutive rows, `width` a power of two.

    Every bucket but the last holds exactly `width` rows; the last holds 1..width. When
    2 * CAPACITY buckets are full, neighbours merge in pairs and `width` doubles, so memory
    and the cost of reading it stay bounded however long the column grows. Non-finite y
    values count as rows but not in lo/hi/mean (a bucket of only NaN has NaN there).
    """

    __slots__ = ("_count", "_fill", "_hi", "_lo", "_n", "_sum", "_x0", "_x1", "capacity", "width")

    def __init__(self, capacity: int = CAPACITY) -> None:
        self.capacity = capacity
        self.width = 1
        # Small at first, grown to 2 * capacity as buckets come: a file of many short runs
        # (two jobs writing one log) holds an envelope per run and chart.
        size = min(2 * capacity, FIRST_BUCKETS)
        self._x0 = np.empty(size)
        self._x1 = np.empty(size)
        self._lo = np.empty(size)
        self._hi = np.empty(size)
        self._sum = np.empty(size)
        self._count = np.empty(size, dtype=np.int64)
        self._n = 0  # buckets in use
        self._fill = 0  # rows in the last bucket

    def __len__(self) -> int:
        return self._n

    def extend(self, x: np.ndarray, y: np.ndarray) -> None:
        """Fold in rows in order: x (step numbers) and y (values; NaN for none)."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        at = 0
        while at < len(x):
            if self._n and self._fill < self.width:
                take = min(self.width - self._fill, len(x) - at)
                self._merge_into_last(x[at : at + take], y[at : at + take])
                at += take
                continue
            if self._n == len(self._x0):
                if self._n < 2 * self.capacity:
                    self._grow()
                else:
                    self._halve()
                continue
            at += self._new_buckets(x[at:], y[at:])

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(x, lo, hi, mean) per bucket, copies: x is the middle of the bucket's steps."""
        n = self._n
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(self._count[:n] > 0, self._sum[:n] / self._count[:n], np.nan)
        return (self._x0[:n] + self._x1[:n]) / 2.0, self._lo[:n].copy(), self._hi[:n].copy(), mean

    def newest(self) -> tuple[int, float, float]:
        """(buckets, lo, hi): how many buckets, and the newest one's min and max (NaN when
        there is none, or it holds no finite value); no copy of the arrays."""
        if not self._n:
            return 0, np.nan, np.nan
        return self._n, float(self._lo[self._n - 1]), float(self._hi[self._n - 1])

    def _new_buckets(self, x: np.ndarray, y: np.ndarray) -> int:
        """Whole buckets from the rows, as many as fit; returns the rows taken."""
        w = self.width
        k = min(-(-len(x) // w), len(self._x0) - self._n)  # buckets, the last maybe partial
        rows = min(k * w, len(x))
        full = rows // w
        a, b = self._n, self._n + full
        if full:
            xs, ys = x[: full * w].reshape(full, w), y[: full * w].reshape(full, w)
            self._x0[a:b], self._x1[a:b] = xs[:, 0], xs[:, -1]
            self._store(slice(a, b), ys)
            self._n, self._fill = b, w
        if rows > full * w:
            self._n += 1
            self._fill = 0
            self._x0[b] = x[full * w]
            self._lo[b], self._hi[b], self._sum[b], self._count[b] = np.nan, np.nan, 0.0, 0
            self._merge_into_last(x[full * w : rows], y[full * w : rows])
        return rows

    def _store(self, at: slice, ys: np.ndarray) -> None:
        finite = np.isfinite(ys)
        self._lo[at] = np.fmin.reduce(np.where(finite, ys, np.nan), axis=1)
        self._hi[at] = np.fmax.reduce(np.where(finite, ys, np.nan), axis=1)
        self._sum[at] = np.where(finite, ys, 0.0).sum(axis=1)
        self._count[at] = finite.sum(axis=1)

    def _merge_into_last(self, x: np.ndarray, y: np.ndarray) -> None:
        i = self._n - 1
        finite = y[np.isfinite(y)]
        if len(finite):
            self._lo[i] = np.fmin(self._lo[i], finite.min())
            self._hi[i] = np.fmax(self._hi[i], finite.max())
            self._sum[i] += float(finite.sum())
            self._count[i] += len(finite)
        self._x1[i] = x[-1]
        self._fill += len(x)

    def _grow(self) -> None:
        """Twice the buckets' room, up to 2 * capacity; the buckets stay as they are."""
        size = min(2 * self.capacity, 2 * len(self._x0))
        for name in ("_x0", "_x1", "_lo", "_hi", "_sum", "_count"):
            old = getattr(self, name)
            grown = np.empty(size, dtype=old.dtype)
            grown[: self._n] = old[: self._n]
            setattr(self, name, grown)

    def _halve(self) -> None:
        """Merge neighbouring buckets in pairs (the bucket count is even: all are full)."""
        n = self._n
        half = n // 2
        self._x0[:half] = self._x0[0:n:2]
        self._x1[:half] = self._x1[1:n:2]
        self._lo[:half] = np.fmin(self._lo[0:n:2], self._lo[1:n:2])
        self._hi[:half] = np.fmax(self._hi[0:n:2], self._hi[1:n:2])
        self._sum[:half] = self._sum[0:n:2] + self._sum[1:n:2]
        self._count[:half] = self._count[0:n:2] + self._count[1:n:2]
        self._n = half
        self.width *= 2
        self._fill = self.width


def rebin(x: np.ndarray, lo: np.ndarray, hi: np.ndarray, mean: np.ndarray, bins: int) -> tuple[np.ndarray, ...]:
    """At most `bins` groups of neighbouring buckets: min of lo, max of hi, mean of means
    (unweighted: buckets hold equal rows but the last), x the group's middle. Shapes kept
    when there are no more buckets than bins."""
    n = len(x)
    if n <= bins or bins < 1:
        return x, lo, hi, mean
    starts = (np.arange(bins) * n) // bins
    sizes = np.diff(np.append(starts, n))
    with np.errstate(invalid="ignore"):
        finite = np.isfinite(mean)
        sums = np.add.reduceat(np.where(finite, mean, 0.0), starts)
        counts = np.add.reduceat(finite.astype(np.int64), starts)
        group_mean = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    group_x = (x[starts] + x[starts + sizes - 1]) / 2.0
    return group_x, np.fmin.reduceat(lo, starts), np.fmax.reduceat(hi, starts), group_mean
