"""GPU samples from NVML (live) or from an nvidia-smi CSV (recorded), behind one Protocol,
plus a sampling thread with callbacks for the live front ends.

ADAPTER ring: imports pynvml lazily, reads /proc and CSV files; never imports textual.
"""

from __future__ import annotations

import importlib
import os
import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import replace
from typing import Any, Protocol, TextIO

from monitor.core.telemetry import CpuEnergySample, GpuChoice, GpuSample, Reading
from monitor.sources.problems import GpuLost, GpuProblem, GpuUnavailable, Guard
from monitor.sources.smicsv import MAX_ROW_CHARS, clock_offset_s, clock_offset_span, iter_gpu_csv

#: How often the GPUs of the run are looked for again until the log's writer is found on one:
#: soon at first (the run may still be starting), then less often (the /proc scan costs).
RESELECT_FIRST_S, RESELECT_MAX_S = 5.0, 60.0


class GpuSource(Protocol):
    """Anything that yields GPU samples: NVML, a CSV, a test double."""

    #: None while the source works; else why it yields nothing ("no NVIDIA driver", ...).
    status: str | None
    #: where the samples come from, for the energy's label: "nvml" (live) or "gpu-log" (a CSV)
    origin: str

    def poll(self, now: float) -> Sequence[Reading]:
        """The readings taken at or before `now` that were not returned before."""
        ...

    def close(self) -> None: ...


class CpuEnergySource(Protocol):
    """The host's CPU energy counter (sources.rapl.RaplReader, or a test double)."""

    status: str | None

    def poll(self, now: float) -> list[CpuEnergySample]: ...


class Unavailable:
    """A source with nothing to give, and the reason why."""

    origin = "nvml"

    def __init__(self, reason: str) -> None:
        self.status: str | None = reason

    def poll(self, now: float) -> list[Reading]:
        return []

    def close(self) -> None:
        pass


# --------------------------------------------------------------------------------------- NVML


class NvmlGone(Exception):
    """The GPU (or the driver) stopped answering: lost, needs a reset, driver unloaded."""


#: NVML errors after which a GPU's values are unknown but the GPU is still there (MIG, old
#: boards, a field the driver does not expose): the value becomes None, never 0.
_UNKNOWN_VALUE = ("NotSupported", "NoPermission", "NotFound", "FunctionNotFound", "InvalidArgument",
                  "InsufficientSize", "Timeout", "NoData")


def nvml_call(nvml: Any, fn_name: str, *args: Any, **kwargs: Any) -> Any:
    """Every NVML call goes through here (as nvitop routes its calls through one function):
    a value, or None when the GPU does not support or expose it. An error that means the GPU
    or the driver is gone raises NvmlGone with a reason for the user."""
    fn = getattr(nvml, fn_name, None)
    if fn is None:
        return None  # an older nvidia-ml-py without this function
    try:
        return fn(*args, **kwargs)
    except nvml.NVMLError as e:
        kind = type(e).__name__.removeprefix("NVMLError_")
        if kind in _UNKNOWN_VALUE:
            return None
        raise NvmlGone(str(e) or kind) from None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _scaled(value: Any, factor: float) -> float | None:
    return None if value is None else float(value) * factor


