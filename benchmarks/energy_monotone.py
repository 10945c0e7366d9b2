"""Energy so far, read live: replay each recorded run with its NVML trace thinned to what a live
sampler reads (one sample per GPU every `--period` s) and a snapshot every `--every` s, and count
the times `energy_j` went down between two snapshots of the same run, and how far it strays from
the NVML energy counter over the same window. The training process's exit (meta.json) is fed as
the live writer watch reports it.

Run: python benchmarks/energy_monotone.py [--pattern 'h200*'] [--period 1.0] [--every 1.0] [--markdown]

Window: the run's first line to the snapshot's time, or to its last line once the run has ended
(the snapshot's own rule). Truth (the baseline, from the same run): the energy counter of the full
0.2-s trace of the same GPUs, interpolated at both ends; it never goes down. `lag` is truth minus
measured (J) at the snapshots while the run goes on: positive when nanowatch is behind (the samples
not read yet), negative when it counted more than the counter (an extrapolation past the newest
sample); `final` is measured / truth at the last snapshot, 3 s after the last line (or after the
process's exit has settled), over the snapshot's own window.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.tables import render, report
from monitor.core import energy
from monitor.core.report import WRITER_SETTLE_S, Options
from monitor.core.telemetry import GpuSample
from monitor.inbox import GpuSampled, GpuWatched, WriterExited
from monitor.session import Session
from monitor.sources.replay import timed_lines

RECORDED = ROOT / "sample_logs" / "recorded"
ENDED = ("finished", "crashed", "interrupted")
#: Samples of the GPUs taken within this long of each other are one reading of the sampler.
BATCH_S = 0.05
#: Snapshots go on this long after the last line (and after the recorded process's exit has
#: settled, WRITER_SETTLE_S): the run's end is read live too.
AFTER_S = 3.0


def trace(folder: Path) -> list[GpuSample]:
    """gpu.nvml.csv: power in mW, the energy counter in mJ (one GPU when there is no index)."""
    out = []
    with open(folder / "gpu.nvml.csv") as f:
        for r in csv.DictReader(f):
            try:
                out.append(GpuSample(t=float(r["t"]), index=int(r.get("index") or 0), name=r.get("name") or "GPU",
                                     power_w=int(r["power_mw"]) / 1e3, energy_j=int(r["energy_mj"]) / 1e3,
                                     vram_used_bytes=int(r["mem_used_b"]), vram_total_bytes=int(r["mem_total_b"]),
                                     util_pct=float(r["util_gpu"])))
            except (ValueError, KeyError, TypeError):
                continue
    return sorted(out, key=lambda s: s.t)


def thinned(samples: list[GpuSample], period_s: float) -> list[GpuSample]:
    """One sample per GPU every `period_s`, as a live sampler reading at that period sees them."""
    out, due = [], {}
    for s in samples:
        if s.t >= due.get(s.index, -np.inf):
            out.append(s)
            due[s.index] = s.t + period_s
    return out


class EnergyCounter:
    """The energy counter of each GPU, interpolated at any time (the truth)."""

    def __init__(self, samples: list[GpuSample]) -> None:
        by_gpu: dict[int, list[GpuSample]] = {}
        for s in samples:
            by_gpu.setdefault(s.index, []).append(s)
        self.gpus = {i: (np.array([s.t for s in ss]), np.array([s.energy_j for s in ss])) for i, ss in by_gpu.items()}

    def energy(self, t0: float, t1: float) -> float:
        return float(sum(np.interp(t1, t, e) - np.interp(t0, t, e) for t, e in self.gpus.values()))


def writer_exit(folder: Path) -> tuple[float | None, int]:
    """When the recorded training process exited (meta.json), as a live writer watch sees it."""
    try:
        meta = json.loads((folder / "meta.json").read_text())
    except (OSError, ValueError):
        return None, 0
    end = meta.get("process_end_epoch")
    return (float(end) if isinstance(end, (int, float)) else None), int(meta.get("child_pid") or 0)


@dataclass
class Result:
    run: str
    snapshots: int = 0
    drops: list[tuple[float, float, float, str]] = field(default_factory=list)  # (s since start, before, after, status)
    lags: list[float] = field(default_factory=list)
    final: float | None = None


def replay(folder: Path, period_s: float, every_s: float) -> Result:
    items = list(timed_lines(str(folder / "run.log"), str(folder / "run.times"), 0.0))
    full = trace(folder)
    counter = EnergyCounter(full)
    samples = thinned(full, period_s)
    session = Session(Options(source=folder.name), lambda: 0.0)
    session.ingest([GpuWatched("nvml")])
    result = Result(folder.name)
    exit_t, pid = writer_exit(folder)
    exited = None
    g = i = 0
    t0 = t = items[0][0]
    end = max(items[-1][0] + AFTER_S, (exit_t or 0.0) + WRITER_SETTLE_S + AFTER_S)
    prev: tuple[float, int] | None = None
    snap = None
    while t <= end:
        while g < len(samples) and samples[g].t <= t:
            batch = [samples[g]]
            g += 1
            while g < len(samples) and samples[g].t - batch[0].t < BATCH_S:
                batch.append(samples[g])
                g += 1
            session.ingest([GpuSampled(batch)])
        while i < len(items) and items[i][0] <= t:
            session.feed(items[i][1], items[i][0])
            i += 1
        if exit_t is not None and exited is None and exit_t <= t:
            session.ingest([WriterExited(pid, exit_t)])
            exited = exit_t
        snap = session.snapshot(t)
        result.snapshots += 1
        e = snap.energy_j
        if e is not None and prev is not None and prev[1] == snap.run_index and e < prev[0] - 1e-6:
            result.drops.append((t - t0, prev[0], e, snap.status))
        run = session.state.current
        if e is not None and run.first_t is not None and snap.status not in ENDED and exited is None:
            result.lags.append(counter.energy(run.first_t, t) - e)
        prev = None if e is None else (e, snap.run_index)
        t += every_s
    run = session.state.current
    if snap is not None and snap.energy_j is not None and run.first_t is not None and run.last_line_t is not None:
        truth = counter.energy(run.first_t, window_end(snap.status, run.crash is None, run.last_line_t, snap.t, exited))
        result.final = snap.energy_j / truth if truth else None
    return result


def window_end(status: str, no_crash: bool, last_line_t: float, now: float, exited: float | None) -> float:
    """The end of the run's energy window by the rules of the code measured: the last line
    once the log says the run ended; the writer's exit once seen (where the code has
    energy.energy_end), else the last line once it is called interrupted, else now."""
    by_lines = status in ENDED and not (status == "interrupted" and no_crash and exited is not None)
    if by_lines:
        return min(now, last_line_t)
    if exited is not None and last_line_t <= exited + WRITER_SETTLE_S:
        if hasattr(energy, "energy_end"):
            return min(now, max(exited, last_line_t))
        return min(now, last_line_t) if status in ENDED else now
    return now


def table(results: list[Result], markdown: bool) -> str:
    head = ["run", "snapshots", "drops", "largest drop J", "drops after the end", "lag mean J", "lag min J",
            "lag max J", "final ratio"]
    rows = []
    for r in results:
        largest = max((a - b for _, a, b, _ in r.drops), default=0.0)
        lags = np.array(r.lags) if r.lags else np.array([np.nan])
        rows.append([r.run, str(r.snapshots), str(len(r.drops)), f"{largest:.1f}",
                     str(sum(1 for d in r.drops if d[3] in ENDED)),
                     f"{np.mean(lags):.1f}", f"{np.min(lags):.1f}", f"{np.max(lags):.1f}",
                     "—" if r.final is None else f"{r.final:.5f}"])
    return render(head, rows, markdown)


def summary(results: list[Result]) -> list[str]:
    drops = [d for r in results for d in r.drops]
    lags = np.array([x for r in results for x in r.lags])
    finals = [abs(r.final - 1) for r in results if r.final is not None]
    out = [(f"drops: {len(drops)} over {len(results)} runs, in {sum(1 for r in results if r.drops)} runs; "
            f"largest {max((a - b for _, a, b, _ in drops), default=0.0):.1f} J, "
            f"{sum(a - b for _, a, b, _ in drops):.1f} J taken back in all; "
            f"{sum(1 for d in drops if d[3] in ENDED)} after the run's end")]
    if len(lags):
        out.append(f"lag behind the counter while running: mean {lags.mean():.1f} J, median {np.median(lags):.1f} J, "
                   f"ahead of it at most {max(0.0, -lags.min()):.1f} J, behind at most {lags.max():.1f} J "
                   f"({len(lags)} snapshots)")
    if finals:
        out.append(f"final energy vs counter: worst error {max(finals):.3%}, mean {np.mean(finals):.3%}")
    for r in results:
        for s, a, b, status in r.drops[:3]:
            out.append(f"{r.run}: {s:.1f} s {a:.1f} J -> {b:.1f} J ({status})")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pattern", default="*", help="recorded runs (glob under sample_logs/recorded)")
    parser.add_argument("--period", type=float, default=1.0, help="sampling period of the live sampler (s)")
    parser.add_argument("--every", type=float, default=1.0, help="time between two snapshots (s)")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    folders = [f for f in sorted(RECORDED.glob(args.pattern))
               if (f / "gpu.nvml.csv").exists() and (f / "run.times").exists()]
    results = [replay(f, args.period, args.every) for f in folders]
    report(table(results, args.markdown), summary(results), args.markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
