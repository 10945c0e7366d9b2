"""Energy accuracy: replay each recorded H100 run with its nvidia-smi CSV (power only) and
compare nanowatch's measured energy with the NVML energy counter over the same window, and
its projected total at 10/25/50% of the iterations with the energy finally measured.

Run: python benchmarks/energy_accuracy.py [--markdown]

Window: the run's first line to its last line (run.times), read as `replay --once` reads it, with
the GPU samples of the END_READ_S after the last line. Truth: the counter in gpu.nvml.csv,
interpolated at both ends. Baselines measured in the same run: a plain sum of power x time
between samples (no lag correction, no hold at the ends), and, for the projection, the
energy so far divided by the progress (linear in iterations) and the mean power so far times
the elapsed plus the estimated remaining time. A second mode feeds gpu.nvml.csv itself (the
NVML counter, as a live NVML sampler sees it).
"""

from __future__ import annotations

import argparse
import csv
import itertools
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.tables import render, report
from monitor.core.report import Options
from monitor.core.telemetry import END_READ_S, GpuSample
from monitor.inbox import GpuSampled, GpuWatched
from monitor.session import Session
from monitor.sources.gpulog import CsvSource, open_gpu_log
from monitor.sources.replay import timed_lines

RECORDED = ROOT / "sample_logs" / "recorded"
RUNS = ("compiled", "eager_log_every_iter", "interrupted", "real_nvidia_smi")
POINTS = (0.10, 0.25, 0.50)
TARGET_MEASURED = 0.01
TARGET_PROJECTED = 0.03


def nvml_samples(run: str) -> list[GpuSample]:
    with open(RECORDED / run / "gpu.nvml.csv") as f:
        return [GpuSample(t=float(r["t"]), index=0, name="NVIDIA H100 80GB HBM3", power_w=int(r["power_mw"]) / 1e3,
                          energy_j=int(r["energy_mj"]) / 1e3, vram_used_bytes=int(r["mem_used_b"]),
                          vram_total_bytes=int(r["mem_total_b"]), util_pct=float(r["util_gpu"]))
                for r in csv.DictReader(f)]


def counter_energy(trace: list[GpuSample], t0: float, t1: float) -> float:
    t = [s.t for s in trace]
    e = [s.energy_j for s in trace]
    return float(np.interp(t1, t, e) - np.interp(t0, t, e))


def naive_energy(samples: list[GpuSample], t0: float, t1: float) -> float:
    """Power x time to the next sample, for the samples inside the window."""
    inside = [s for s in samples if t0 <= s.t <= t1 and s.power_w is not None]
    return sum(a.power_w * (b.t - a.t) for a, b in itertools.pairwise(inside))  # type: ignore[operator]


@dataclass
class Result:
    run: str
    mode: str
    status: str = ""
    duration_s: float = 0.0
    measured_j: float | None = None
    truth_j: float = 0.0
    naive_j: float = 0.0
    projected: dict[float, float | None] = field(default_factory=dict)
    linear: dict[float, float | None] = field(default_factory=dict)
    mean_power: dict[float, float | None] = field(default_factory=dict)
    replay_s: float = 0.0


