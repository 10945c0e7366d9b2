"""GPU telemetry folded from samples: latest values per GPU, VRAM peak, energy between two
times (NVML counter differences, else integrated power), mean power, busy fraction.

PURE ring: no I/O, no textual/watchdog/pynvml imports. Samples come from monitor.sources.gpu.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from monitor.core.columns import Column

#: A GPU whose newest sample is this much older than the newest sample of any GPU has left
#: the run's set (a re-selection dropped it, or its reader stopped).
ACTIVE_GAP_S = 10.0
#: NVML's power reading (nvidia-smi's power.draw) is the mean over the last second on Ampere
#: and newer GPUs (nvidia-smi --help-query-gpu), so a reading describes the moment half a
#: second before its timestamp; integrated power is shifted back by that much.
POWER_LAG_S = 0.5
#: The shortest gap at the ends of a window that is filled with the nearest power reading.
HOLD_MIN_S = 2.0
#: Utilisation at or above this counts a sample as busy (busy_fraction).
BUSY_UTIL_PCT = 50.0
NAN = float("nan")


@dataclass(frozen=True, slots=True)
class GpuSample:
    """One reading of one GPU at time `t`; None where the GPU or the source does not say.
    `error` is set when the GPU stopped answering (lost, reset required); its values are None."""

    t: float
    index: int
    name: str | None = None
    power_w: float | None = None
    energy_j: float | None = None  # the GPU's cumulative energy counter, since driver load
    vram_used_bytes: int | None = None
    vram_total_bytes: int | None = None
    util_pct: float | None = None
    temp_c: float | None = None
    power_limit_w: float | None = None
    process_vram_bytes: int | None = None  # VRAM of the run's own processes, where visible
    error: str | None = None


@dataclass(frozen=True, slots=True)
class GpuChoice:
    """Which GPUs belong to the run, and how that was decided.

    `basis` is one of: "flag" (`--gpus`), "process" (the GPUs holding one of the run's
    processes), "none" (the run's processes hold no GPU: a CPU or Apple MPS run),
    "unseen" (the PIDs NVML reports are not visible here, e.g. a container with its own PID
    namespace: the GPUs with compute processes, a guess), "no-writer" (no process writing
    the log was found: the GPUs with compute processes, a guess), "all" (nothing to go by).
    `note` says it in words for the screen when the choice is a guess or empty."""

    gpus: tuple[int, ...]
    basis: str
    note: str | None = None


@dataclass(frozen=True, slots=True)
class CpuEnergySample:
    """The host's CPU energy counter (RAPL package + DRAM domains, summed) at time `t`.

    `energy_j` is cumulative since the reader started, with the counters' wrap-around
    already undone, so differences between two samples are energy. `error` says why there
    is no reading (no RAPL here, root only); then `energy_j` is None."""

    t: float
    energy_j: float | None
    domains: tuple[str, ...] = ()
    error: str | None = None


#: What a telemetry source hands over: GPU readings, the host's CPU energy, and which GPUs
#: are the run's (a GpuChoice comes whenever the choice changes).
Reading = GpuSample | GpuChoice | CpuEnergySample


@dataclass(frozen=True, slots=True)
class EnergyReading:
    """Energy between two times and how it was measured. `start_t`/`end_t` say which part of
    the window the samples covered (sampling may have started after the run did)."""

    energy_j: float
    source: str  # "nvml-counter" | "nvml-power" | "gpu-log"
    start_t: float
    end_t: float


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


#: How many of the newest spans between samples give the typical sampling period (hold_s).
PERIOD_SPANS = 1024


class _Trace:
    """The samples of one GPU as numpy columns, in time order, and the spans between
    consecutive samples with running sums, kept up to date as samples arrive (O(1) amortised
    a sample), so that the energy of any window costs a few binary searches however long the
    run. Span i runs from sample i to sample i + 1."""

    def __init__(self) -> None:
        self.t = Column()
        self.power_w = Column()
        self.energy_j = Column()
        self.vram_used = Column()
        self.util_pct = Column()
        self.latest: GpuSample | None = None
        self._by_counter = Column(np.bool_)  # the counter gave the span's energy (else power)
        self._valid = Column(np.int64)  # spans whose energy is known, in order
        self._cum_e = Column()  # running sums, one longer than the spans
        self._cum_counter_s = Column()
        self._cum_power_s = Column()
        for cum in (self._cum_e, self._cum_counter_s, self._cum_power_s):
            cum.append(0.0)
        self._firm = 0  # spans [0, firm) are final; later ones wait for a power reading
        self._known_p = -1  # the newest sample with a power reading
        self._any_counter = False
        self._peak: tuple[float | None, int, float] | None = None  # vram_peak's (since_t, samples seen, peak)

    def add(self, s: GpuSample) -> bool:
        if self.latest is not None and s.t < self.latest.t:
            return False  # out of order: the trace must stay sorted for the integrals
        self.latest = s
        self.t.append(s.t)
        self.power_w.append(_f(s.power_w))
        self.energy_j.append(_f(s.energy_j))
        self.vram_used.append(_f(s.vram_used_bytes))
        self.util_pct.append(_f(s.util_pct))
        return True

    @property
    def lag_s(self) -> float:
        """A trace with no counter at all is integrated power, moved back by the lag of the
        power average (POWER_LAG_S); spans are stored unshifted and windows moved instead."""
        return 0.0 if self._any_counter else POWER_LAG_S

    def _update(self) -> None:
        """Spans for the samples that came since the last call. A counter that went backwards
        was reset (driver reload): that span falls back to the trapezoid of the power readings.
        Spans after the newest power reading are recomputed when the next one comes, since a
        missing reading between two known ones is interpolated (`_bridged`)."""
        n = len(self.t)
        k0 = self._firm
        if n - 1 <= k0:
            return
        for col in (self._by_counter,):
            col.truncate(k0)
        for cum in (self._cum_e, self._cum_counter_s, self._cum_power_s):
            cum.truncate(k0 + 1)
        valid = self._valid.values
        self._valid.truncate(int(np.searchsorted(valid, k0, side="left")))
        # from the newest power reading at or before k0: the bridge across a gap needs it
        ks = self._known_p if 0 <= self._known_p <= k0 else k0
        t, e = self.t.values[ks:], self.energy_j.values[ks:]
        p = _bridged(t, self.power_w.values[ks:])
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
            cum.extend(cum.values[-1] + np.cumsum(add))
        self._any_counter = self._any_counter or bool(by_counter.any())
        known = np.flatnonzero(np.isfinite(self.power_w.values[ks:]))
        if len(known):
            self._known_p = ks + int(known[-1])
        # spans up to the newest power reading are final (before the first reading ever,
        # power stays unknown); after it they wait for the next reading
        self._firm = n - 1 if self._known_p < 0 else min(n - 1, max(k0, self._known_p))

    def _span_energy(self, i: int) -> float:
        cum = self._cum_e.values
        return float(cum[i + 1] - cum[i])

    def energy(self, t0: float, t1: float) -> tuple[float, float, float, float, float] | None:
        """(energy, seconds by counter, seconds by power, covered start, covered end) in
        [t0, t1]; a span cut by the window counts by the share inside it. A short gap at
        either end of the window (up to two sampling periods: the newest reading lags `now`)
        is held at the nearest power reading."""
        self._update()
        lag = self.lag_s
        t0, t1 = t0 + lag, t1 + lag
        t = self.t.values
        a, b = t[:-1], t[1:]
        lo = int(np.searchsorted(b, t0, side="right"))  # first span ending after t0
        hi = int(np.searchsorted(a, t1, side="left"))  # spans starting before t1: [0, hi)
        valid = self._valid.values
        k0, k1 = np.searchsorted(valid, [lo, hi], side="left")
        if k0 >= k1:
            return None
        first, last = int(valid[k0]), int(valid[k1 - 1])
        cum_e, cum_c, cum_p = self._cum_e.values, self._cum_counter_s.values, self._cum_power_s.values
        total = float(cum_e[last + 1] - cum_e[first])
        counter_s = float(cum_c[last + 1] - cum_c[first])
        power_s = float(cum_p[last + 1] - cum_p[first])
        by_counter = self._by_counter.values
        for i in {first, last}:
            width = float(b[i] - a[i])
            outside = width - (min(float(b[i]), t1) - max(float(a[i]), t0))
            if outside > 0:
                total -= self._span_energy(i) * outside / width
                if by_counter[i]:
                    counter_s -= outside
                else:
                    power_s -= outside
        start, end = max(t0, float(a[first])), min(t1, float(b[last]))
        recent = t[-PERIOD_SPANS - 1 :]
        hold_s = max(HOLD_MIN_S, 2 * float(np.median(np.diff(recent))))
        p = self.power_w.values
        for gap, power in ((start - t0, p[first]), (t1 - end, p[last + 1])):
            if 0 < gap <= hold_s and math.isfinite(power):
                total += gap * float(power)
                power_s += gap
        if start - t0 <= hold_s and math.isfinite(p[first]):
            start = t0
        if t1 - end <= hold_s and math.isfinite(p[last + 1]):
            end = t1
        return total, counter_s, power_s, start - lag, end - lag

    def vram_peak(self, since_t: float | None) -> float | None:
        """The highest VRAM reading from `since_t` on (all of them for None); asked again
        with the same `since_t`, only the samples that came since are looked at."""
        t, vram = self.t.values, self.vram_used.values
        seen, peak = 0, -math.inf
        if self._peak is not None and self._peak[0] == since_t:
            _, seen, peak = self._peak
        new_t, new = t[seen:], vram[seen:]
        if since_t is not None:
            new = new[new_t >= since_t]
        new = new[np.isfinite(new)]
        if len(new):
            peak = max(peak, float(new.max()))
        self._peak = (since_t, len(t), peak)
        return peak if math.isfinite(peak) else None

    def window(self, t0: float, t1: float) -> slice:
        """The samples with t0 <= t <= t1, as a slice of the columns."""
        t = self.t.values
        return slice(int(np.searchsorted(t, t0, side="left")), int(np.searchsorted(t, t1, side="right")))


class Telemetry:
    """Every sample of the run's GPUs; answers questions about a time window.

    `origin` is "nvml" for a live sampler, "gpu-log" for samples read from an nvidia-smi CSV.
    `status` holds "GPU telemetry unavailable: <reason>" when there is no source at all."""

    def __init__(self, origin: str = "nvml") -> None:
        self.origin = origin
        self.status: str | None = None
        #: which GPUs are the run's, once a live source has decided (None: not said)
        self.choice: GpuChoice | None = None
        #: why there is no CPU energy (None while it is measured, or never asked for)
        self.cpu_status: str | None = None
        self._cpu_t = Column()
        self._cpu_j = Column()
        self._traces: dict[int, _Trace] = {}
        self._newest_t: float | None = None

    def unavailable(self, reason: str) -> None:
        self.status = f"GPU telemetry unavailable: {reason}"

    def add(self, samples: Iterable[Reading]) -> int:
        """Fold readings in; returns how many GPU samples were kept (out-of-order ones are
        dropped). A GpuChoice replaces the previous one; CPU samples go to their own trace."""
        kept = 0
        for s in samples:
            if isinstance(s, GpuChoice):
                self.choice = s
                continue
            if isinstance(s, CpuEnergySample):
                self._add_cpu(s)
                continue
            if self.choice is not None and s.index not in self.choice.gpus:
                continue  # a sample taken before the choice moved away from this GPU
            if self._traces.setdefault(s.index, _Trace()).add(s):
                kept += 1
                if self._newest_t is None or s.t > self._newest_t:
                    self._newest_t = s.t
        if kept:
            self.status = None
        return kept

    def _add_cpu(self, s: CpuEnergySample) -> None:
        if s.energy_j is None:
            self.cpu_status = s.error or "no CPU energy reading"
            return
        if len(self._cpu_t) and s.t <= self._cpu_t.values[-1]:
            return
        self.cpu_status = None
        self._cpu_t.append(s.t)
        self._cpu_j.append(s.energy_j)

    def cpu_energy_j(self, t0: float, t1: float) -> float | None:
        """CPU (package + DRAM) energy between t0 and t1, interpolated linearly between the
        cumulative counter's samples; None unless samples cover at least half the window."""
        t, e = self._cpu_t.values, self._cpu_j.values
        if len(t) < 2 or t1 <= t0:
            return None
        a, b = max(t0, float(t[0])), min(t1, float(t[-1]))
        if b - a < 0.5 * (t1 - t0):
            return None
        inside = float(np.interp(b, t, e) - np.interp(a, t, e))
        return inside * (t1 - t0) / (b - a)  # the uncovered ends at the mean power of the rest

    @property
    def cpu_measured(self) -> bool:
        return len(self._cpu_t) >= 2

    @property
    def first_t(self) -> float | None:
        starts = [tr.t.values[0] for tr in self._traces.values() if len(tr.t)]
        return float(min(starts)) if starts else None

    @property
    def last_t(self) -> float | None:
        return self._newest_t

    def active(self) -> list[int]:
        """The GPUs of the run now: those with a sample close to the newest one."""
        if self._newest_t is None:
            return []
        newest = self._newest_t
        chosen = None if self.choice is None else set(self.choice.gpus)
        return sorted(i for i, tr in self._traces.items()
                      if tr.latest and newest - tr.latest.t <= ACTIVE_GAP_S and (chosen is None or i in chosen))

    def latest(self) -> list[GpuSample]:
        return [s for i in self.active() if (s := self._traces[i].latest) is not None]

    def vram_peak_bytes(self, index: int, since_t: float | None = None) -> int | None:
        tr = self._traces.get(index)
        if tr is None:
            return None
        peak = tr.vram_peak(since_t)
        return None if peak is None else int(peak)

    def energy(self, t0: float, t1: float, gpus: Iterable[int] | None = None) -> EnergyReading | None:
        """Energy of the GPUs (default: the active ones) between t0 and t1, None without two
        samples inside. Each interval between two samples counts by the share of it that lies
        in the window, so the ends of the window need no sample of their own."""
        if t1 <= t0:
            return None
        total = counter_s = power_s = 0.0
        start, end = math.inf, -math.inf
        for index in self.active() if gpus is None else gpus:
            tr = self._traces.get(index)
            part = None if tr is None or len(tr.t) < 2 else tr.energy(t0, t1)
            if part is None:
                continue
            total += part[0]
            counter_s += part[1]
            power_s += part[2]
            start, end = min(start, part[3]), max(end, part[4])
        if not math.isfinite(start):
            return None
        if self.origin == "gpu-log":
            source = "gpu-log"
        else:
            source = "nvml-counter" if counter_s >= power_s else "nvml-power"
        return EnergyReading(total, source, start, end)

    def mean_power_w(self, t0: float, t1: float, gpus: Iterable[int] | None = None) -> float | None:
        """Mean total power of the GPUs over the part of [t0, t1] the samples cover."""
        reading = self.energy(t0, t1, gpus)
        if reading is None or reading.end_t <= reading.start_t:
            return None
        return reading.energy_j / (reading.end_t - reading.start_t)

    def windows_energy(self, windows: Iterable[tuple[float, float]]) -> tuple[float, float] | None:
        """Energy and covered seconds summed over several windows (e.g. the eval pauses)."""
        energy_j = seconds = 0.0
        for t0, t1 in windows:
            reading = self.energy(t0, t1)
            if reading is not None:
                energy_j += reading.energy_j
                seconds += reading.end_t - reading.start_t
        return (energy_j, seconds) if seconds > 0 else None

    def busy_fraction(self, t0: float, t1: float) -> float | None:
        """Share of the active GPUs' samples in [t0, t1] whose utilisation is at least 50%;
        None when no sample there reports utilisation."""
        busy = known = 0
        for index in self.active():
            tr = self._traces[index]
            inside = tr.util_pct.values[tr.window(t0, t1)]
            inside = inside[np.isfinite(inside)]
            known += len(inside)
            busy += int(np.count_nonzero(inside >= BUSY_UTIL_PCT))
        return busy / known if known else None

    def total(self, field: str) -> float | None:
        """Sum of a latest-sample field over the active GPUs; None if any GPU does not say,
        since a partial sum would pass for the whole."""
        values = [getattr(s, field) for s in self.latest()]
        if not values or any(v is None for v in values):
            return None
        return float(sum(values))
