"""Energy belongs to the run: which GPUs are the run's (fake NVML and a fake /proc for each case),
the host's CPU energy from RAPL (a fake powercap tree), and what the Snapshot says of both."""

from __future__ import annotations

import os

import pytest
from conftest import FakeClock
from test_gpu import MIB, FakeGpu, fake_proc, gpu_samples, stub_nvml

from monitor.core.report import Options
from monitor.core.summary import summary
from monitor.core.telemetry import CpuEnergySample, GpuChoice, GpuSample, Telemetry
from monitor.inbox import GpuSampled, GpuWatched
from monitor.session import Session
from monitor.sources import rapl
from monitor.sources.gpu import GpuSampler, Unavailable, open_nvml
from monitor.sources.problems import GpuProblem, GpuUnavailable
from monitor.sources.rapl import RaplReader

WRITE = os.O_WRONLY | os.O_APPEND
T0 = 1_800_000_000.0


def choice_of(readings: list) -> GpuChoice | None:
    return next((r for r in readings if isinstance(r, GpuChoice)), None)


@pytest.fixture
def log(tmp_path):
    path = tmp_path / "train.log"
    path.write_text("")
    return path


# ------------------------------------------------------------------ which GPUs are the run's


def test_a_run_on_a_gpu_gets_that_gpu_only(tmp_path, log) -> None:
    # the run (60, writing the log) is on GPU 1; another user's job (99, visible) is on GPU 0
    proc = fake_proc(tmp_path, log, {60: (1, {1: (str(log), WRITE)}), 99: (1, {})})
    gpus = [FakeGpu(procs={99: 11 * 1024 * MIB}), FakeGpu(procs={60: 300 * MIB})]
    readings = open_nvml(nvml=stub_nvml(gpus), log_path=str(log), proc_root=proc).poll(T0)
    assert choice_of(readings) == GpuChoice((1,), "process")
    assert [s.index for s in gpu_samples(readings)] == [1]


def test_a_cpu_run_beside_another_jobs_gpu_is_charged_no_gpu(tmp_path, log) -> None:
    proc = fake_proc(tmp_path, log, {60: (1, {1: (str(log), WRITE)}), 99: (1, {})})
    gpus = [FakeGpu(power_mw=693_000, procs={99: 11 * 1024 * MIB})]
    source = open_nvml(nvml=stub_nvml(gpus), log_path=str(log), proc_root=proc)
    readings = source.poll(T0)
    choice = choice_of(readings)
    assert choice is not None and choice.gpus == () and choice.basis == "none"
    assert "this run uses no GPU" in (choice.note or "")
    assert gpu_samples(readings) == []
    assert source.poll(T0 + 1) == []  # nothing new: no sample of the other job's GPU, no repeated choice


def test_a_cpu_run_that_starts_cuda_later_gets_its_gpu(tmp_path, log) -> None:
    proc = fake_proc(tmp_path, log, {60: (1, {1: (str(log), WRITE)}), 99: (1, {})})
    gpus = [FakeGpu(procs={99: MIB}), FakeGpu()]
    source = open_nvml(nvml=stub_nvml(gpus), log_path=str(log), proc_root=proc)
    assert choice_of(source.poll(T0)).basis == "none"
    gpus[1].procs = {60: MIB}
    later = source.poll(T0 + 10)
    assert choice_of(later) == GpuChoice((1,), "process")
    assert [s.index for s in gpu_samples(later)] == [1]


def test_a_cpu_run_that_ended_is_not_given_the_gpus_busy_after_it(tmp_path, log) -> None:
    proc = fake_proc(tmp_path, log, {60: (1, {1: (str(log), WRITE)}), 99: (1, {})})
    source = open_nvml(nvml=stub_nvml([FakeGpu(procs={99: MIB})]), log_path=str(log), proc_root=proc)
    assert choice_of(source.poll(T0)).basis == "none"
    for name in ("fd", "fdinfo"):  # the run ends: its process and the log's writer are gone
        for entry in (tmp_path / "proc" / "60" / name).iterdir():
            entry.unlink()
    assert source.poll(T0 + 60) == [] and source.choice is not None and source.choice.basis == "none"


def test_an_idle_box_with_the_writer_found_is_a_run_without_gpu(tmp_path, log) -> None:
    proc = fake_proc(tmp_path, log, {60: (1, {1: (str(log), WRITE)})})
    readings = open_nvml(nvml=stub_nvml([FakeGpu(), FakeGpu()]), log_path=str(log), proc_root=proc).poll(T0)
    assert choice_of(readings).basis == "none"
    assert gpu_samples(readings) == []