class NvmlSource:
    """Samples the GPUs of the run through NVML: `gpus` when given, else those running the
    process that writes `log_path`, else all with compute processes, else all."""

    origin = "nvml"

    def __init__(self, nvml: Any, gpus: Sequence[int] | None = None, log_path: str | None = None,
                 proc_root: str = "/proc") -> None:
        self.nvml = nvml
        self.status: str | None = None
        self.log_path = log_path
        self.proc_root = proc_root
        self.requested = tuple(gpus) if gpus else None
        count = nvml_call(nvml, "nvmlDeviceGetCount") or 0
        self.handles = {i: nvml_call(nvml, "nvmlDeviceGetHandleByIndex", i) for i in range(count)}
        self.names = {i: _text(nvml_call(nvml, "nvmlDeviceGetName", h)) for i, h in self.handles.items()}
        self.lost: dict[int, str] = {}
        self._memory_v2 = {i: hasattr(nvml, "nvmlMemory_v2") for i in self.handles}
        self.selected: list[int] = []
        self.family: set[int] = set()
        self.choice: GpuChoice | None = None
        self._choice_news = False
        self._writer_seen = False
        self._settled = False
        self._selected_at: float | None = None
        self._reselect_s = RESELECT_FIRST_S
        if not count:
            self.status = "NVML sees no GPU"
        elif self.requested and not set(self.requested) & set(self.handles):
            self.status = f"no GPU {','.join(map(str, self.requested))} here (NVML sees {count})"

    def _processes(self, index: int) -> dict[int, int | None]:
        """pid -> VRAM bytes (None where the driver does not say) of compute processes."""
        procs = nvml_call(self.nvml, "nvmlDeviceGetComputeRunningProcesses", self.handles[index]) or []
        return {int(p.pid): (None if p.usedGpuMemory is None else int(p.usedGpuMemory)) for p in procs}

    def _select(self, now: float, processes: dict[int, dict[int, int | None]]) -> None:
        """Decide which GPUs are the run's (see GpuChoice for the cases). Until the run's own
        processes are seen on a GPU the choice is looked at again, less and less often."""
        if self.requested:
            self.selected, self._settled = [i for i in self.requested if i in self.handles], True
            self._choose(GpuChoice(tuple(self.selected), "flag"))
            return
        running = [i for i in self.handles if processes.get(i)]
        reported = {pid for i in running for pid in processes[i]}
        family = run_family(self.log_path, self.proc_root) if self.log_path else set()
        if not family and self._writer_seen:
            self._settled = True  # the writer has gone: the run ended; its GPUs stay what they were
            return
        self._writer_seen = self._writer_seen or bool(family)
        visible = any(os.path.exists(os.path.join(self.proc_root, str(pid))) for pid in reported)
        if family and (visible or not reported):
            matched = [i for i in running if family & set(processes[i])]
            if matched:
                # Settled once the same GPUs are seen twice: DDP ranks start CUDA a few seconds apart.
                settled = self.choice is not None and self.choice.basis == "process" and list(self.choice.gpus) == matched
                self.selected, self.family = matched, family
                self._choose(GpuChoice(tuple(matched), "process"))
                if settled:
                    self._settled = True
                    return
                self._next_check(now)
                return
            # Its processes are visible and hold no GPU (others' may): a CPU or Apple MPS run,
            # so far. It may still start CUDA, so this is looked at again.
            self.selected = []
            self._choose(GpuChoice((), "none", "this run uses no GPU so far (none of its processes holds one): "
                                               "GPU energy is not counted"))
        elif family:
            self.selected = running
            self._choose(GpuChoice(tuple(running), "unseen",
                                   "GPUs chosen without seeing the run's processes (the PIDs NVML reports are not "
                                   "visible here: a container with its own PID namespace?): those with compute processes"))
        elif self.log_path:
            self.selected = running or list(self.handles)
            what = "those with compute processes" if running else "all of them (none has a compute process)"
            self._choose(GpuChoice(tuple(self.selected), "no-writer",
                                   "no process writing the log was found on this host (another host, a network "
                                   f"file system, or the run ended): GPUs chosen as {what}"))
        else:
            self.selected = running or list(self.handles)
            self._choose(GpuChoice(tuple(self.selected), "all" if not running else "unseen",
                                   None if not running else "GPUs chosen as those with compute processes (log read from a pipe)"))
        self._settled = False
        self._next_check(now)

    def _next_check(self, now: float) -> None:
        if self._selected_at is not None:
            self._reselect_s = min(RESELECT_MAX_S, 2 * self._reselect_s)
        self._selected_at = now

    def _choose(self, choice: GpuChoice) -> None:
        if choice != self.choice:
            self.choice, self._choice_news = choice, True

    def poll(self, now: float) -> list[Reading]:
        """Readings of the run's GPUs at `now`, led by a GpuChoice whenever the choice changed."""
        if self.status is not None:
            return []
        candidates = self.selected if self._settled else list(self.handles)
        processes = {}
        for i in candidates:
            if i not in self.lost:
                try:
                    processes[i] = self._processes(i)
                except NvmlGone as e:
                    self.lost[i] = str(e)
        due = self._selected_at is None or now - self._selected_at >= self._reselect_s
        if not self._settled and due:
            self._select(now, processes)
        out: list[Reading] = []
        if self._choice_news and self.choice is not None:
            out.append(self.choice)
            self._choice_news = False
        out += [self._sample(i, now, processes.get(i, {})) for i in self.selected]
        return out

    def _sample(self, index: int, now: float, procs: dict[int, int | None]) -> GpuSample:
        name = self.names.get(index)
        if index in self.lost:
            return GpuSample(t=now, index=index, name=name, error=self.lost[index])
        h, q = self.handles[index], self.nvml
        try:
            memory = None
            if self._memory_v2[index]:
                # v2 leaves out the driver's reserved memory, as nvidia-smi does
                memory = nvml_call(q, "nvmlDeviceGetMemoryInfo", h, version=q.nvmlMemory_v2)
                self._memory_v2[index] = memory is not None
            if memory is None:
                memory = nvml_call(q, "nvmlDeviceGetMemoryInfo", h)
            util = nvml_call(q, "nvmlDeviceGetUtilizationRates", h)
            mine = [procs[p] for p in self.family & set(procs)]
            process_vram = None if not mine or None in mine else sum(v for v in mine if v is not None)
            return GpuSample(
                t=now,
                index=index,
                name=name,
                power_w=_scaled(nvml_call(q, "nvmlDeviceGetPowerUsage", h), 1e-3),
                energy_j=_scaled(nvml_call(q, "nvmlDeviceGetTotalEnergyConsumption", h), 1e-3),
                vram_used_bytes=None if memory is None else int(memory.used),
                vram_total_bytes=None if memory is None else int(memory.total),
                util_pct=None if util is None else float(util.gpu),
                temp_c=_scaled(nvml_call(q, "nvmlDeviceGetTemperature", h, getattr(q, "NVML_TEMPERATURE_GPU", 0)), 1),
                power_limit_w=_scaled(nvml_call(q, "nvmlDeviceGetEnforcedPowerLimit", h), 1e-3),
                process_vram_bytes=process_vram,
                other_processes=len(set(procs) - self.family) if self.family else None,
            )
        except NvmlGone as e:
            self.lost[index] = str(e)
            return GpuSample(t=now, index=index, name=name, error=str(e))

    def close(self) -> None:
        try:
            self.nvml.nvmlShutdown()
        except self.nvml.NVMLError:
            pass  # shutting down: nothing left to report to


