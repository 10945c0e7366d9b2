"""Cost of one GPU sample with a long NVML trace behind it: `Telemetry.add` of one sample
per GPU, then what a snapshot asks of the trace (energy since the start, mean power of the
last minute, VRAM peak since the start, busy fraction of the last minute). Measured with a
short history (600 samples: ten minutes at the default 1 s period) and a long one (604,800:
a week), on 2 GPUs; prints the median CPU time of each and their ratio (target: the long one
costs no more than twice the short one).

    python benchmarks/telemetry_cost.py [--long 604800] [--repeat 200]
"""

from __future__ import annotations

import argparse
import statistics
import time

from monitor.core.telemetry import GpuSample, Telemetry

GPUS = (0, 1)


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--short", type=int, default=600)
    ap.add_argument("--long", type=int, default=604_800)
    ap.add_argument("--repeat", type=int, default=200)
    args = ap.parse_args()
    short = update_cost_s(history(args.short), args.short, args.repeat)
    long = update_cost_s(history(args.long), args.long, args.repeat)
    print(f"one sample per GPU + snapshot questions, {len(GPUS)} GPUs, median of {args.repeat}:")
    print(f"  {args.short:>9,} samples behind: {short * 1e3:8.3f} ms")
    print(f"  {args.long:>9,} samples behind: {long * 1e3:8.3f} ms")
    print(f"  ratio long/short: {long / short:.2f}")


if __name__ == "__main__":
    main()
