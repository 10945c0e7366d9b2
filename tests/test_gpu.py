"""GPU sources: NVML through a stub pynvml (NotSupported, LibraryNotFound, GpuIsLost), the
writer-process search on a fake /proc, the nvidia-smi CSV reader on real nvidia-smi output,
and the sampler thread's callbacks."""

from __future__ import annotations

import os
import sys
import threading
import types
from dataclasses import dataclass, field

import pytest
from conftest import SAMPLES, FakeClock

from monitor.core.telemetry import GpuSample
from monitor.sources.gpu import GpuSampler, Unavailable, open_source
from monitor.sources.gpulog import CsvSource, open_gpu_log
from monitor.sources.nvml import NvmlSource, nvml_call, open_nvml
from monitor.sources.problems import GpuLost, GpuProblem, GpuUnavailable, LoopFailed
from monitor.sources.procs import run_family, writer_pids
from monitor.sources.smicsv import clock_offset_s, parse_gpu_csv

MIB = 2**20
REAL_SMI = SAMPLES / "recorded" / "real_nvidia_smi"


def gpu_samples(readings: list) -> list[GpuSample]:
    """The GPU samples of a poll (a GpuChoice leads them whenever the choice changes)."""
    return [r for r in readings if isinstance(r, GpuSample)]


# ------------------------------------------------------------------------------ a stub pynvml


class NVMLError(Exception):
    message = "NVML error"

    def __str__(self) -> str:
        return self.message


def _error(name: str, message: str) -> type[NVMLError]:
    return type(f"NVMLError_{name}", (NVMLError,), {"message": message})


NotSupported = _error("NotSupported", "Not Supported")
LibraryNotFound = _error("LibraryNotFound", "NVML Shared Library Not Found")
GpuIsLost = _error("GpuIsLost", "GPU is lost")
DriverNotLoaded = _error("DriverNotLoaded", "Driver Not Loaded")


@dataclass
class FakeGpu:
    name: str = "NVIDIA H100 80GB HBM3"
    power_mw: int = 250_000
    energy_mj: int = 1_000_000
    used: int = 2048 * MIB
    used_v1: int = 2528 * MIB  # v1 counts the driver's reserved memory too
    total: int = 81559 * MIB
    util: int = 97
    temp: int = 55
    limit_mw: int = 700_000
    procs: dict[int, int | None] = field(default_factory=dict)
    unsupported: set[str] = field(default_factory=set)
    lost: bool = False


def stub_nvml(gpus: list[FakeGpu], init_error: type[NVMLError] | None = None) -> types.SimpleNamespace:
    calls: list[str] = []

    def device(fn: str, getter):
        def call(handle, *args, **kwargs):
            calls.append(fn)
            gpu = gpus[handle]
            if gpu.lost:
                raise GpuIsLost()
            if fn in gpu.unsupported:
                raise NotSupported()
            return getter(gpu, *args, **kwargs)
        return call

    def init() -> None:
        if init_error is not None:
            raise init_error()

    def memory(gpu: FakeGpu, version: int | None = None):
        return types.SimpleNamespace(used=gpu.used if version else gpu.used_v1, total=gpu.total)

    def processes(gpu: FakeGpu):
        return [types.SimpleNamespace(pid=pid, usedGpuMemory=mem) for pid, mem in gpu.procs.items()]

    return types.SimpleNamespace(
        NVMLError=NVMLError,
        nvmlMemory_v2=0x02000028,
        NVML_TEMPERATURE_GPU=0,
        calls=calls,
        nvmlInit=init,
        nvmlShutdown=lambda: calls.append("shutdown"),
        nvmlDeviceGetCount=lambda: len(gpus),
        nvmlDeviceGetHandleByIndex=lambda i: i,
        nvmlDeviceGetName=lambda h: gpus[h].name.encode(),  # old nvidia-ml-py returns bytes
        nvmlDeviceGetPowerUsage=device("power", lambda g: g.power_mw),
        nvmlDeviceGetTotalEnergyConsumption=device("energy", lambda g: g.energy_mj),
        nvmlDeviceGetMemoryInfo=device("memory", memory),
        nvmlDeviceGetUtilizationRates=device("util", lambda g: types.SimpleNamespace(gpu=g.util)),
        nvmlDeviceGetTemperature=device("temp", lambda g, sensor: g.temp),
        nvmlDeviceGetEnforcedPowerLimit=device("limit", lambda g: g.limit_mw),
        nvmlDeviceGetComputeRunningProcesses=device("procs", processes),
    )


