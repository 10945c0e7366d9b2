"""Cost of GPU telemetry with a long NVML trace behind it.

CPU: `Telemetry.add` of one sample per GPU, then what a snapshot asks of the trace (energy
since the start, mean power of the last minute, VRAM peak since the start, busy fraction of
the last minute), with a short history (600 samples: ten minutes at the default 1 s period)
and a long one (604,800: a week), on 2 GPUs; the median CPU time of each and their ratio
(target: the long one costs no more than twice the short one).

Memory: what a Telemetry holds (the bytes reachable from it; tracemalloc's count of what is
still allocated checks it once, on a day) after 10 minutes, a day
and a week of samples at 1 s on 2 and 8 GPUs, fed a minute at a time with a snapshot's
questions (the same, plus the eval windows of the last 16 evals) after each minute: this
tree's `core/telemetry.py` against main's (`git show main:…`, loaded in the same run).

    python benchmarks/telemetry_cost.py [--long 604800] [--repeat 200] [--memory-gpus 2,8]
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from types import ModuleType
from typing import Any

from monitor.core.telemetry import GpuSample, Telemetry

GPUS = (0, 1)
#: Histories of the memory table: ten minutes, a day, a week at 1 s.
SPANS = ((600, "10 min"), (86_400, "1 day"), (604_800, "1 week"))
EVAL_EVERY_S = 300  # an eval every 5 minutes, 20 s long
EVAL_S = 20.0
BATCH_S = 600  # samples come ten minutes at a time in the memory table (a week is 1,008 batches)


def sample(t: float, index: int) -> GpuSample:
    return GpuSample(t=t, index=index, power_w=300.0 + (t % 7), energy_j=1e6 + 300.0 * t,
                     vram_used_bytes=40 << 30, vram_total_bytes=80 << 30, util_pct=97.0, temp_c=60.0)


def history(n: int) -> Telemetry:
    tel = Telemetry()
    tel.add([sample(float(i), g) for i in range(n) for g in GPUS])
    tel.energy(0.0, float(n))  # a first snapshot, as the cold open makes
    return tel


def update_cost_s(tel: Telemetry, n: int, repeat: int) -> float:
    """Median CPU time of one new sample per GPU and the questions a snapshot asks."""
    times = []
    for k in range(repeat):
        now = float(n + k)
        start = time.process_time()
        tel.add([sample(now, g) for g in GPUS])
        tel.energy(0.0, now)
        tel.mean_power_w(now - 60.0, now)
        for g in GPUS:
            tel.vram_peak_bytes(g, since_t=0.0)
        tel.busy_fraction(now - 60.0, now)
        times.append(time.process_time() - start)
    return statistics.median(times)


def main_telemetry() -> ModuleType | None:
    """main's core/telemetry.py as a module of its own (None outside a git checkout)."""
    root = Path(__file__).resolve().parent.parent
    try:
        source = subprocess.run(["git", "show", "main:monitor/core/telemetry.py"], cwd=root, check=True,
                                capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"main's telemetry not loaded: {e}", file=sys.stderr)
        return None
    path = Path(tempfile.mkdtemp()) / "telemetry_main.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("telemetry_main", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def deep_size(root: object) -> int:
    """Bytes reachable from `root`: sys.getsizeof over its object graph (numpy arrays that own
    their data count their buffers; classes, modules and functions are not the object's)."""
    seen: set[int] = set()
    stack, total = [root], 0
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, (type, ModuleType)) or callable(obj) and not hasattr(obj, "__dict__"):
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        stack.extend(gc.get_referents(obj))
    return total


def fed(telemetry_cls: Any, seconds: int, gpus: int) -> Any:
    """A Telemetry after `seconds` of 1-s samples on `gpus` GPUs, asked a snapshot's
    questions after each BATCH_S."""
    tel = telemetry_cls()
    for batch in range(0, seconds, BATCH_S):
        tel.add([sample(float(t), g) for t in range(batch, min(batch + BATCH_S, seconds)) for g in range(gpus)])
        now = float(min(batch + BATCH_S, seconds) - 1)
        tel.energy(0.0, now)
        tel.mean_power_w(now - 60.0, now)
        for g in range(gpus):
            tel.vram_peak_bytes(g, since_t=0.0)
        evals = [(t - EVAL_S, float(t)) for t in range(EVAL_EVERY_S, int(now) + 1, EVAL_EVERY_S)][-16:]
        tel.windows_energy(evals)
    return tel


def traced_bytes(telemetry_cls: Any, seconds: int, gpus: int) -> int:
    """What tracemalloc counts still allocated after `fed` (a check of deep_size; slow)."""
    tracemalloc.start()
    tel = fed(telemetry_cls, seconds, gpus)
    held = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del tel
    return held


def memory_table(gpu_counts: list[int]) -> None:
    main = main_telemetry()
    print("\nmemory held by the telemetry (bytes reachable from it), 1-s samples, asked every 10 minutes:")
    print(f"  {'history':>8} {'GPUs':>5} {'main':>12} {'this tree':>12} {'ratio':>7}")
    for seconds, label in SPANS:
        for gpus in gpu_counts:
            before = deep_size(fed(main.Telemetry, seconds, gpus)) if main else None
            after = deep_size(fed(Telemetry, seconds, gpus))
            b = f"{before / 2**20:8.2f} MiB" if before is not None else f"{'-':>12}"
            ratio = f"{after / before:7.3f}" if before else f"{'-':>7}"
            print(f"  {label:>8} {gpus:>5} {b} {after / 2**20:8.2f} MiB {ratio}", flush=True)
    seconds, gpus = SPANS[1][0], gpu_counts[0]
    print(f"  check, tracemalloc after {SPANS[1][1]} on {gpus} GPUs: "
          + (f"main {traced_bytes(main.Telemetry, seconds, gpus) / 2**20:.2f} MiB, " if main else "")
          + f"this tree {traced_bytes(Telemetry, seconds, gpus) / 2**20:.2f} MiB", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--short", type=int, default=600)
    ap.add_argument("--long", type=int, default=604_800)
    ap.add_argument("--repeat", type=int, default=200)
    ap.add_argument("--memory-gpus", default="2,8", help="GPU counts of the memory table ('' for none)")
    args = ap.parse_args()
    short = update_cost_s(history(args.short), args.short, args.repeat)
    long = update_cost_s(history(args.long), args.long, args.repeat)
    print(f"one sample per GPU + snapshot questions, {len(GPUS)} GPUs, median of {args.repeat}:")
    print(f"  {args.short:>9,} samples behind: {short * 1e3:8.3f} ms")
    print(f"  {args.long:>9,} samples behind: {long * 1e3:8.3f} ms")
    print(f"  ratio long/short: {long / short:.2f}", flush=True)
    if args.memory_gpus:
        memory_table([int(g) for g in args.memory_gpus.split(",")])


if __name__ == "__main__":
    main()
