"""Energy maths: the GPU peak table and MFU against it, power split between training and eval,
the projection to the finish, cost; and the Snapshot fields a replay with a GPU log fills."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from conftest import SAMPLES

from monitor.cli import main
from monitor.core.energy import (
    NANOGPT_PEAK_FLOPS,
    PowerSplit,
    cost,
    eval_windows,
    mfu_gpu,
    normalise_gpu_name,
    peak_flops,
    project_energy,
    split_power,
)
from monitor.core.report import Options
from monitor.core.telemetry import GpuSample, Telemetry
from monitor.inbox import GpuSampled, GpuWatched
from monitor.session import Session

RECORDED = SAMPLES / "recorded"


@pytest.mark.parametrize(("name", "peak"), [
    ("NVIDIA H100 80GB HBM3", 989.4e12),
    ("NVIDIA H100 PCIe", 756e12),
    ("NVIDIA H100 NVL", 835e12),
    ("NVIDIA H200", 989e12),
    ("NVIDIA GH200 480GB", 989e12),
    ("NVIDIA B200", 2250e12),
    ("NVIDIA A100-SXM4-80GB", 312e12),
    ("NVIDIA A100 80GB PCIe", 312e12),
    ("NVIDIA L4", 121e12),
    ("NVIDIA L40S", 362e12),
    ("NVIDIA L40", 181e12),
    ("NVIDIA A10", 125e12),
    ("NVIDIA RTX A6000", 154.8e12),
    ("NVIDIA GeForce RTX 3090", 71e12),
    ("NVIDIA GeForce RTX 4070", 58.3e12),
    ("NVIDIA GeForce RTX 4080", 97.5e12),
    ("NVIDIA GeForce RTX 4090", 165.2e12),
    ("NVIDIA GeForce RTX 5090", 209.5e12),
    ("Tesla V100-SXM2-16GB", 125e12),
    ("Tesla V100-PCIE-32GB", 112e12),
])
def test_peak_flops_from_nvml_names(name: str, peak: float) -> None:
    assert peak_flops(name) == peak


@pytest.mark.parametrize("name", [
    "NVIDIA GeForce RTX 4070 Ti", "NVIDIA GeForce RTX 4080 SUPER", "NVIDIA A10G", "NVIDIA GeForce GTX 1080", "", None,
])
def test_a_gpu_not_in_the_table_has_no_peak(name: str | None) -> None:
    assert peak_flops(name) is None


def test_names_are_normalised() -> None:
    assert normalise_gpu_name("NVIDIA GeForce RTX 4090") == "RTX 4090"
    assert normalise_gpu_name("NVIDIA A100-SXM4-80GB") == "A100 SXM4 80GB"


def test_mfu_is_recomputed_against_the_real_gpu() -> None:
    h100 = "NVIDIA H100 80GB HBM3"
    assert mfu_gpu(0.85, [h100]) == pytest.approx(0.85 * NANOGPT_PEAK_FLOPS / 989.4e12)
    assert mfu_gpu(0.40, ["NVIDIA A100-SXM4-40GB"]) == pytest.approx(0.40)
    assert mfu_gpu(0.5, [h100, h100]) == pytest.approx(mfu_gpu(0.5, [h100]))
    assert mfu_gpu(0.5, [h100, "NVIDIA A100-SXM4-40GB"]) is None
    assert mfu_gpu(0.5, ["NVIDIA GeForce GTX 1080"]) is None
    assert mfu_gpu(None, [h100]) is None
    assert mfu_gpu(float("nan"), [h100]) is None
    assert mfu_gpu(0.5, []) is None


def test_cost_is_energy_times_pue_times_price() -> None:
    assert cost(3.6e6, 0.15, 1.0) == pytest.approx(0.15)
    assert cost(7.2e6, 0.30, 1.5) == pytest.approx(0.9)
    assert cost(None, 0.15, 1.0) is None


def test_eval_windows_end_at_the_eval_lines() -> None:
    assert eval_windows([100.0, 200.0], 2.5) == [(97.5, 100.0), (197.5, 200.0)]
    assert eval_windows([100.0], None) == []
    assert eval_windows([100.0], 0.0) == []


def _square_wave() -> Telemetry:
    """300 W while training, 100 W during 10-second evals that end at t=50 and t=100."""
    tel = Telemetry()
    energy = 0.0
    for t in range(121):
        power = 100.0 if (40 < t <= 50) or (90 < t <= 100) else 300.0
        energy += power if t else 0.0  # the counter grows by the power of the second that ends at t
        tel.add([GpuSample(t=float(t), index=0, power_w=power, energy_j=energy)])
    return tel


def test_power_is_split_between_training_and_eval_pauses() -> None:
    split = split_power(_square_wave(), 0.0, 120.0, eval_windows([50.0, 100.0], 10.0))
    assert split is not None
    assert split.train_w == pytest.approx(300.0)
    assert split.eval_w == pytest.approx(100.0)
    no_evals = split_power(_square_wave(), 0.0, 30.0, [])
    assert no_evals is not None and no_evals.eval_w is None and no_evals.train_w == pytest.approx(300.0)
    assert split_power(Telemetry(), 0.0, 10.0, []) is None


def test_projection_adds_each_remaining_part_at_its_own_power() -> None:
    assert project_energy(1000.0, PowerSplit(300.0, 100.0), 10.0, 5.0) == pytest.approx(1000 + 3000 + 500)
    assert project_energy(1000.0, PowerSplit(300.0, None), 10.0, 5.0) == pytest.approx(1000 + 4500)
    assert project_energy(1000.0, PowerSplit(300.0, 100.0), None, 5.0) is None


# ----------------------------------------------------------------- through the Snapshot


def _counter_energy(run: str, t0: float, t1: float) -> float:
    with open(RECORDED / run / "gpu.nvml.csv") as f:
        rows = list(csv.DictReader(f))
    t = [float(r["t"]) for r in rows]
    e = [int(r["energy_mj"]) / 1e3 for r in rows]
    return float(np.interp(t1, t, e) - np.interp(t0, t, e))


def test_replay_with_a_real_nvidia_smi_log_measures_the_runs_energy(capsys) -> None:
    run = RECORDED / "real_nvidia_smi"
    args = ["replay", str(run / "run.log"), "--times", str(run / "run.times"), "--gpu-log",
            str(run / "gpu.smi.csv"), "--speed", "0", "--jsonl", "--price", "0.30", "--pue", "1.2"]
    assert main(args) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    last = records[-1]
    assert last["status"] == "finished"
    assert last["energy_source"] == "gpu-log"
    assert (last["gpu_count"], last["gpu_names"]) == (1, ["NVIDIA H100 80GB HBM3"])
    times = [float(x) for x in (run / "run.times").read_text().split()]
    truth = _counter_energy("real_nvidia_smi", times[0], times[-1])
    assert last["energy_j"] == pytest.approx(truth, rel=0.01)
    assert last["energy_final_j"] == last["energy_j"]
    assert last["cost"] == pytest.approx(last["energy_j"] / 3.6e6 * 1.2 * 0.30)
    assert last["mfu_gpu"] == pytest.approx(last["mfu"] * 312 / 989.4)
    assert last["vram_total_bytes"] == 81559 * 2**20
    assert last["vram_peak_bytes"] >= last["vram_used_bytes"] > 0
    midway = [r for r in records if r["progress"] and 0.3 < r["progress"] < 0.6 and r["energy_final_j"]]
    assert midway and midway[0]["energy_final_j"] == pytest.approx(last["energy_j"], rel=0.05)
    energies = [r["energy_j"] for r in records if r["energy_j"] is not None]
    assert energies == sorted(energies)


def test_replay_once_and_jsonl_end_on_the_same_record(capsys) -> None:
    # replay --once reads the GPU log past the last line to measure the energy up to it; the
    # power it showed was that later sample's (122 W as the GPU went idle, where --jsonl's last
    # record and the TUI at the finish said 259 W)
    run = RECORDED / "compiled"
    args = ["replay", str(run / "run.log"), "--times", str(run / "run.times"), "--gpu-log",
            str(run / "gpu.smi.csv"), "--speed", "0"]
    assert main([*args, "--jsonl"]) == 0
    last = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert main([*args, "--once", "--json"]) == 0
    once = json.loads(capsys.readouterr().out)
    assert once["t"] == last["t"]
    assert (once["power_w"], once["vram_used_bytes"]) == (last["power_w"], last["vram_used_bytes"]) == (259.1, 3124756480)
    # both measure the energy up to the last line with the samples after it (--jsonl's last record
    # stopped at the newest sample before it: 42,191 J against --once's 42,313 J)
    assert once["energy_j"] == last["energy_j"] == pytest.approx(42312.6, abs=0.1)


def test_a_snapshot_shows_each_gpu_as_it_was_then() -> None:
    telemetry = Telemetry(origin="gpu-log")
    telemetry.add([GpuSample(t=float(t), index=0, power_w=100.0 + t, vram_used_bytes=t) for t in range(10)])
    assert telemetry.total("power_w") == 109.0  # the newest
    assert telemetry.total("power_w", at=6.5) == 106.0
    assert [s.t for s in telemetry.latest(at=6.0)] == [6.0]
    assert telemetry.total("vram_used_bytes", at=-1.0) == 9.0  # nothing that old kept: the newest


def test_once_with_a_gpu_log_and_no_line_times_says_where_energy_starts(capsys) -> None:
    run = RECORDED / "compiled"
    assert main([str(run / "run.log"), "--once", "--json", "--gpu-log", str(run / "gpu.smi.csv")]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["energy_source"] == "gpu-log"
    assert record["power_w"] is not None
    assert any("first GPU sample" in w for w in record["warnings"])


def test_unavailable_telemetry_is_a_status_not_numbers() -> None:
    session = Session(Options(source="x"), lambda: 0.0)
    session.ingest([GpuWatched("nvml", "NVML library not found (no NVIDIA driver here?)")])
    session.feed("iter 0: loss 4.0, time 10.0ms, mfu -100.00%", 0.0)
    snap = session.snapshot(1.0)
    assert snap.gpu_status == "GPU telemetry unavailable: NVML library not found (no NVIDIA driver here?)"
    assert (snap.power_w, snap.energy_j, snap.gpu_count, snap.energy_source) == (None, None, None, None)


def test_sampling_that_starts_late_is_flagged() -> None:
    session = Session(Options(source="x"), lambda: 0.0)
    session.feed("iter 0: loss 4.0, time 10.0ms, mfu -100.00%", 0.0)
    session.ingest([GpuSampled([GpuSample(t=float(t), index=0, power_w=100.0, energy_j=100.0 * t) for t in range(60, 80)])])
    snap = session.snapshot(79.0)
    assert snap.energy_j == pytest.approx(1900.0)
    assert snap.energy_source == "nvml-counter"
    assert any("leaves out the run's first 60 s" in w for w in snap.warnings)


def test_a_long_run_projects_with_its_recent_power() -> None:
    """Power rose from 200 W to 300 W before the last 16 evals: the projection follows the
    recent 300 W (the whole run's mean would be ~290 W)."""
    session = Session(Options(source="x"), lambda: 0.0)
    for line in ("Overriding config with config/x.py:", "max_iters = 4000", "eval_interval = 100",
                 "log_interval = 10", ""):
        session.feed(line, 0.0)
    t = 0.0
    for it in range(0, 2010, 10):
        t += 1.0
        if it % 100 == 0:
            t += 2.0
            session.feed(f"step {it}: train loss 2.0, val loss 2.1", t)
        session.feed(f"iter {it}: loss 2.0, time 100.00ms, mfu 30.00%", t)
    energy = 0.0
    samples = []
    for second in range(int(t) + 1):
        power = 200.0 if second < 30 else 300.0
        energy += power if second else 0.0
        samples.append(GpuSample(t=float(second), index=0, power_w=power, energy_j=energy))
    session.ingest([GpuSampled(samples)])
    snap = session.snapshot(t)
    assert snap.energy_j == pytest.approx(energy)
    assert snap.energy_final_j is not None and snap.eta_remaining_s is not None
    future_w = (snap.energy_final_j - snap.energy_j) / snap.eta_remaining_s
    assert future_w == pytest.approx(300.0, rel=0.01)
