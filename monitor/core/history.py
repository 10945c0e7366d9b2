"""The snapshot's pieces read from what grows with a run's history (its step envelopes, evals
and notes), built so that a snapshot costs the same at any length: chart series at bounded
resolution, and lists rebuilt only when what they come from changed.

PURE ring: no I/O, no textual/watchdog/pynvml imports.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np

from monitor.core.envelope import Envelope
from monitor.core.run import EvalPoint, Note, Run
from monitor.core.snapshot import Series

Item = TypeVar("Item")
Built = TypeVar("Built")

NO_SERIES = Series(np.empty(0), np.empty(0))


def chart_series(run: Run) -> tuple[Series, Series]:
    """(loss, step time) chart series of a run: min/max/mean per bucket of steps, at most
    2 * envelope.CAPACITY points, from the envelopes the run keeps (Run.folds)."""
    folds = run.folded(charts=True)
    return _series(folds.loss), _series(folds.step)


def _series(env: Envelope) -> Series:
    x, lo, hi, mean = env.arrays()
    keep = np.isfinite(mean)
    if env.width == 1:
        return Series(x[keep], mean[keep])
    return Series(x[keep], mean[keep], lo[keep], hi[keep])


def chart_key(run: Run) -> tuple[object, ...]:
    """What the run's charts draw changes only when this does (compared with ==; about 20 µs
    at any length): a bucket added to the loss or step-time envelope, the newest bucket's
    min or max moved (what the strokes draw), or an eval added. Between, only the newest
    bucket's mean and its right edge move, by less than one bucket: under half a braille
    dot column once the envelope holds more buckets than a chart has dot columns."""
    folds = run.folded(charts=True)
    return (run, *_envelope_key(folds.loss), *_envelope_key(folds.step), len(run.evals))


def _envelope_key(env: Envelope) -> tuple[object, ...]:
    buckets, lo, hi = env.newest()
    # NaN (no bucket, or one with no finite value) as None: an unchanged key compares equal
    return buckets, env.width, None if math.isnan(lo) else lo, None if math.isnan(hi) else hi


#: Per run: a piece built from one of its lists, with what it was built from.
_NOTES: weakref.WeakKeyDictionary[Run, tuple[object, ...]] = weakref.WeakKeyDictionary()
_VALS: weakref.WeakKeyDictionary[Run, tuple[object, ...]] = weakref.WeakKeyDictionary()


def _per_run(cache: weakref.WeakKeyDictionary[Run, tuple[object, ...]], run: Run, items: Sequence[Item],
             build: Callable[[Sequence[Item]], Built]) -> Built:
    """`build(items)`, or what it gave last time for this run while `items` is the same list
    with the same length and the same last item. A run's notes and evals only grow at their
    end, have their last item replaced, or are replaced whole (Run.note, Run.shift_times);
    the last item is held here, so no other object can take its identity."""
    last = items[-1] if items else None
    known = cache.get(run)
    if known is not None and known[0] is items and known[1] == len(items) and known[2] is last:
        return known[3]  # type: ignore[return-value]
    built = build(items)
    cache[run] = (items, len(items), last, built)
    return built


def shown_notes(run: Run) -> tuple[tuple[float | None, str, str], ...]:
    """The events panel's lines: (time, kind, text with its repeats), oldest first."""
    return _per_run(_NOTES, run, run.notes, _notes_shown)


def _notes_shown(notes: Sequence[Note]) -> tuple[tuple[float | None, str, str], ...]:
    return tuple((n.t, n.kind, n.shown()) for n in notes)


def val_series(run: Run) -> Series:
    """The run's finite val values by step."""
    return _per_run(_VALS, run, run.evals, _val_points)


def _val_points(evals: Sequence[EvalPoint]) -> Series:
    pts = [(e.iter, e.val_loss) for e in evals if e.val_loss is not None and math.isfinite(e.val_loss)]
    return Series(np.array([p[0] for p in pts], dtype=float), np.array([p[1] for p in pts], dtype=float))
