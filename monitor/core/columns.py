"""A run's per-step columns at bounded memory: numpy arrays that keep their first rows and
their newest rows exactly, and drop the rows between once the owner has folded them in.

PURE ring: numpy only; no I/O, no textual/watchdog/pynvml imports.
"""

from __future__ import annotations

import math

import numpy as np

NAN = float("nan")
#: The first rows of a column, kept for good: the estimator reads a process's first steps
#: (warm-up, the step-0 eval) however long the run grows (tracker.py reads at most 18).
HEAD_ROWS = 32
#: Any number of NaNs in no memory (read-only, stride 0): an unset NanColumn's values.
_NANS = np.broadcast_to(np.float64(NAN), (1 << 56,))


def last_finite(values: np.ndarray) -> float | None:
    """The last finite value of an array (None when there is none)."""
    if len(values) and math.isfinite(values[-1]):
        return float(values[-1])  # the usual case, without a pass over the rows
    ok = np.flatnonzero(np.isfinite(values))
    return float(values[ok[-1]]) if len(ok) else None


class Column:
    """A growable numpy array: amortised O(1) append, zero-copy view of the rows it keeps.

    `len()` counts every row ever added; `values` holds the newest `kept` of them (all of
    them until `drop` is called), `head` the first HEAD_ROWS. Rows before `start` were
    dropped; `last_finite()` still knows the last finite value among them.
    """

    __slots__ = ("_data", "_dropped_last", "_head", "_n", "_start")

    def __init__(self, dtype: type = np.float64, capacity: int = 16) -> None:
        self._data: np.ndarray = np.empty(capacity, dtype=dtype)
        self._n = 0  # rows kept
        self._start = 0  # rows dropped before them
        self._head: np.ndarray | None = None  # a copy of the first rows, once any was dropped
        self._dropped_last: float | None = None

    def append(self, value: float) -> None:
        if self._n == len(self._data):
            grown = np.empty(max(16, 2 * len(self._data)), dtype=self._data.dtype)
            grown[: self._n] = self._data
            self._data = grown
        self._data[self._n] = value
        self._n += 1

    def extend(self, values: np.ndarray) -> None:
        end = self._n + len(values)
        if end > len(self._data):
            grown = np.empty(max(end, 2 * len(self._data)), dtype=self._data.dtype)
            grown[: self._n] = self._data[: self._n]
            self._data = grown
        self._data[self._n : end] = values
        self._n = end

    def set_last(self, value: float) -> None:
        self._data[self._n - 1] = value

    def last(self) -> float | int:
        """The newest kept row (IndexError when none is kept): values[-1] without the view."""
        if not self._n:
            raise IndexError("no row kept")
        return self._data[self._n - 1]  # type: ignore[no-any-return]

    def extend_same(self, value: float, rows: int) -> None:
        """`rows` rows of one value (extend(np.full(rows, value)))."""
        self.extend(np.full(rows, value, dtype=self._data.dtype))

    def truncate(self, rows: int) -> None:
        """Forget the newest rows after the first `rows` of the column (dropped ones count)."""
        self._n = max(0, min(self._n, rows - self._start))

    def drop(self, rows: int) -> None:
        """Forget the oldest `rows` kept rows; the first HEAD_ROWS of the column stay in `head`
        (none is dropped before the column has that many)."""
        rows = min(rows, self._n)
        if rows <= 0 or len(self) < HEAD_ROWS:
            return
        if self._head is None:
            self._head = np.array(self.values[:HEAD_ROWS])
        gone = self.values[:rows]
        if gone.dtype.kind == "f":
            last = last_finite(gone)
            self._dropped_last = last if last is not None else self._dropped_last
        self._forget(rows)

    def _forget(self, rows: int) -> None:
        self._data[: self._n - rows] = self._data[rows : self._n]  # numpy copies overlaps safely
        self._n -= rows
        self._start += rows

    def shift(self, by: float) -> None:
        """Add `by` to every value, kept or remembered (times moved to another clock)."""
        self.values[:] += by
        if self._head is not None:
            self._head += by
        if self._dropped_last is not None:
            self._dropped_last += by

    def last_finite(self) -> float | None:
        """The last finite value of the whole column, dropped rows included."""
        kept = last_finite(self.values)
        return kept if kept is not None else self._dropped_last

    @property
    def values(self) -> np.ndarray:
        """The rows kept, oldest first: rows `start` .. len() - 1 of the column."""
        return self._data[: self._n]

    @property
    def head(self) -> np.ndarray:
        """The column's first min(len(), HEAD_ROWS) rows."""
        return self.values[:HEAD_ROWS] if self._head is None else self._head

    @property
    def start(self) -> int:
        """How many rows were dropped: `values[i]` is row `start + i`."""
        return self._start

    @property
    def kept(self) -> int:
        return self._n

    @property
    def capacity(self) -> int:
        """Rows the column has memory for (kept, head and allocated room)."""
        return len(self._data) + (0 if self._head is None else len(self._head))

    def since(self, row: int) -> np.ndarray:
        """The kept rows from row `row` on (from the oldest kept one, if that was dropped)."""
        return self.values[max(0, row - self._start) :]

    def __len__(self) -> int:
        return self._start + self._n


class NanColumn(Column):
    """A float Column that takes no memory while every value is NaN, as a field the family
    never prints or the arrival times of lines already in the file are (8 MB a million)."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(np.float64, capacity=0)

    def _unset(self) -> bool:
        return len(self._data) == 0

    def _materialise(self) -> None:
        if self._unset():
            self._data = np.full(max(1024, 2 * self._n), NAN)

    def append(self, value: float) -> None:
        if len(self._data):
            super().append(value)
        elif math.isnan(value):
            self._n += 1
        else:
            self._materialise()
            super().append(value)

    def extend(self, values: np.ndarray) -> None:
        if self._unset() and np.isnan(values).all():
            self._n += len(values)
            return
        self._materialise()
        super().extend(values)

    def set_last(self, value: float) -> None:
        self._materialise()
        super().set_last(value)

    def last(self) -> float | int:
        if self._unset():
            if not self._n:
                raise IndexError("no row kept")
            return NAN
        return super().last()

    def extend_same(self, value: float, rows: int) -> None:
        if self._unset() and math.isnan(value):
            self._n += rows
            return
        self._materialise()
        super().extend_same(value, rows)

    def _forget(self, rows: int) -> None:
        if self._unset():
            self._n -= rows
            self._start += rows
        else:
            super()._forget(rows)

    def shift(self, by: float) -> None:
        if not self._unset():
            super().shift(by)

    @property
    def values(self) -> np.ndarray:
        if self._unset():
            return _NANS[: self._n]  # read-only, no memory
        return super().values
