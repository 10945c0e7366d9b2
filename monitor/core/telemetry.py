"""GPU telemetry folded from samples: latest values per GPU, VRAM peak, energy between two
times (NVML counter differences, else integrated power), mean power, busy fraction.

PURE ring: no I/O, no textual/watchdog/pynvml imports. Samples come from monitor.sources.gpu.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from monitor.core.columns import Column
from monitor.core.gputrace import (
    BUSY_UTIL_PCT,
    END_READ_S,
    HOLD_MIN_S,
    KEEP_S,
    MAX_PINS,
    POWER_LAG_S,
    TAIL_SAMPLES,
    GpuTrace,
)

__all__ = ["ACTIVE_GAP_S", "BUSY_UTIL_PCT", "END_READ_S", "HOLD_MIN_S", "POWER_LAG_S", "CpuEnergySample", "EnergyReading",
           "GpuChoice", "GpuSample", "Reading", "Telemetry"]

#: Changes of the other processes on the run's GPUs kept (Telemetry.contention), the newest.
CONTENTION_KEEP = 64
#: A GPU whose newest sample is this much older than the newest sample of any GPU has left
#: the run's set (a re-selection dropped it, or its reader stopped).
ACTIVE_GAP_S = 10.0
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
    #: compute processes on this GPU that are not the run's (None: not known, e.g. the run's
    #: processes are not visible here)
    other_processes: int | None = None


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
        self._cpu = _CpuTrace()
        self._traces: dict[int, GpuTrace] = {}
        self._newest_t: float | None = None
        #: window ends asked -> in how many rounds (between new samples), the newest last
        #: (MAX_PINS of them): those asked again later (a run's start, not a sliding window's
        #: `now`) outlive dropped samples
        self._asked: dict[float, int] = {}
        self._asked_now: set[float] = set()  # the ends asked in this round
        #: the eval windows asked last reach back to here, asked when the newest sample was at
        self._keep_from: tuple[float, float] | None = None
        self._others: dict[int, int] = {}  # GPU -> other processes on it, newest sample
        #: (time, other processes on the run's GPUs, the most on any one) at each change, oldest
        #: first, the newest CONTENTION_KEEP: what the estimator takes as known changes of speed
        self.contention: list[tuple[float, int]] = []

    def unavailable(self, reason: str) -> None:
        self.status = f"GPU telemetry unavailable: {reason}"

    def add(self, samples: Iterable[Reading]) -> int:
        """Fold readings in; returns how many GPU samples were kept (out-of-order ones are
        dropped). A GpuChoice replaces the previous one; CPU samples go to their own trace."""
        kept = 0
        touched: set[int] = set()
        for s in samples:
            if isinstance(s, GpuChoice):
                self.choice = s
                continue
            if isinstance(s, CpuEnergySample):
                self._add_cpu(s)
                continue
            if self.choice is not None and s.index not in self.choice.gpus:
                continue  # a sample taken before the choice moved away from this GPU
            trace = self._traces.get(s.index)
            if trace is None:
                trace = self._traces[s.index] = GpuTrace()
            if trace.add(s):
                self._contend(s)
                kept += 1
                touched.add(s.index)
                if self._newest_t is None or s.t > self._newest_t:
                    self._newest_t = s.t
        if kept:
            self.status = None
            self._asked_now.clear()
        keep_from = self._keep_from
        if keep_from is not None and self._newest_t is not None and self._newest_t - keep_from[1] > KEEP_S:
            keep_from = self._keep_from = None  # no eval windows asked for a while: the run ended
        for index in touched:
            self._traces[index].drop(self._asked, None if keep_from is None else keep_from[0])
        return kept

    def _contend(self, s: GpuSample) -> None:
        if s.other_processes is None:
            return
        self._others[s.index] = s.other_processes
        active = self.choice.gpus if self.choice is not None else self._others
        others = max((self._others.get(i, 0) for i in active), default=0)
        if (self.contention[-1][1] if self.contention else 0) != others:
            self.contention.append((s.t, others))
            del self.contention[:-CONTENTION_KEEP]

    def _ask(self, *ends: float) -> None:
        """Remember window ends asked (the newest last), so that their sums outlive the samples."""
        for x in ends:
            rounds = self._asked.pop(x, 0)
            self._asked[x] = rounds if x in self._asked_now else rounds + 1
            self._asked_now.add(x)
        while len(self._asked) > MAX_PINS:
            del self._asked[next(iter(self._asked))]

    def _add_cpu(self, s: CpuEnergySample) -> None:
        if s.energy_j is None:
            self.cpu_status = s.error or "no CPU energy reading"
            return
        if self._cpu.add(s.t, s.energy_j):
            self.cpu_status = None
            self._cpu.drop(self._asked)

    def cpu_energy_j(self, t0: float, t1: float) -> float | None:
        """CPU (package + DRAM) energy between t0 and t1, interpolated linearly between the
        cumulative counter's samples; None unless samples cover at least half the window. As
        for the GPUs, nothing is counted past the newest sample (a live window's end)."""
        cpu = self._cpu
        if len(cpu.t) < 2 or t1 <= t0 or cpu.first_t is None:
            return None
        self._ask(t0, t1)
        a, b = max(t0, cpu.first_t), min(t1, float(cpu.t.values[-1]))
        if b - a < 0.5 * (t1 - t0):
            return None
        inside = cpu.at(b, t1) - cpu.at(a, t0)
        return inside * (b - t0) / (b - a)  # the part before sampling began at the mean power of the rest

    @property
    def cpu_measured(self) -> bool:
        return len(self._cpu.t) >= 2

    @property
    def first_t(self) -> float | None:
        starts = [tr.first_t for tr in self._traces.values() if tr.first_t is not None]
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

    def latest(self, at: float | None = None) -> list[GpuSample]:
        """Each active GPU's newest sample, or with `at` its newest taken at or before then."""
        return [s for i in self.active()
                if (s := self._traces[i].latest if at is None else self._traces[i].at(at)) is not None]

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
        self._ask(t0, t1)
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
        windows = list(windows)
        if windows and self._newest_t is not None:
            # eval windows move with the eval-time estimate: their samples stay (and as much again)
            self._keep_from = (min(t0 - (t1 - t0) for t0, t1 in windows), self._newest_t)
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
        self._ask(t0, t1)
        for index in self.active():
            k, b = self._traces[index].busy(t0, t1)
            known += k
            busy += b
        return busy / known if known else None

    def idle_gpus(self, t0: float, t1: float, share: float = 0.5) -> list[int] | None:
        """The active GPUs whose mean power over [t0, t1] is under `share` of the busiest
        one's (a box's other GPUs, idle beside the run's); None when fewer than two GPUs
        report power there."""
        power = {i: p for i in self.active() if (p := self.mean_power_w(t0, t1, [i])) is not None}
        if len(power) < 2:
            return None
        top = max(power.values())
        return sorted(i for i, p in power.items() if p < share * top)

    def total(self, field: str, at: float | None = None) -> float | None:
        """Sum of a latest-sample field (latest(at)) over the active GPUs; None if any GPU does
        not say, since a partial sum would pass for the whole."""
        values = [getattr(s, field) for s in self.latest(at)]
        if not values or any(v is None for v in values):
            return None
        return float(sum(values))


class _CpuTrace:
    """The CPU energy counter's samples at bounded memory: the newest kept (TAIL_SAMPLES, and
    KEEP_S seconds); the counter read off at the window ends asked before older ones drop."""

    def __init__(self) -> None:
        self.t = Column()
        self.j = Column()
        self.first_t: float | None = None
        self._pins: dict[float, float] = {}

    def add(self, t: float, energy_j: float) -> bool:
        if len(self.t) and t <= self.t.values[-1]:
            return False
        self.first_t = t if self.first_t is None else self.first_t
        self.t.append(t)
        self.j.append(energy_j)
        return True

    def at(self, x: float, asked: float) -> float:
        """The counter at `x` (J), interpolated linearly; `asked` is the window end it stands
        for, pinned when its samples were dropped."""
        t = self.t.values
        if self.t.start and x < t[0] and asked in self._pins:
            return self._pins[asked]
        return float(np.interp(x, t, self.j.values))

    def drop(self, asked: Mapping[float, int]) -> None:
        """As GpuTrace.drop: the ends asked more than once (end -> times) are pinned first."""
        t = self.t.values
        if self.t.kept < 2 * TAIL_SAMPLES:
            return
        gone = min(len(t) - TAIL_SAMPLES, int(np.searchsorted(t, t[-1] - KEEP_S, side="left")))
        if gone < TAIL_SAMPLES or self.first_t is None:
            return
        pins = {}
        for x, times in asked.items():
            if x in self._pins:
                pins[x] = self._pins[x]
            elif max(x, self.first_t) < t[gone] and times > 1:
                pins[x] = self.at(max(x, self.first_t), x)
        self._pins = pins
        self.t.drop(gone)
        self.j.drop(gone)