def test_a_container_pid_namespace_falls_back_to_busy_gpus_and_says_so(tmp_path, log) -> None:
    # the writer is visible, but the PIDs NVML reports (host PIDs) are not in this /proc
    proc = fake_proc(tmp_path, log, {7: (1, {1: (str(log), WRITE)})})
    gpus = [FakeGpu(), FakeGpu(procs={4242: MIB})]
    readings = open_nvml(nvml=stub_nvml(gpus), log_path=str(log), proc_root=proc).poll(T0)
    choice = choice_of(readings)
    assert choice is not None and choice.gpus == (1,) and choice.basis == "unseen"
    assert "without seeing the run's processes" in (choice.note or "")
    assert [s.index for s in gpu_samples(readings)] == [1]


def test_no_writer_found_falls_back_and_says_so(tmp_path, log) -> None:
    proc = fake_proc(tmp_path, log, {99: (1, {})})  # nobody here writes the log (NFS, other host)
    gpus = [FakeGpu(procs={99: MIB}), FakeGpu()]
    readings = open_nvml(nvml=stub_nvml(gpus), log_path=str(log), proc_root=proc).poll(T0)
    choice = choice_of(readings)
    assert choice is not None and choice.basis == "no-writer" and choice.gpus == (0,)
    assert "no process writing the log was found" in (choice.note or "")


def test_gpus_flag_always_wins(tmp_path, log) -> None:
    proc = fake_proc(tmp_path, log, {60: (1, {1: (str(log), WRITE)}), 99: (1, {})})
    gpus = [FakeGpu(procs={99: MIB}), FakeGpu(), FakeGpu(procs={60: MIB})]
    readings = open_nvml(gpus=[0], nvml=stub_nvml(gpus), log_path=str(log), proc_root=proc).poll(T0)
    assert choice_of(readings) == GpuChoice((0,), "flag")
    assert [s.index for s in gpu_samples(readings)] == [0]


# ------------------------------------------------------------------------- what the run shows


NANOGPT = [
    "tokens per iteration will be: 16,384",
    "number of parameters: 10.65M",
    *(f"iter {i}: loss {3.0 - i / 1000:.4f}, time 15.00ms, mfu 0.01%" for i in range(0, 200, 10)),
]


def session_with(readings_at: list[tuple[float, list]], clock: FakeClock) -> Session:
    session = Session(Options(source="run.log", max_iters=400), clock)
    session.ingest([GpuWatched("nvml")])
    for i, line in enumerate(NANOGPT):
        session.feed(line, T0 + i)
    session.ingest([GpuSampled(readings) for _, readings in readings_at])
    return session


def test_a_run_without_gpu_has_null_gpu_energy_never_another_jobs() -> None:
    clock = FakeClock(T0 + len(NANOGPT))
    other_job = [GpuSample(t=T0 + k, index=0, name="NVIDIA H100 80GB HBM3", power_w=693.0,
                           energy_j=1000.0 + 693.0 * k, vram_used_bytes=11 * 2**30) for k in range(30)]
    none = GpuChoice((), "none", "this run uses no GPU (none of its processes holds one): GPU energy is not counted")
    snap = session_with([(T0, other_job), (T0 + 1, [none])], clock).snapshot()
    rec = snap.record()
    assert rec["energy_j"] is None and rec["energy_final_j"] is None and rec["power_w"] is None
    assert rec["gpu_count"] == 0 and rec["mfu_gpu"] is None and rec["vram_used_bytes"] is None
    assert rec["cost"] is None and rec["cpu_energy_j"] is None
    assert any("this run uses no GPU" in w for w in rec["warnings"])
    assert "this run uses no GPU" in summary(snap)


def test_cpu_energy_is_shown_and_costed_beside_gpu_energy() -> None:
    clock = FakeClock(T0 + len(NANOGPT))
    gpu = [GpuSample(t=T0 + k, index=0, name="NVIDIA H100 80GB HBM3", power_w=300.0, energy_j=300.0 * k)
           for k in range(len(NANOGPT) + 1)]
    cpu = [CpuEnergySample(t=T0 + k, energy_j=50.0 * k, domains=("package-0", "dram")) for k in range(len(NANOGPT) + 1)]
    snap = session_with([(T0, [GpuChoice((0,), "process"), *gpu, *cpu])], clock).snapshot()
    seconds = len(NANOGPT)
    assert snap.energy_j == pytest.approx(300.0 * seconds)
    assert snap.cpu_energy_j == pytest.approx(50.0 * seconds)
    assert snap.cost == pytest.approx((350.0 * seconds) / 3.6e6 * 0.15)
    assert snap.cpu_energy_final_j is not None and snap.cpu_energy_final_j > snap.cpu_energy_j
    assert snap.record()["cpu_energy_j"] == pytest.approx(50.0 * seconds)
    text = summary(snap)
    assert "GPU " in text and "CPU " in text and "RAPL" in text


def test_cpu_energy_alone_is_costed_for_a_cpu_run() -> None:
    clock = FakeClock(T0 + len(NANOGPT))
    cpu = [CpuEnergySample(t=T0 + k, energy_j=40.0 * k) for k in range(len(NANOGPT) + 1)]
    snap = session_with([(T0, [GpuChoice((), "none", "this run uses no GPU"), *cpu])], clock).snapshot()
    assert snap.energy_j is None
    assert snap.cost == pytest.approx(40.0 * len(NANOGPT) / 3.6e6 * 0.15)


