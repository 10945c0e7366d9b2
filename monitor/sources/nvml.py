"""GPU samples from NVML: every call through one function (nvml_call), the run's GPUs chosen by
the processes that write its log.

ADAPTER ring: imports pynvml lazily; never imports textual.
"""

from __future__ import annotations

import ctypes
import importlib
import os
import warnings
from collections.abc import Sequence
from typing import Any

from monitor.core.telemetry import GpuChoice, GpuSample, Reading
from monitor.sources.gpusource import GpuSource, Unavailable
from monitor.sources.problems import REASON_CHARS
from monitor.sources.procs import run_family
from monitor.sources.smicsv import MAX_POWER_W, MAX_TEMP_C, gpu_name, vram, within

#: How often the GPUs of the run are looked for again until the log's writer is found on one:
#: soon at first (the run may still be starting), then less often (the /proc scan costs).
RESELECT_FIRST_S, RESELECT_MAX_S = 5.0, 60.0


class NvmlGone(Exception):
    """The GPU (or the driver) stopped answering: lost, needs a reset, driver unloaded."""


#: NVML errors after which a GPU's values are unknown but the GPU is still there (MIG, old
#: boards, a field the driver does not expose): the value becomes None, never 0.
_UNKNOWN_VALUE = ("NotSupported", "NoPermission", "NotFound", "FunctionNotFound", "InvalidArgument",
                  "InsufficientSize", "Timeout", "NoData")
#: What the NVML bindings raise besides NVMLError: they are ctypes over a C library of the
#: driver's version, so a binding and a driver that disagree give ctypes.ArgumentError or
#: TypeError, a name that is not UTF-8 UnicodeDecodeError (nvidia-ml-py decodes it strictly),
#: a library that cannot be loaded or read OSError. Each is a reason shown, never a traceback.
_FOREIGN = (OSError, ValueError, TypeError, AttributeError, LookupError, ArithmeticError, ctypes.ArgumentError)


def _reason(error: BaseException, kind: str) -> str:
    """An NVML error as one short line: its message (or its kind), at most REASON_CHARS."""
    text = " ".join(str(error).split()) or kind
    return text if len(text) <= REASON_CHARS else text[: REASON_CHARS - 1] + "…"


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
        raise NvmlGone(_reason(e, kind)) from None
    except _FOREIGN as e:
        raise NvmlGone(f"{fn_name} failed: {type(e).__name__}: {_reason(e, '')}".rstrip(": ")) from None


def _name(nvml: Any, handle: Any) -> str | None:
    """A GPU's name as NVML gives it (bytes from old bindings), cut as every source's GPU name
    is; None when it cannot be read (the GPU's readings say why, or stand without it)."""
    try:
        value = nvml_call(nvml, "nvmlDeviceGetName", handle)
    except NvmlGone:
        return None
    if value is None:
        return None
    return gpu_name(value.decode(errors="replace") if isinstance(value, bytes) else str(value))


def _memory(memory: Any) -> tuple[int | None, int | None]:
    """(used, total) bytes of a memory reading, bounded as every source's are (smicsv.vram: a
    total of 0 or past MAX_VRAM_BYTES, a used past the total, is no reading)."""
    if memory is None:
        return None, None
    total = vram(int(memory.total), 1.0)
    if total is None:
        return (None, None)
    used = vram(int(memory.used))
    return (used if used is not None and used <= total else None), total


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
        self.names = {i: _name(nvml, h) for i, h in self.handles.items()}
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
            used, total = _memory(memory)
            mine = [procs[p] for p in self.family & set(procs)]
            process_vram = None if not mine or None in mine else sum(v for v in mine if v is not None)
            return GpuSample(
                t=now,
                index=index,
                name=name,
                # an impossible reading (a driver's all-ones "not available") is unknown, the rest stands
                power_w=within(_scaled(nvml_call(q, "nvmlDeviceGetPowerUsage", h), 1e-3), 0.0, MAX_POWER_W),
                energy_j=_scaled(nvml_call(q, "nvmlDeviceGetTotalEnergyConsumption", h), 1e-3),
                vram_used_bytes=used,
                vram_total_bytes=total,
                util_pct=None if util is None else within(float(util.gpu), 0.0, 100.0),
                temp_c=within(_scaled(nvml_call(q, "nvmlDeviceGetTemperature", h, getattr(q, "NVML_TEMPERATURE_GPU", 0)),
                                      1), -50.0, MAX_TEMP_C),
                power_limit_w=within(_scaled(nvml_call(q, "nvmlDeviceGetEnforcedPowerLimit", h), 1e-3), 0.0, MAX_POWER_W),
                process_vram_bytes=process_vram,
                other_processes=len(set(procs) - self.family) if self.family else None,
            )
        except NvmlGone as e:
            self.lost[index] = str(e)
            return GpuSample(t=now, index=index, name=name, error=str(e))

    def close(self) -> None:
        try:
            self.nvml.nvmlShutdown()
        except (self.nvml.NVMLError, *_FOREIGN):
            pass  # shutting down: nothing left to report to


def open_nvml(gpus: Sequence[int] | None = None, log_path: str | None = None, nvml: Any = None,
              proc_root: str = "/proc") -> GpuSource:
    """An NVML source, or an Unavailable one saying why there is none (no library, no driver)."""
    if nvml is None:
        try:
            with warnings.catch_warnings():
                # the `pynvml` wrapper package warns on import that it is deprecated for nvidia-ml-py:
                # words for whoever installed it, printed on every --once and over the TUI's stderr
                warnings.simplefilter("ignore", FutureWarning)
                warnings.simplefilter("ignore", DeprecationWarning)
                nvml = importlib.import_module("pynvml")
        except ImportError:
            return Unavailable("nvidia-ml-py (pynvml) is not installed")
        except (*_FOREIGN, SyntaxError) as e:  # a broken install: its module fails as it loads
            return Unavailable(f"pynvml failed to load: {type(e).__name__}: {_reason(e, '')}".rstrip(": "))
    try:
        nvml.nvmlInit()
    except nvml.NVMLError as e:
        kind = type(e).__name__.removeprefix("NVMLError_")
        reasons = {"LibraryNotFound": "NVML library not found (no NVIDIA driver here?)",
                   "DriverNotLoaded": "the NVIDIA driver is not loaded",
                   "NoPermission": "no permission to use NVML"}
        return Unavailable(reasons.get(kind, f"NVML failed to start: {_reason(e, kind)}"))
    except _FOREIGN as e:
        return Unavailable(f"NVML failed to start: {type(e).__name__}: {_reason(e, '')}".rstrip(": "))
    try:
        return NvmlSource(nvml, gpus, log_path, proc_root)
    except NvmlGone as e:
        return Unavailable(f"NVML: {e}")
