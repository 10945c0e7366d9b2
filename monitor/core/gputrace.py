"""One GPU's samples at bounded memory: the newest kept exactly as numpy columns, the older ones
folded into running sums, pinned window ends and peaks, so energy of any window a snapshot asks
about is the same as with every sample kept.

PURE ring: numpy only; no I/O, no textual/watchdog/pynvml imports.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from monitor.core.columns import Column

if TYPE_CHECKING:
    from monitor.core.telemetry import GpuSample

#: NVML's power reading (nvidia-smi's power.draw) is the mean over the last second on Ampere
#: and newer GPUs (nvidia-smi --help-query-gpu), so a reading describes the moment half a
#: second before its timestamp; integrated power is shifted back by that much.
POWER_LAG_S = 0.5
#: A gap at the start of a window (sampling began after it) of up to two sampling periods, and
#: at least this long, is filled with the first power reading. The end of a window is never
#: filled: past the newest sample nothing is measured yet, and a reading held there is taken
#: back when the next sample shows less.
HOLD_MIN_S = 2.0
#: A window that ends at a log's last line is measured by the samples after it: a replay that
#: stops there reads its GPU log this far on (the power reading's lag and two 1-s periods).
END_READ_S = POWER_LAG_S + HOLD_MIN_S
#: The newest samples kept whole (GpuTrace.at).
RECENT_SAMPLES = 64
#: The newest samples a trace always keeps exactly.
TAIL_SAMPLES = 4096
#: ... and every sample this recent: a stall's window (report.busy_fraction from the last
#: line) is first asked up to report.STALL_UNTIMED_S = 1800 s after its start.
KEEP_S = 3600.0
#: Utilisation at or above this counts a sample as busy (Telemetry.busy_fraction).
BUSY_UTIL_PCT = 50.0
#: Window ends remembered (the newest asked): their running sums outlive the samples.
MAX_PINS = 256
NAN = float("nan")
_LAGS = (0.0, POWER_LAG_S)


def _f(x: float | None) -> float:
    return NAN if x is None else float(x)


def _bridged(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Power readings with a missing one between two known ones (nvidia-smi's intermittent
    `[N/A]`) interpolated, so one gap costs its own span and not the trace; before the first
    and after the last known reading stay unknown."""
    known = np.isfinite(p)
    if known.all() or not known.any():
        return p
    idx = np.flatnonzero(known)
    inside = np.zeros(len(p), dtype=bool)
    inside[idx[0] : idx[-1]] = True
    return np.where(~known & inside, np.interp(t, t[known], p[known]), p)


class Span(NamedTuple):
    """Span `i` (from sample i to sample i + 1) with what a window ending in it needs: its
    times (s), energy (J), how it was measured, the running sums (energy J, seconds by
    counter, seconds by power) before and after it, and the power readings at its ends (W)."""

    i: int
    a: float
    b: float
    energy_j: float
    by_counter: bool
    before: tuple[float, float, float]
    after: tuple[float, float, float]
    power_a: float
    power_b: float


class Edge(NamedTuple):
    """One end of a window: `k` valid spans lie before its first span (a start) or up to and
    including its last span (an end); `span` is that span, None when there is none."""

    k: int
    span: Span | None


class Pin(NamedTuple):
    """A window end (unshifted time) asked before its samples were dropped: its edges at both
    lags, as a start and as an end, and the (known, busy) utilisation samples before it."""

    starts: tuple[Edge, Edge]
    ends: tuple[Edge, Edge]
    counts_before: tuple[int, int]  # samples with t < x
    counts_through: tuple[int, int]  # samples with t <= x


