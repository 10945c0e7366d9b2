"""GPU telemetry folded from samples: latest values per GPU, VRAM peak, energy between two
times (NVML counter differences, else integrated power), mean power, busy fraction.

PURE ring: no I/O, no textual/watchdog/pynvml imports. Samples come from monitor.sources.gpu.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from monitor.core.run import Column

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


@dataclass(frozen=True, slots=True)
class _Intervals:
    """The spans between consecutive samples of one GPU, with running sums so that the energy
    of any window costs two binary searches, however long the run."""

    a: np.ndarray  # start of each span
    b: np.ndarray  # end of each span
    e: np.ndarray  # its energy, 0 where unknown
    by_counter: np.ndarray  # the counter gave it (else integrated power)
    valid: np.ndarray  # indices of spans whose energy is known
    cum_e: np.ndarray  # running sums, one longer than the spans
    cum_counter_s: np.ndarray
    cum_power_s: np.ndarray
    median_s: float


class _Trace:
    """The samples of one GPU as numpy columns, in time order."""

    def __init__(self) -> None:
        self.t = Column()
        self.power_w = Column()
        self.energy_j = Column()
        self.vram_used = Column()
        self.util_pct = Column()
        self.latest: GpuSample | None = None
        self._intervals: _Intervals | None = None

    def add(self, s: GpuSample) -> bool:
        if self.latest is not None and s.t < self.latest.t:
            return False  # out of order: the trace must stay sorted for the integrals
        self.latest = s
        self.t.append(s.t)
        self.power_w.append(_f(s.power_w))
        self.energy_j.append(_f(s.energy_j))
        self.vram_used.append(_f(s.vram_used_bytes))
        self.util_pct.append(_f(s.util_pct))
        self._intervals = None
        return True

    def intervals(self) -> _Intervals:
        """Spans between consecutive samples. A counter that went backwards was reset (driver
        reload): that span falls back to the trapezoid of the power readings. A trace with no
        counter at all is integrated power, moved back by the lag of the power average (one
        shift for the whole trace keeps the spans in order for the binary searches)."""
        if self._intervals is None:
            t, e = self.t.values, self.energy_j.values
            p = _bridged(t, self.power_w.values)
            de = np.diff(e)
            by_counter = np.isfinite(de) & (de >= 0)
            energy = np.where(by_counter, de, (p[1:] + p[:-1]) / 2 * np.diff(t))
            lag = 0.0 if by_counter.any() else POWER_LAG_S
            a, b = t[:-1] - lag, t[1:] - lag
            width = b - a
            ok = np.isfinite(energy) & (width > 0)
            zero = np.zeros(1)
            self._intervals = _Intervals(
                a=a, b=b, e=np.where(ok, energy, 0.0), by_counter=by_counter, valid=np.flatnonzero(ok),
                cum_e=np.concatenate([zero, np.cumsum(np.where(ok, energy, 0.0))]),
                cum_counter_s=np.concatenate([zero, np.cumsum(np.where(ok & by_counter, width, 0.0))]),
                cum_power_s=np.concatenate([zero, np.cumsum(np.where(ok & ~by_counter, width, 0.0))]),
                median_s=float(np.median(width)) if len(width) else 0.0,
            )
        return self._intervals

    def energy(self, t0: float, t1: float) -> tuple[float, float, float, float, float] | None:
        """(energy, seconds by counter, seconds by power, covered start, covered end) in
        [t0, t1]; a span cut by the window counts by the share inside it. A short gap at
        either end of the window (up to two sampling periods: the newest reading lags `now`)
        is held at the nearest power reading."""
        iv = self.intervals()
        lo = int(np.searchsorted(iv.b, t0, side="right"))  # first span ending after t0
        hi = int(np.searchsorted(iv.a, t1, side="left"))  # spans starting before t1: [0, hi)
        k0, k1 = np.searchsorted(iv.valid, [lo, hi], side="left")
        if k0 >= k1:
            return None
        first, last = int(iv.valid[k0]), int(iv.valid[k1 - 1])
        total = float(iv.cum_e[last + 1] - iv.cum_e[first])
        counter_s = float(iv.cum_counter_s[last + 1] - iv.cum_counter_s[first])
        power_s = float(iv.cum_power_s[last + 1] - iv.cum_power_s[first])
        for i in {first, last}:
            width = float(iv.b[i] - iv.a[i])
            outside = width - (min(float(iv.b[i]), t1) - max(float(iv.a[i]), t0))
            if outside > 0:
                total -= float(iv.e[i]) * outside / width
                if iv.by_counter[i]:
                    counter_s -= outside
                else:
                    power_s -= outside
        start, end = max(t0, float(iv.a[first])), min(t1, float(iv.b[last]))
        hold_s = max(HOLD_MIN_S, 2 * iv.median_s)
        p = self.power_w.values
        for gap, power in ((start - t0, p[first]), (t1 - end, p[last + 1])):
            if 0 < gap <= hold_s and math.isfinite(power):
                total += gap * float(power)
                power_s += gap
        if start - t0 <= hold_s and math.isfinite(p[first]):
            start = t0
        if t1 - end <= hold_s and math.isfinite(p[last + 1]):
            end = t1
        return total, counter_s, power_s, start, end


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
        vram = tr.vram_used.values
        if since_t is not None:
            vram = vram[tr.t.values >= since_t]
        vram = vram[np.isfinite(vram)]
        return int(vram.max()) if len(vram) else None

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
            t, util = tr.t.values, tr.util_pct.values
            inside = util[(t >= t0) & (t <= t1)]
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