def open_nvml(gpus: Sequence[int] | None = None, log_path: str | None = None, nvml: Any = None,
              proc_root: str = "/proc") -> GpuSource:
    """An NVML source, or an Unavailable one saying why there is none (no library, no driver)."""
    if nvml is None:
        try:
            nvml = importlib.import_module("pynvml")
        except ImportError:
            return Unavailable("nvidia-ml-py (pynvml) is not installed")
    try:
        nvml.nvmlInit()
    except nvml.NVMLError as e:
        kind = type(e).__name__.removeprefix("NVMLError_")
        reasons = {"LibraryNotFound": "NVML library not found (no NVIDIA driver here?)",
                   "DriverNotLoaded": "the NVIDIA driver is not loaded",
                   "NoPermission": "no permission to use NVML"}
        return Unavailable(reasons.get(kind, f"NVML failed to start: {e}"))
    try:
        return NvmlSource(nvml, gpus, log_path, proc_root)
    except NvmlGone as e:
        return Unavailable(f"NVML: {e}")


# ----------------------------------------------------------------- which processes write the log


def _pids(proc_root: str) -> list[int]:
    try:
        return [int(d) for d in os.listdir(proc_root) if d.isdigit()]
    except OSError:
        return []


def writer_pids(log_path: str, proc_root: str = "/proc") -> set[int]:
    """Processes holding `log_path` open for writing (readers such as tail or nanowatch
    itself are left out)."""
    try:
        target = os.path.realpath(log_path)
    except OSError:
        return set()
    found = set()
    for pid in _pids(proc_root):
        fd_dir = os.path.join(proc_root, str(pid), "fd")
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue  # gone, or not ours to look at
        for fd in fds:
            try:
                if os.readlink(os.path.join(fd_dir, fd)) != target:
                    continue
                with open(os.path.join(proc_root, str(pid), "fdinfo", fd)) as f:
                    flags = next((int(line.split()[1], 8) for line in f if line.startswith("flags:")), 0)
            except (OSError, ValueError, IndexError):
                continue
            if flags & (os.O_WRONLY | os.O_RDWR):
                found.add(pid)
    return found