def test_gpus_sampled_after_the_run_ended_are_labelled_now() -> None:
    lines = [*NANOGPT, "iter 400: loss 2.0000, time 15.00ms, mfu 0.01%"]
    session = Session(Options(source="run.log", max_iters=400), FakeClock(T0 + 1000))
    session.ingest([GpuWatched("nvml")])
    for i, line in enumerate(lines):
        session.feed(line, T0 + i)
    session.ingest([GpuSampled([GpuSample(t=T0 + 1000, index=0, name="NVIDIA H100 80GB HBM3", power_w=70.0,
                                          vram_used_bytes=0, vram_total_bytes=80 * 2**30)])])
    snap = session.snapshot()
    assert snap.status == "finished" and snap.gpus_now and snap.vram_peak_bytes is None
    assert "now: 1 × NVIDIA H100 80GB HBM3" in summary(snap)


# ------------------------------------------------------------------------------------ RAPL


def powercap(tmp_path, zones: dict[str, tuple[str, int, int]]):
    """zones: directory name -> (name, energy_uj, max_energy_range_uj)."""
    root = tmp_path / "powercap"
    for zone, (name, energy, max_range) in zones.items():
        d = root / zone
        d.mkdir(parents=True)
        (d / "name").write_text(name + "\n")
        (d / "energy_uj").write_text(f"{energy}\n")
        (d / "max_energy_range_uj").write_text(f"{max_range}\n")
    return root


def set_energy(root, zone: str, energy_uj: int) -> None:
    (root / zone / "energy_uj").write_text(f"{energy_uj}\n")


def test_rapl_sums_package_and_dram_and_leaves_core_out(tmp_path) -> None:
    root = powercap(tmp_path, {
        "intel-rapl:0": ("package-0", 1_000_000, 262_143_328_850),
        "intel-rapl:0:0": ("core", 500_000, 262_143_328_850),
        "intel-rapl:0:1": ("dram", 100_000, 65_712_999_613),
        "intel-rapl:1": ("package-1", 2_000_000, 262_143_328_850),
    })  # fmt: skip
    reader = RaplReader(str(root))
    (first,) = reader.poll(T0)
    assert first.energy_j == 0.0 and first.domains == ("package-0", "dram", "package-1")
    set_energy(root, "intel-rapl:0", 31_000_000)  # +30 J
    set_energy(root, "intel-rapl:0:0", 99_000_000)  # inside the package: not added
    set_energy(root, "intel-rapl:0:1", 5_100_000)  # +5 J
    set_energy(root, "intel-rapl:1", 12_000_000)  # +10 J
    (second,) = reader.poll(T0 + 1)
    assert second.energy_j == pytest.approx(45.0)


def test_rapl_counter_wrap_around_is_undone(tmp_path) -> None:
    max_range = 262_143_328_850
    root = powercap(tmp_path, {"intel-rapl:0": ("package-0", max_range - 2_000_000, max_range)})
    reader = RaplReader(str(root))
    reader.poll(T0)
    set_energy(root, "intel-rapl:0", 3_000_000)  # wrapped: 2 J to the top, then 3 J
    (s,) = reader.poll(T0 + 1)
    assert s.energy_j == pytest.approx(5.0)


def test_rapl_readable_by_root_only_is_unknown_with_the_reason(tmp_path, monkeypatch) -> None:
    root = powercap(tmp_path, {"intel-rapl:0": ("package-0", 1, 262_143_328_850)})
    real_read = rapl._read

    def denied(path: str) -> str:
        if path.endswith("energy_uj"):
            raise PermissionError(13, "Permission denied", path)
        return real_read(path)

    monkeypatch.setattr(rapl, "_read", denied)
    reader = RaplReader(str(root))
    (s,) = reader.poll(T0)
    assert s.energy_j is None and "root only" in (s.error or "")
    telemetry = Telemetry()
    telemetry.add([s])
    assert telemetry.cpu_status == s.error and not telemetry.cpu_measured


def test_no_powercap_says_so(tmp_path) -> None:
    reader = RaplReader(str(tmp_path / "missing"))
    (s,) = reader.poll(T0)
    assert s.energy_j is None and "no RAPL" in (s.error or "")


def test_the_sampler_goes_on_reading_the_cpu_without_a_gpu(tmp_path) -> None:
    root = powercap(tmp_path, {"intel-rapl:0": ("package-0", 0, 262_143_328_850)})
    got: list[list] = []
    errors: list[GpuProblem] = []
    sampler = GpuSampler(Unavailable("NVML library not found"), 1.0, FakeClock(T0), got.append, errors.append,
                         cpu=RaplReader(str(root)))
    assert sampler.tick() and sampler.tick()
    assert errors == [GpuUnavailable("NVML library not found")]
    assert all(isinstance(r, CpuEnergySample) for batch in got for r in batch) and len(got) == 2