class GpuTrace:
    """The samples of one GPU in time order and the spans between consecutive ones with
    running sums, kept up to date as samples arrive (O(1) amortised a sample), so that the
    energy of any window costs a few binary searches however long the run.

    Memory is bounded: the newest TAIL_SAMPLES samples (and all of the last KEEP_S seconds,
    and every sample from `keep_from` on) are kept; older ones are dropped once folded into
    the pins of the window ends asked so far (`drop(asked, ...)`), the all-time VRAM peak and
    the busy counts. A window end asked for the first time after its samples were dropped is
    answered as if sampling had started at the oldest sample kept."""

    def __init__(self) -> None:
        self.t = Column()
        self.power_w = Column()
        self.energy_j = Column()
        self.vram_used = Column()
        self.util_pct = Column()
        #: the newest samples whole, for a snapshot taken before the newest (replay --once
        #: reads END_READ_S past the last line: 13 samples at NVML's 0.2 s)
        self.recent: deque[GpuSample] = deque(maxlen=RECENT_SAMPLES)
        self.first_t: float | None = None
        self._by_counter = Column(np.bool_)  # the counter gave the span's energy (else power)
        self._valid = Column(np.int64)  # spans whose energy is known, in order
        self._cum_e = Column()  # running sums, one longer than the spans
        self._cum_counter_s = Column()
        self._cum_power_s = Column()
        for cum in self._cums:
            cum.append(0.0)
        self._firm = 0  # spans [0, firm) are final; later ones wait for a power reading
        self._known_p = -1  # the newest sample with a power reading
        self._any_counter = False
        self._peaks: dict[float | None, tuple[int, float]] = {}  # since_t -> (samples seen, peak)
        self._pins: dict[float, Pin] = {}
        self._tail_span: Span | None = None  # the newest valid span dropped
        self._dropped_peak = -math.inf
        self._dropped_counts = (0, 0)  # (known, busy) utilisation samples dropped

    @property
    def _cums(self) -> tuple[Column, Column, Column]:
        return self._cum_e, self._cum_counter_s, self._cum_power_s

    def add(self, s: GpuSample) -> bool:
        if self.recent and s.t < self.recent[-1].t:
            return False  # out of order: the trace must stay sorted for the integrals
        self.recent.append(s)
        if self.first_t is None:
            self.first_t = s.t
        self.t.append(s.t)
        self.power_w.append(_f(s.power_w))
        self.energy_j.append(_f(s.energy_j))
        self.vram_used.append(_f(s.vram_used_bytes))
        self.util_pct.append(_f(s.util_pct))
        return True

    def __len__(self) -> int:
        return len(self.t)

    @property
    def latest(self) -> GpuSample | None:
        """The newest sample, None before the first."""
        return self.recent[-1] if self.recent else None

    def at(self, t: float) -> GpuSample | None:
        """The newest sample taken at or before t (a snapshot at t shows the GPU as it was then,
        not a sample read past it to measure a window's end), else the newest."""
        for s in reversed(self.recent):
            if s.t <= t:
                return s
        return self.latest

    @property
    def lag_s(self) -> float:
        """A trace with no counter at all is integrated power, moved back by the lag of the
        power average (POWER_LAG_S); spans are stored unshifted and windows moved instead."""
        return 0.0 if self._any_counter else POWER_LAG_S

    def update(self) -> None:
        """Spans for the samples that came since the last call. A counter that went backwards
        was reset (driver reload): that span falls back to the trapezoid of the power readings.
        Spans after the newest power reading are recomputed when the next one comes, since a
        missing reading between two known ones is interpolated (`_bridged`). The running sums
        are one sequential sum whatever the batches, so when this is called does not matter."""
        n = len(self.t)
        k0 = self._firm
        if n - 1 <= k0:
            return
        self._by_counter.truncate(k0)
        for cum in self._cums:
            cum.truncate(k0 + 1)
        valid = self._valid.values
        self._valid.truncate(self._valid.start + int(np.searchsorted(valid, k0, side="left")))
        # from the newest power reading at or before k0: the bridge across a gap needs it
        ks = self._known_p if 0 <= self._known_p <= k0 else k0
        t, e = self.t.since(ks), self.energy_j.since(ks)
        p = _bridged(t, self.power_w.since(ks))
        de = np.diff(e)
        by_counter = np.isfinite(de) & (de >= 0)
        energy = np.where(by_counter, de, (p[1:] + p[:-1]) / 2 * np.diff(t))
        width = np.diff(t)
        ok = np.isfinite(energy) & (width > 0)
        skip = k0 - ks  # spans before k0 are final already
        by_counter, energy, width, ok = by_counter[skip:], energy[skip:], width[skip:], ok[skip:]
        self._by_counter.extend(by_counter)
        self._valid.extend(np.flatnonzero(ok) + k0)
        for cum, add in ((self._cum_e, np.where(ok, energy, 0.0)),
                         (self._cum_counter_s, np.where(ok & by_counter, width, 0.0)),
                         (self._cum_power_s, np.where(ok & ~by_counter, width, 0.0))):
            cum.extend(np.cumsum(np.concatenate(([cum.values[-1]], add)))[1:])
        self._any_counter = self._any_counter or bool(by_counter.any())
        known = np.flatnonzero(np.isfinite(self.power_w.since(ks)))
        if len(known):
            self._known_p = ks + int(known[-1])
        # spans up to the newest power reading are final (before the first reading ever,
        # power stays unknown); after it they wait for the next reading
        self._firm = n - 1 if self._known_p < 0 else min(n - 1, max(k0, self._known_p))

    # -- spans and window ends ------------------------------------------------------------

    def _span(self, i: int) -> Span:
        """Span i, which is kept."""
        j = i - self.t.start
        t, p = self.t.values, self.power_w.values
        e, c, w = (cum.values[j : j + 2] for cum in self._cums)  # the running sums start where the samples do
        before, after = (float(e[0]), float(c[0]), float(w[0])), (float(e[1]), float(c[1]), float(w[1]))
        return Span(i, float(t[j]), float(t[j + 1]), after[0] - before[0], bool(self._by_counter.values[j]),
                    before, after, float(p[j]), float(p[j + 1]))

    def _valid_span(self, k: int) -> Span | None:
        """The k-th valid span (0-based), None if there is none yet or it was dropped."""
        j = k - self._valid.start
        if 0 <= j < self._valid.kept:
            return self._span(int(self._valid.values[j]))
        return self._tail_span if k == self._valid.start - 1 else None

    def _live_start(self, y: float) -> Edge:
        t = self.t.values
        lo = self.t.start + int(np.searchsorted(t[1:], y, side="right"))  # first span ending after y
        k = self._valid.start + int(np.searchsorted(self._valid.values, lo, side="left"))
        return Edge(k, self._valid_span(k))

    def _live_end(self, y: float) -> Edge:
        t = self.t.values
        hi = self.t.start + int(np.searchsorted(t[:-1], y, side="left"))  # spans starting before y
        k = self._valid.start + int(np.searchsorted(self._valid.values, hi, side="left"))
        return Edge(k, self._valid_span(k - 1) if k else None)

    def _resolved(self, edge: Edge, start: bool) -> Edge:
        if edge.span is not None:
            return edge
        return Edge(edge.k, self._valid_span(edge.k if start else edge.k - 1))

    def _dropped(self, y: float) -> bool:
        return self.t.start > 0 and y < float(self.t.values[0])

    def edges(self, x0: float, x1: float) -> tuple[Edge, Edge]:
        """The start edge of x0 and the end edge of x1 at the trace's lag (pinned ones for ends
        whose samples were dropped)."""
        lag = self.lag_s
        li = _LAGS.index(lag)
        pin0, pin1 = self._pins.get(x0), self._pins.get(x1)
        y0, y1 = x0 + lag, x1 + lag
        start = self._resolved(pin0.starts[li], True) if pin0 and self._dropped(y0) else self._live_start(y0)
        end = self._resolved(pin1.ends[li], False) if pin1 and self._dropped(y1) else self._live_end(y1)
        return start, end

    def energy(self, t0: float, t1: float) -> tuple[float, float, float, float, float] | None:
        """(energy, seconds by counter, seconds by power, covered start, covered end) in
        [t0, t1]; a span cut by the window counts by the share inside it. A short gap at the
        start of the window (up to two sampling periods: sampling began after it) is held at
        the first power reading; the end counts up to the newest sample and no further, so the
        energy of a window that grows never goes down as samples come (the covered end says
        how far it got)."""
        self.update()
        first, last = self.edges(t0, t1)
        if first.k >= last.k or first.span is None or last.span is None:
            return None
        lag = self.lag_s
        t0, t1 = t0 + lag, t1 + lag
        s0, s1 = first.span, last.span
        total = s1.after[0] - s0.before[0]
        counter_s = s1.after[1] - s0.before[1]
        power_s = s1.after[2] - s0.before[2]
        for s in (s0,) if s0.i == s1.i else (s0, s1):
            width = s.b - s.a
            outside = width - (min(s.b, t1) - max(s.a, t0))
            if outside > 0:
                total -= s.energy_j * outside / width
                if s.by_counter:
                    counter_s -= outside
                else:
                    power_s -= outside
        start, end = max(t0, s0.a), min(t1, s1.b)
        gap = start - t0
        # two sampling periods where the window starts (its first span), not the newest ones:
        # what the start gets does not change as samples come
        if gap <= max(HOLD_MIN_S, 2 * (s0.b - s0.a)) and math.isfinite(s0.power_a):
            total += gap * s0.power_a
            power_s += gap
            start = t0
        return total, counter_s, power_s, start - lag, end - lag

    # -- utilisation and VRAM ---------------------------------------------------------------

    def _counts(self, x: float, through: bool) -> tuple[int, int]:
        """(known, busy) utilisation samples with t < x (t <= x when `through`)."""
        pin = self._pins.get(x)
        if pin is not None and self._dropped(x):
            return pin.counts_through if through else pin.counts_before
        u = self.util_pct.values[: int(np.searchsorted(self.t.values, x, side="right" if through else "left"))]
        u = u[np.isfinite(u)]
        known, busy = self._dropped_counts
        return known + len(u), busy + int(np.count_nonzero(u >= BUSY_UTIL_PCT))

    def busy(self, t0: float, t1: float) -> tuple[int, int]:
        """(known, busy) utilisation samples with t0 <= t <= t1."""
        k1, b1 = self._counts(t1, True)
        k0, b0 = self._counts(t0, False)
        return max(0, k1 - k0), max(0, b1 - b0)

    def vram_peak(self, since_t: float | None) -> float | None:
        """The highest VRAM reading from `since_t` on (all of them for None); asked again
        with the same `since_t`, only the samples that came since are looked at."""
        if since_t in self._peaks:
            seen, peak = self._peaks.pop(since_t)
        elif since_t is None or (self.first_t is not None and since_t <= self.first_t):
            seen, peak = self.t.start, self._dropped_peak
        else:
            seen, peak = self.t.start, -math.inf
        new_t, new = self.t.since(seen), self.vram_used.since(seen)
        if since_t is not None:
            new = new[new_t >= since_t]
        new = new[np.isfinite(new)]
        if len(new):
            peak = max(peak, float(new.max()))
        self._peaks[since_t] = (len(self.t), peak)
        while len(self._peaks) > MAX_PINS:
            del self._peaks[next(iter(self._peaks))]
        return peak if math.isfinite(peak) else None

    # -- dropping ---------------------------------------------------------------------------

    def _at_or_before(self, y: float) -> int:
        """The kept sample (its index among them) at or just before `y`: the span holding y
        starts there."""
        return max(0, int(np.searchsorted(self.t.values, y, side="right")) - 1)

    def _pin(self, x: float) -> Pin:
        starts = (self._live_start(x + _LAGS[0]), self._live_start(x + _LAGS[1]))
        ends = (self._live_end(x + _LAGS[0]), self._live_end(x + _LAGS[1]))
        return Pin(starts, ends, self._counts(x, False), self._counts(x, True))

    def drop(self, asked: Mapping[float, int], keep_from: float | None) -> None:
        """Drop the samples older than what must stay (TAIL_SAMPLES, KEEP_S, `keep_from`, and
        the spans still waiting for a power reading), once a TAIL_SAMPLES' worth can go:
        first the window ends `asked` more than once (end -> times asked) that fall among
        them are pinned, the VRAM peaks asked so far brought up to date, and the counts folded."""
        n, t = len(self.t), self.t.values
        if self.t.kept < 2 * TAIL_SAMPLES:
            return
        start = self.t.start
        cut = n - TAIL_SAMPLES
        newest = float(t[-1])
        for floor in (newest - KEEP_S, math.inf if keep_from is None else keep_from - POWER_LAG_S):
            cut = min(cut, start + self._at_or_before(floor))
        if cut - start < TAIL_SAMPLES:
            return
        self.update()
        # what is pinned (an end up to POWER_LAG_S after the cut) must lie among final spans
        firm = min(self._firm, self._known_p if self._known_p >= 0 else self._firm)
        cut = min(cut, start + self._at_or_before(float(t[firm - start]) - POWER_LAG_S))
        if cut - start < TAIL_SAMPLES:
            return
        gone = cut - self.t.start
        new_t0 = float(t[gone])
        pins = {}
        for x, times in asked.items():
            pin = self._pins.get(x)
            if pin is None and x < new_t0 and times > 1:
                pin = self._pin(x)
            if pin is not None:
                pins[x] = self._filled(pin, cut)
        self._pins = pins
        for since_t in list(self._peaks):
            self.vram_peak(since_t)
        vram = self.vram_used.values[:gone]
        vram = vram[np.isfinite(vram)]
        if len(vram):
            self._dropped_peak = max(self._dropped_peak, float(vram.max()))
        util = self.util_pct.values[:gone]
        util = util[np.isfinite(util)]
        known, busy = self._dropped_counts
        self._dropped_counts = (known + len(util), busy + int(np.count_nonzero(util >= BUSY_UTIL_PCT)))
        valid = self._valid.values
        nv = int(np.searchsorted(valid, cut, side="left"))  # valid spans that go
        if nv:
            self._tail_span = self._span(int(valid[nv - 1]))
        self._valid.drop(nv)
        for col in (self.t, self.power_w, self.energy_j, self.vram_used, self.util_pct, self._by_counter, *self._cums):
            col.drop(cut - col.start)

    def _filled(self, pin: Pin, cut: int) -> Pin:
        """The pin with the spans it refers to that are about to be dropped written in."""
        def fill(edge: Edge, start: bool) -> Edge:
            edge = self._resolved(edge, start)
            return edge if edge.span is None or edge.span.i < cut else Edge(edge.k, None)

        return pin._replace(starts=(fill(pin.starts[0], True), fill(pin.starts[1], True)),
                            ends=(fill(pin.ends[0], False), fill(pin.ends[1], False)))