def stat_fields(pid: int, proc_root: str = "/proc") -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state, ppid, ...; proc(5)), or None
    when the process is gone or its stat cannot be read."""
    try:
        with open(os.path.join(proc_root, str(pid), "stat")) as f:
            stat = f.read()
        return stat[stat.rindex(")") + 2 :].split()
    except (OSError, ValueError):
        return None


def parents(proc_root: str = "/proc") -> dict[int, int]:
    """pid -> parent pid for every visible process."""
    out = {}
    for pid in _pids(proc_root):
        fields = stat_fields(pid, proc_root)
        if fields is None:
            continue
        try:
            out[pid] = int(fields[1])
        except (ValueError, IndexError):
            continue
    return out


def _fd_target(proc_root: str, pid: int, fd: int) -> str | None:
    try:
        return os.readlink(os.path.join(proc_root, str(pid), "fd", str(fd)))
    except OSError:
        return None


def run_family(log_path: str, proc_root: str = "/proc") -> set[int]:
    """The run's processes: the log's writers, the processes that feed them through a pipe
    (`python train.py | tee log`: tee writes, python's stdout is tee's stdin; followed up a
    whole pipeline), and all their descendants (torchrun's workers, compile workers). Empty
    when no writer is found. A sibling that only shares the shell is not the run's."""
    writers = writer_pids(log_path, proc_root)
    if not writers:
        return set()
    pids = _pids(proc_root)
    outputs: dict[str, set[int]] = {}  # pipe -> processes writing to it on stdout/stderr
    for pid in pids:
        for fd in (1, 2):
            target = _fd_target(proc_root, pid, fd)
            if target is not None and target.startswith("pipe:"):
                outputs.setdefault(target, set()).add(pid)
    roots, todo = set(writers), list(writers)
    while todo:
        stdin = _fd_target(proc_root, todo.pop(), 0)
        for feeder in outputs.get(stdin, set()) if stdin and stdin.startswith("pipe:") else ():
            if feeder not in roots:
                roots.add(feeder)
                todo.append(feeder)
    ppid = parents(proc_root)
    family, todo = set(roots), list(roots)
    while todo:
        pid = todo.pop()
        kids = [c for c, p in ppid.items() if p == pid and c not in family]
        family.update(kids)
        todo.extend(kids)
    return family


# ----------------------------------------------------------------------------- nvidia-smi CSV


class CsvSource:
    """Samples read from an nvidia-smi CSV, handed out in time order as a (virtual) clock
    passes them: a replay sees the GPUs as they were when each line was written."""

    origin = "gpu-log"

    def __init__(self, samples: Sequence[GpuSample], gpus: Sequence[int] | None = None) -> None:
        keep = [s for s in samples if not gpus or s.index in gpus]
        self.samples = sorted(keep, key=lambda s: s.t)
        self.status: str | None = None if self.samples else "the GPU log has no readable sample"
        self._next = 0

    def poll(self, now: float) -> list[GpuSample]:
        start = self._next
        while self._next < len(self.samples) and self.samples[self._next].t <= now:
            self._next += 1
        return self.samples[start : self._next]

    def stream(self, now: float) -> Iterator[GpuSample]:
        """poll() one sample at a time (CsvFileSource never holds its file whole)."""
        return iter(self.poll(now))

    def align(self, t0: float, t1: float) -> float:
        """Move the samples onto the log's clock when their local times miss the log's span
        [t0, t1] by a whole time zone; returns the offset taken off (0 when none)."""
        offset_s = clock_offset_s(self.samples, t0, t1)
        if offset_s:
            self.samples = [replace(s, t=s.t - offset_s) for s in self.samples]
        return offset_s

    def close(self) -> None:
        pass


class CsvFileSource(CsvSource):
    """A CsvSource that reads its file as the clock passes its samples, in bounded memory (a GPU
    log of hundreds of MB). Rows are taken in file order, the time order nvidia-smi writes."""

    def __init__(self, path: str, gpus: Sequence[int] | None = None) -> None:
        self.path, self.gpus = path, gpus
        self.samples = []  # never held: see stream()
        self.offset_s = 0.0
        self._rows = self._read()
        self._ahead = next(self._rows, None)
        self.status = None if self._ahead is not None else "the GPU log has no readable sample"

    def _read(self) -> Generator[GpuSample, None, None]:
        try:
            with open(self.path, newline="", errors="replace") as f:
                for s in iter_gpu_csv(bounded_lines(f)):
                    if s is not None and (not self.gpus or s.index in self.gpus):
                        yield s
        except OSError:
            return  # read while it lasted; the samples so far stand

    def stream(self, now: float) -> Iterator[GpuSample]:
        while self._ahead is not None and self._ahead.t - self.offset_s <= now:
            s = self._ahead
            self._ahead = next(self._rows, None)
            yield replace(s, t=s.t - self.offset_s) if self.offset_s else s

    def poll(self, now: float) -> list[GpuSample]:
        return list(self.stream(now))

    def align(self, t0: float, t1: float) -> float:
        first = last = None
        for s in self._read():  # one more pass for the span: only replays with --times align
            first = s.t if first is None else min(first, s.t)
            last = s.t if last is None else max(last, s.t)
        self.offset_s = 0.0 if first is None or last is None else clock_offset_span(first, last, t0, t1)
        return self.offset_s

    def close(self) -> None:
        self._rows.close()


def bounded_lines(f: TextIO, max_chars: int = MAX_ROW_CHARS) -> Iterator[str]:
    """The lines of a text file, each read at most `max_chars` + 1 characters at a time: a
    longer one (no newline for megabytes: a file that is no CSV) comes out cut to that, so
    iter_gpu_csv skips it, and the rest of it is read past, never held."""
    while True:
        line = f.readline(max_chars + 1)
        if not line:
            return
        if len(line) > max_chars and not line.endswith("\n"):
            rest = line
            while rest and not rest.endswith("\n"):
                rest = f.readline(1 << 16)
        yield line


def open_gpu_log(path: str, gpus: Sequence[int] | None = None,
                 span: tuple[float, float] | None = None) -> GpuSource:
    """A CsvFileSource for an nvidia-smi CSV file, or an Unavailable one saying why not. With
    `span` (the log's first and last line times), samples a whole time zone off are aligned
    (nvidia-smi prints local time, without a zone)."""
    try:
        with open(path, "rb"):
            pass
    except OSError as e:
        return Unavailable(f"cannot read GPU log {path}: {e.strerror or e}")
    source = CsvFileSource(path, gpus)
    if span is not None:
        source.align(*span)
    return source


def open_source(*, no_gpu: bool, gpu_log: str | None, gpus: Sequence[int] | None, log_path: str | None,
                live: bool, span: tuple[float, float] | None = None) -> GpuSource | None:
    """The GPU source the command line asks for: None with --no-gpu, the CSV with --gpu-log
    (aligned to `span`, see open_gpu_log), else NVML for a live log (a replay of a finished
    log has no live GPUs to read)."""
    if no_gpu:
        return None
    if gpu_log:
        return open_gpu_log(gpu_log, gpus, span)
    if not live:
        return Unavailable("a replay reads GPU samples from --gpu-log only")
    return open_nvml(gpus, None if log_path == "-" else log_path)


def open_cpu_energy(live: bool) -> CpuEnergySource | None:
    """The host's RAPL counters for a live run (a replay has no live host to read)."""
    if not live:
        return None
    from monitor.sources.rapl import RaplReader

    return RaplReader()


# ----------------------------------------------------------------------------------- sampler


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