# --------------------------------------------------------------------------------- NVML source


def test_a_sample_converts_units_and_uses_memory_without_the_reserved_part() -> None:
    source = open_nvml(nvml=stub_nvml([FakeGpu()]))
    (s,) = gpu_samples(source.poll(100.0))
    assert (s.t, s.index, s.name) == (100.0, 0, "NVIDIA H100 80GB HBM3")
    assert (s.power_w, s.energy_j, s.power_limit_w) == (250.0, 1000.0, 700.0)
    assert (s.vram_used_bytes, s.vram_total_bytes) == (2048 * MIB, 81559 * MIB)
    assert (s.util_pct, s.temp_c, s.error) == (97.0, 55.0, None)


def test_not_supported_fields_are_none_never_zero() -> None:
    mig = FakeGpu(name="NVIDIA A100-SXM4-40GB MIG 1g.5gb", unsupported={"util", "power", "energy", "limit"})
    (s,) = gpu_samples(open_nvml(nvml=stub_nvml([mig])).poll(0.0))
    assert (s.util_pct, s.power_w, s.energy_j, s.power_limit_w) == (None, None, None, None)
    assert s.vram_used_bytes == 2048 * MIB
    assert s.error is None


def test_memory_falls_back_to_v1_where_v2_is_missing() -> None:
    nvml = stub_nvml([FakeGpu()])
    del nvml.nvmlMemory_v2
    (s,) = gpu_samples(open_nvml(nvml=nvml).poll(0.0))
    assert s.vram_used_bytes == 2528 * MIB


@pytest.mark.parametrize(("error", "reason"), [
    (LibraryNotFound, "NVML library not found"),
    (DriverNotLoaded, "driver is not loaded"),
])
def test_nvml_that_cannot_start_gives_an_unavailable_source(error, reason) -> None:
    source = open_nvml(nvml=stub_nvml([FakeGpu()], init_error=error))
    assert isinstance(source, Unavailable)
    assert reason in (source.status or "")
    assert gpu_samples(source.poll(0.0)) == []
    assert source.origin == "nvml"


