"""GPU samples from NVML (live) or from an nvidia-smi CSV (recorded), behind one Protocol
(sources.gpusource), the source the command line asks for, and the sampling thread.

ADAPTER ring: never imports textual.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from monitor.core.telemetry import GpuSample, Reading
from monitor.sources.gpulog import open_gpu_log
from monitor.sources.gpusource import CpuEnergySource, GpuSource, Unavailable
from monitor.sources.nvml import open_nvml
from monitor.sources.problems import GpuLost, GpuProblem, GpuUnavailable, Guard

__all__ = ["CpuEnergySource", "GpuSampler", "GpuSource", "Unavailable", "open_cpu_energy", "open_gpu_log",
           "open_nvml", "open_source"]


def open_source(*, no_gpu: bool, gpu_log: str | None, gpus: Sequence[int] | None, log_path: str | None,
                live: bool, span: tuple[float, float] | None = None) -> GpuSource | None:
    """The GPU source the command line asks for: None with --no-gpu, the CSV with --gpu-log
    (aligned to `span`, see open_gpu_log), else NVML for a live log (a replay of a finished
    log has no live GPUs to read)."""
    if no_gpu:
        return None
    if gpu_log:
        return open_gpu_log(gpu_log, gpus, span, follow=live)  # a live run's CSV grows beside it
    if not live:
        return Unavailable("a replay reads GPU samples from --gpu-log only")
    return open_nvml(gpus, None if log_path == "-" else log_path)


def open_cpu_energy(live: bool) -> CpuEnergySource | None:
    """The host's RAPL counters for a live run (a replay has no live host to read)."""
    if not live:
        return None
    from monitor.sources.rapl import RaplReader

    return RaplReader()


class GpuSampler:
    """Polls a GpuSource every `interval_s` seconds on a daemon thread.

    Used like this (monitor.live.watch_gpus builds it with a feed's hooks)::

        source = open_nvml(gpus=args.gpus, log_path=args.log)   # or open_gpu_log(csv)
        sampler = GpuSampler(source, interval_s=args.gpu_interval, clock=time.time,
                             on_samples=hooks.on_samples, on_error=hooks.on_error)
        sampler.start()
        ...
        sampler.stop()   # joins the thread and shuts NVML down

    Callbacks run on the sampler thread (a LiveFeed queues them in its inbox). `on_error`
    gets a GpuUnavailable once when the source has nothing to give (the thread then ends),
    a GpuLost once when a GPU stops answering (the others keep being sampled), and a
    LoopFailed when a poll raises something unexpected (said once; sampling goes on).
    `overhead_s` / `polls` measure what sampling costs.
    """

    def __init__(self, source: GpuSource, interval_s: float, clock: Callable[[], float],
                 on_samples: Callable[[list[Reading]], None], on_error: Callable[[GpuProblem], None],
                 timer: Callable[[], float] = time.perf_counter, cpu: CpuEnergySource | None = None) -> None:
        self.source = source
        self.cpu = cpu
        self._gpu_done = False
        self._cpu_done = False
        self.interval_s = max(0.05, interval_s)
        self.clock = clock
        self.on_samples = on_samples
        self.on_error = on_error
        self.timer = timer
        self.overhead_s = 0.0
        self.polls = 0
        self._reported: dict[int, str] = {}
        self._guard = Guard("GPU sampler", on_error)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="nanowatch-gpu", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        interrupt = getattr(self.source, "interrupt", None)  # a network source stops waiting at once
        if interrupt is not None:
            interrupt()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        self.source.close()

    def tick(self) -> bool:
        """One poll and its callbacks; False when no source has anything more to give.
        A GPU source with nothing to give is reported once; the CPU counter, when there is
        one, goes on being read."""
        started = self.timer()
        now = self.clock()
        readings: list[Reading] = []
        if not self._gpu_done and self.source.status is not None:
            self._gpu_done = True
            self.on_error(GpuUnavailable(self.source.status))
        if not self._gpu_done:
            readings += self.source.poll(now)
        if self.cpu is not None and not self._cpu_done:
            readings += self.cpu.poll(now)
            self._cpu_done = self.cpu.status is not None  # its reason went out with this reading
        self.overhead_s += self.timer() - started
        self.polls += 1
        for s in readings:
            if isinstance(s, GpuSample) and s.error and self._reported.get(s.index) != s.error:
                self._reported[s.index] = s.error
                self.on_error(GpuLost(f"GPU {s.index}", s.error))
        if readings:
            self.on_samples(readings)
        return not (self._gpu_done and (self.cpu is None or self._cpu_done))

    def _loop(self) -> None:
        going = True

        def step() -> None:
            nonlocal going
            going = self.tick()

        while not self._stop.is_set():
            started = self.timer()
            self._guard.run(step)  # a poll that raises is said, and the next one tried
            if not going:
                return
            self._stop.wait(max(0.0, self.interval_s - (self.timer() - started)))