def replay(run: str, mode: str) -> Result:
    folder = RECORDED / run
    items = list(timed_lines(str(folder / "run.log"), str(folder / "run.times"), 0.0))
    trace = nvml_samples(run)
    if mode == "gpu-log":
        source = open_gpu_log(str(folder / "gpu.smi.csv"))
        assert isinstance(source, CsvSource)
        source.align(items[0][0], items[-1][0])
        samples: list[GpuSample] = []  # a CsvFileSource streams its file: the samples as polled
    else:
        source = CsvSource(trace)
        samples = trace
    session = Session(Options(source=run), lambda: 0.0)
    session.ingest([GpuWatched("gpu-log" if mode == "gpu-log" else "nvml")])
    seen: dict[float, tuple[float | None, float | None, float | None]] = {}
    started = time.perf_counter()
    for t, line in items:
        polled = source.poll(t)
        if mode == "gpu-log":
            samples.extend(polled)
        session.ingest([GpuSampled(polled)])
        session.feed(line, t)
        snap = session.snapshot(t)
        for p in POINTS:
            if p not in seen and snap.progress is not None and snap.progress >= p and snap.energy_j:
                linear = snap.energy_j / snap.progress
                mean = None
                if snap.mean_power_w and snap.elapsed_s is not None and snap.eta_remaining_s is not None:
                    mean = snap.mean_power_w * (snap.elapsed_s + snap.eta_remaining_s)
                seen[p] = (snap.energy_final_j, linear, mean)
    elapsed = time.perf_counter() - started
    # as `replay --once` does: the samples just after the last line measure the window's end
    session.ingest([GpuSampled(source.poll(items[-1][0] + END_READ_S))])
    final = session.snapshot(items[-1][0])
    t0, t1 = session.state.current.first_t, final.last_line_t
    assert t0 is not None and t1 is not None
    result = Result(run, mode, final.status, t1 - t0, final.energy_j, counter_energy(trace, t0, t1),
                    naive_energy(samples, t0, t1), replay_s=elapsed)
    for p in POINTS:
        projected, linear, mean = seen.get(p, (None, None, None))
        result.projected[p], result.linear[p], result.mean_power[p] = projected, linear, mean
    return result


def _ratio(x: float | None, ref: float | None) -> str:
    return "—" if x is None or not ref else f"{x / ref:.4f}"


def table(results: list[Result], markdown: bool) -> str:
    head = ["run", "mode", "status", "duration", "counter kJ", "measured kJ", "ratio", "naive ratio",
            *(f"proj@{int(p * 100)}%" for p in POINTS), *(f"linear@{int(p * 100)}%" for p in POINTS),
            *(f"meanP@{int(p * 100)}%" for p in POINTS)]
    rows = []
    for r in results:
        finished = r.status == "finished"
        final = r.measured_j if finished else None
        rows.append([
            r.run, r.mode, r.status, f"{r.duration_s:.0f} s", f"{r.truth_j / 1e3:.2f}",
            "—" if r.measured_j is None else f"{r.measured_j / 1e3:.2f}", _ratio(r.measured_j, r.truth_j),
            _ratio(r.naive_j, r.truth_j),
            *(_ratio(r.projected[p], final) for p in POINTS),
            *(_ratio(r.linear[p], final) for p in POINTS),
            *(_ratio(r.mean_power[p], final) for p in POINTS),
        ])
    return render(head, rows, markdown)


def verdict(results: list[Result]) -> list[str]:
    out = []
    for mode in ("gpu-log", "nvml-counter"):
        of_mode = [r for r in results if r.mode == mode]
        worst_measured = max(abs(r.measured_j / r.truth_j - 1) for r in of_mode if r.measured_j)
        out.append(f"{mode}: measured vs NVML counter: worst error {worst_measured:.2%} "
                   f"(target {TARGET_MEASURED:.0%}): {'met' if worst_measured <= TARGET_MEASURED else 'MISSED'}")
        finished = [r for r in of_mode if r.status == "finished" and r.measured_j]
        errors = [abs(r.projected[p] / r.measured_j - 1) for r in finished for p in POINTS  # type: ignore[operator]
                  if r.projected[p] is not None]
        missing = sum(1 for r in finished for p in POINTS if r.projected[p] is None)
        worst = max(errors) if errors else float("nan")
        ok = errors and worst <= TARGET_PROJECTED and not missing
        out.append(f"{mode}: projection from 10% vs final measured energy: worst error {worst:.2%} over "
                   f"{len(errors)} points ({missing} without one; target {TARGET_PROJECTED:.0%}): "
                   f"{'met' if ok else 'MISSED'}")
    out.append("interrupted: no projection ratio, the run never reached its end.")
    replay = {r.run: r.replay_s for r in results if r.mode == "gpu-log"}
    out.append("replay wall time with the GPU log: " + ", ".join(f"{k} {v:.2f} s" for k, v in replay.items()))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    results = [replay(run, mode) for run in RUNS for mode in ("gpu-log", "nvml-counter")]
    report(table(results, args.markdown), verdict(results), args.markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