def test_without_the_library_the_reason_names_the_package(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import pynvml raises ImportError
    source = open_nvml()
    assert source.status == "nvidia-ml-py (pynvml) is not installed"


def test_no_gpu_is_a_reason_too() -> None:
    assert open_nvml(nvml=stub_nvml([])).status == "NVML sees no GPU"
    assert "no GPU 3" in (open_nvml(gpus=[3], nvml=stub_nvml([FakeGpu()])).status or "")


def test_a_lost_gpu_is_reported_and_the_others_keep_sampling() -> None:
    gpus = [FakeGpu(procs={10: None}), FakeGpu(procs={11: None})]
    nvml = stub_nvml(gpus)
    source = open_nvml(nvml=nvml)
    assert [s.error for s in gpu_samples(source.poll(0.0))] == [None, None]
    gpus[1].lost = True
    first, second = gpu_samples(source.poll(1.0))
    assert first.power_w == 250.0 and first.error is None
    assert second.error == "GPU is lost" and second.power_w is None
    calls_before = len(nvml.calls)
    again = gpu_samples(source.poll(2.0))
    assert [s.error for s in again] == [None, "GPU is lost"]
    assert len(nvml.calls) - calls_before == 7  # only GPU 0 is asked: processes + 6 fields


def test_nvml_call_translates_errors_once_at_the_edge() -> None:
    nvml = stub_nvml([FakeGpu(unsupported={"power"})])
    assert nvml_call(nvml, "nvmlDeviceGetPowerUsage", 0) is None
    assert nvml_call(nvml, "nvmlDeviceGetNoSuchFunction", 0) is None
    nvml2 = stub_nvml([FakeGpu(lost=True)])
    with pytest.raises(Exception, match="GPU is lost"):
        nvml_call(nvml2, "nvmlDeviceGetPowerUsage", 0)


def test_requested_gpus_are_the_only_ones_sampled() -> None:
    source = open_nvml(gpus=[1], nvml=stub_nvml([FakeGpu(), FakeGpu(), FakeGpu()]))
    assert [s.index for s in gpu_samples(source.poll(0.0))] == [1]


def test_without_a_log_writer_gpus_with_compute_processes_are_chosen_else_all() -> None:
    gpus = [FakeGpu(), FakeGpu(procs={42: 512 * MIB}), FakeGpu()]
    assert [s.index for s in gpu_samples(open_nvml(nvml=stub_nvml(gpus)).poll(0.0))] == [1]
    idle = [FakeGpu(), FakeGpu()]
    assert [s.index for s in gpu_samples(open_nvml(nvml=stub_nvml(idle)).poll(0.0))] == [0, 1]


# ------------------------------------------------------------------- who writes the log: /proc


def fake_proc(tmp_path, log, processes: dict[int, tuple[int, dict[int, tuple[str, int]]]]):
    """processes: pid -> (ppid, {fd: (target, flags)})."""
    root = tmp_path / "proc"
    for pid, (ppid, fds) in processes.items():
        (root / str(pid) / "fd").mkdir(parents=True)
        (root / str(pid) / "fdinfo").mkdir()
        (root / str(pid) / "stat").write_text(f"{pid} (python3 (x) y) S {ppid} 1 1 0\n")
        for fd, (target, flags) in fds.items():
            os.symlink(target, root / str(pid) / "fd" / str(fd))
            (root / str(pid) / "fdinfo" / str(fd)).write_text(f"pos:\t0\nflags:\t{flags:o}\nmnt_id:\t1\n")
    return str(root)


def test_writers_are_found_and_readers_left_out(tmp_path) -> None:
    log = tmp_path / "train.log"
    log.write_text("")
    write, read = os.O_WRONLY | os.O_APPEND, os.O_RDONLY
    proc = fake_proc(tmp_path, log, {
        100: (1, {1: (str(log), write)}),          # python train.py > train.log
        200: (1, {3: (str(log), read)}),           # nanowatch / tail reading it
        300: (1, {1: ("/dev/null", write)}),
    })
    assert writer_pids(str(log), proc) == {100}


def test_the_gpus_of_the_process_that_writes_the_log_are_preferred(tmp_path) -> None:
    log = tmp_path / "train.log"
    log.write_text("")
    write = os.O_WRONLY
    # shell 50 runs `python train.py | tee train.log`: tee (61) writes, python (60) feeds tee's
    # stdin through a pipe and is on GPU 2; children of either count too (70 under 60: a
    # torchrun-style worker). 55 is another job the same shell started: not the run's.
    pipe, other = "pipe:[4242]", "pipe:[777]"
    proc = fake_proc(tmp_path, log, {
        50: (1, {}), 55: (50, {1: (other, write)}), 60: (50, {1: (pipe, write), 2: (pipe, write)}),
        61: (50, {0: (pipe, os.O_RDONLY), 1: (str(log), write)}), 70: (60, {}), 99: (1, {}),
    })
    assert run_family(str(log), proc) == {60, 61, 70}
    gpus = [FakeGpu(procs={99: MIB}), FakeGpu(procs={55: MIB}), FakeGpu(procs={70: 300 * MIB})]
    source = open_nvml(nvml=stub_nvml(gpus), log_path=str(log), proc_root=proc)
    (s,) = gpu_samples(source.poll(0.0))
    assert s.index == 2
    assert s.process_vram_bytes == 300 * MIB


def test_ddp_ranks_that_start_cuda_apart_are_all_counted(tmp_path) -> None:
    log = tmp_path / "train.log"
    log.write_text("")
    proc = fake_proc(tmp_path, log, {60: (1, {1: (str(log), os.O_WRONLY)}), 61: (60, {}), 62: (60, {})})
    gpus = [FakeGpu(procs={61: MIB}), FakeGpu()]
    source = open_nvml(nvml=stub_nvml(gpus), log_path=str(log), proc_root=proc)
    assert [s.index for s in gpu_samples(source.poll(0.0))] == [0]  # rank 1 has not started CUDA yet
    gpus[1].procs = {62: MIB}
    assert [s.index for s in gpu_samples(source.poll(5.0))] == [0, 1]


def test_selection_is_looked_at_again_while_the_writer_is_not_on_a_gpu(tmp_path) -> None:
    log = tmp_path / "train.log"
    log.write_text("")
    proc = fake_proc(tmp_path, log, {60: (1, {1: (str(log), os.O_WRONLY)})})
    gpus = [FakeGpu(procs={99: MIB}), FakeGpu()]
    source = open_nvml(nvml=stub_nvml(gpus), log_path=str(log), proc_root=proc)
    assert [s.index for s in gpu_samples(source.poll(0.0))] == [0]  # someone else's job: best guess for now
    gpus[1].procs = {60: MIB}  # the run's CUDA context comes up
    assert [s.index for s in gpu_samples(source.poll(1.0))] == [0]  # not looked at again yet
    assert [s.index for s in gpu_samples(source.poll(10.0))] == [1]
    assert isinstance(source, NvmlSource) and source.family == {60}


# ------------------------------------------------------------------------------ nvidia-smi CSV


def test_real_nvidia_smi_output_is_read() -> None:
    with open(REAL_SMI / "gpu.smi.csv") as f:
        samples, bad = parse_gpu_csv(f)
    assert bad == 0 and len(samples) == 130
    first = samples[0]
    assert first.name == "NVIDIA H100 80GB HBM3"
    assert (first.power_w, first.vram_used_bytes, first.vram_total_bytes) == (79.56, 0, 81559 * MIB)
    assert (first.util_pct, first.temp_c, first.energy_j) == (0.0, 33.0, None)
    assert first.t == pytest.approx(1795495786.829)  # 2026/11/24 04:49:46.829 UTC
    assert max(s.power_w or 0 for s in samples) > 250


def test_the_full_query_gives_the_power_limit() -> None:
    with open(REAL_SMI / "gpu.smi_full.csv") as f:
        samples, bad = parse_gpu_csv(f)
    assert bad == 0 and samples[0].power_limit_w == 700.0 and samples[0].power_w == 79.56


def test_missing_values_units_and_repeated_headers() -> None:
    text = [
        ("timestamp, index, name, power.draw [W], memory.used [MiB], memory.total [MiB], utilization.gpu [%], "
        "temperature.gpu"),
        "2026/01/02 03:04:05.500, 0, NVIDIA A100-SXM4-40GB, [N/A], 1024 MiB, 40960 MiB, [Not Supported], 40",
        ("2026/01/02 03:04:06.500, 1, NVIDIA A100-SXM4-40GB, [GPU is lost], [GPU is lost], [GPU is lost], "
        "[GPU is lost], [GPU is lost]"),
        "not a row",
        "timestamp, index, power.draw [W], memory.used [MiB]",
        "2026/01/02 03:04:07.000, 0, 123.4, 2048",  # --format=csv,nounits
    ]
    samples, bad = parse_gpu_csv(text)
    assert bad == 1
    a, lost, c = samples
    assert (a.power_w, a.util_pct, a.vram_used_bytes, a.temp_c) == (None, None, 1024 * MIB, 40.0)
    assert lost.error == "GPU is lost" and lost.power_w is None
    assert (c.power_w, c.vram_used_bytes, c.name) == (123.4, 2048 * MIB, None)


def test_local_timestamps_are_moved_onto_the_log_clock() -> None:
    samples, _ = parse_gpu_csv(["timestamp, index, power.draw [W]",
                                "2026/11/24 06:49:46.829, 0, 100 W", "2026/11/24 06:59:46.829, 0, 100 W"])
    t0 = samples[0].t - 2 * 3600  # a machine at UTC+2 wrote these
    assert clock_offset_s(samples, t0 + 60, t0 + 300) == 7200.0
    assert clock_offset_s(samples, samples[0].t, samples[1].t) == 0.0
    source = CsvSource(samples)
    assert source.align(t0 + 60, t0 + 300) == 7200.0
    assert source.samples[0].t == pytest.approx(t0)


def test_the_csv_source_hands_out_samples_as_the_clock_passes_them() -> None:
    source = open_gpu_log(str(REAL_SMI / "gpu.smi.csv"))
    assert isinstance(source, CsvSource) and source.status is None
    with open(REAL_SMI / "gpu.smi.csv") as f:
        t0 = parse_gpu_csv(f)[0][0].t  # the source streams its file: it holds no list
    assert source.poll(t0 - 1) == []
    assert len(source.poll(t0 + 2.5)) == 3
    assert len(source.poll(t0 + 2.5)) == 0
    assert len(source.poll(t0 + 1e6)) == 127
    assert open_gpu_log(str(REAL_SMI / "gpu.smi.csv"), gpus=[1]).status == \
        "the GPU log has no sample of GPU 1 (--gpus); it holds GPU 0"
    assert "cannot read GPU log" in (open_gpu_log("/nonexistent.csv").status or "")


def test_open_source_follows_the_command_line() -> None:
    assert open_source(no_gpu=True, gpu_log=None, gpus=None, log_path="x", live=True) is None
    replay = open_source(no_gpu=False, gpu_log=None, gpus=None, log_path="x", live=False)
    assert isinstance(replay, Unavailable) and "--gpu-log" in (replay.status or "")
    csv_source = open_source(no_gpu=False, gpu_log=str(REAL_SMI / "gpu.smi.csv"), gpus=None, log_path="x", live=False)
    assert csv_source is not None and csv_source.origin == "gpu-log"


# ----------------------------------------------------------------------------------- sampler


def test_sampler_tick_reports_samples_and_each_new_gpu_error_once() -> None:
    gpus = [FakeGpu(procs={1: None}), FakeGpu(procs={2: None})]
    clock = FakeClock(1000.0)
    got: list[list] = []
    errors: list[GpuProblem] = []
    sampler = GpuSampler(open_nvml(nvml=stub_nvml(gpus)), 1.0, clock, got.append, errors.append)
    assert sampler.tick()
    gpus[0].lost = True
    clock.advance(1.0)
    assert sampler.tick() and sampler.tick()
    assert [s.t for s in gpu_samples(got[0])] == [1000.0, 1000.0]
    assert errors == [GpuLost("GPU 0", "GPU is lost")]
    assert sampler.polls == 3


def test_sampler_on_an_unavailable_source_says_why_and_stops() -> None:
    errors: list[GpuProblem] = []
    sampler = GpuSampler(Unavailable("NVML library not found"), 1.0, FakeClock(), lambda s: None, errors.append)
    assert not sampler.tick()
    assert errors == [GpuUnavailable("NVML library not found")]


def test_sampler_thread_starts_calls_back_and_stops() -> None:
    nvml = stub_nvml([FakeGpu()])
    arrived = threading.Event()
    batches: list[list] = []

    def on_samples(samples: list) -> None:
        batches.append(samples)
        arrived.set()

    sampler = GpuSampler(open_nvml(nvml=nvml), 0.05, FakeClock(), on_samples, lambda e: None)
    sampler.start()
    assert arrived.wait(10.0)
    sampler.stop()
    assert gpu_samples(batches[0])[0].power_w == 250.0
    assert "shutdown" in nvml.calls


def test_a_poll_that_raises_is_said_once_and_sampling_goes_on() -> None:
    from logwriter import wait_for
    from tui_fakes import BrokenGpuSource

    source = BrokenGpuSource("NVML said no")
    errors: list[GpuProblem] = []
    batches: list[list] = []
    sampler = GpuSampler(source, 0.05, FakeClock(), batches.append, errors.append)
    sampler.start()
    try:
        wait_for(lambda: errors, what="the failure")
        wait_for(lambda: source.polls >= 3, what="more polls failing")
        source.broken = False
        wait_for(lambda: batches, what="samples once the source answers again")
    finally:
        sampler.stop()
    assert errors == [LoopFailed("GPU sampler", "RuntimeError: NVML said no")]


def test_each_sample_counts_the_other_processes_on_the_runs_gpu(tmp_path) -> None:
    log = tmp_path / "train.log"
    log.write_text("")
    proc = fake_proc(tmp_path, log, {60: (1, {1: (str(log), os.O_WRONLY)}), 61: (60, {}), 99: (1, {})})
    gpus = [FakeGpu(procs={61: MIB, 99: MIB, 98: MIB})]
    source = open_nvml(nvml=stub_nvml(gpus), log_path=str(log), proc_root=proc)
    (s,) = gpu_samples(source.poll(0.0))
    assert s.other_processes == 2  # 98 and 99 are not of the process writing the log
    alone = open_nvml(nvml=stub_nvml([FakeGpu(procs={61: MIB})]), gpus=[0])
    (s,) = gpu_samples(alone.poll(0.0))
    assert s.other_processes is None  # --gpus: the run's processes were not looked for
