"""CPU load that grows, for the drift recordings (sample_logs/recorded/h200c_cpu_contention_drift).

Starts --procs processes pinned to --cpus (the cores the training is pinned to), each alternating a busy spin and
a sleep in periods of --period-ms; the busy share of a period rises linearly from 0 to --max-duty over --ramp
seconds, then holds until SIGTERM (or --max-seconds). The training's main thread, sharing those cores, gets a
shrinking share of them: its steps slow down gradually, as when other jobs on the node (data loaders,
preprocessing, another user's work) take more and more of its cores. Each worker starts its periods offset by
i/procs of a period, so the load is spread in time.

    python benchmarks/cpu_ramp.py --out ramp.json --procs 3 --cpus 0-1 --log run.log --trigger '^iter 0:' \\
        --start 5 --ramp 90

--start is seconds after the first line of --log matching --trigger (after the controller's start without
--trigger). Writes the schedule and every worker (pid, start, end, busy seconds spun, CPU seconds used) to --out
when it ends. SIGTERM: stops the workers, records them, exits."""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

ap = argparse.ArgumentParser()
ap.add_argument("--worker", type=int, default=None, help="internal: run worker number N")
ap.add_argument("--t0", type=float, default=0.0, help="worker: epoch the ramp starts at")
ap.add_argument("--procs", type=int, default=3)
ap.add_argument("--cpus", default="0-1", help="cores for the workers, taskset syntax: 0-1 or 0,2,5")
ap.add_argument("--start", type=float, default=5.0)
ap.add_argument("--ramp", type=float, default=90.0)
ap.add_argument("--max-duty", type=float, default=1.0)
ap.add_argument("--period-ms", type=float, default=20.0)
ap.add_argument("--max-seconds", type=float, default=900.0)
ap.add_argument("--log", default=None)
ap.add_argument("--trigger", default=None)
ap.add_argument("--trigger-timeout", type=float, default=300.0)
ap.add_argument("--out", required=True)
a = ap.parse_args()

stopping: list[int] = []
signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))


def cores(spec: str) -> set[int]:
    out: set[int] = set()
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        out.update(range(int(lo), int(hi or lo) + 1))
    return out


def duty(now: float) -> float:
    """Busy share of a period at epoch now: 0 before --t0, rising linearly to --max-duty over --ramp s."""
    if now < a.t0:
        return 0.0
    return a.max_duty * min(1.0, (now - a.t0) / a.ramp) if a.ramp > 0 else a.max_duty


def worker(i: int) -> None:
    os.sched_setaffinity(0, cores(a.cpus))
    period = a.period_ms / 1e3
    rec: dict = {"worker": i, "pid": os.getpid(), "start": time.time()}
    busy = 0.0
    next_p = a.t0 + i * period / a.procs
    while not stopping and time.time() < a.t0 + a.max_seconds:
        now = time.time()
        if now < next_p:
            time.sleep(min(0.05, next_p - now))
            continue
        spin_until = next_p + duty(next_p) * period
        while time.time() < spin_until:
            pass
        busy += max(0.0, spin_until - next_p)
        next_p += period
    rec["end"] = time.time()
    rec["busy_s"] = round(busy, 3)
    rec["cpu_s"] = round(sum(os.times()[:2]), 3)
    Path(f"{a.out}.w{i}").write_text(json.dumps(rec))


def trigger_epoch(deadline: float) -> float | None:
    """Epoch at which the first line of --log matching --trigger was seen (polled every 0.1 s)."""
    pattern, offset, pending = re.compile(a.trigger), 0, b""
    while not stopping and time.time() < deadline:
        if a.log and os.path.exists(a.log):
            with open(a.log, "rb") as f:
                f.seek(offset)
                chunk = f.read()
            offset += len(chunk)
            pending += chunk
            *lines, pending = pending.split(b"\n")
            if any(pattern.search(x.decode(errors="replace")) for x in lines):
                return time.time()
        time.sleep(0.1)
    return None


def controller() -> None:
    start = time.time()
    state: dict = {"controller_pid": os.getpid(), "controller_start": start,
                   "schedule": (f"{a.procs} process(es) pinned to cores {a.cpus}, each busy for a share of every "
                                f"{a.period_ms:g} ms rising linearly from 0 to {a.max_duty:g} over {a.ramp:g} s, "
                                f"from {a.start:g} s after " + (f"the first line of {a.log} matching {a.trigger!r}"
                                                                if a.trigger else "the controller's start")
                                + ", then held")}
    base = trigger_epoch(start + a.trigger_timeout) if a.trigger else start
    if base is None:
        state["trigger_missed"] = True
    else:
        state["trigger_epoch"] = base
        state["ramp_start_epoch"] = t0 = base + a.start
        state["ramp_full_epoch"] = t0 + a.ramp
        procs = []
        for i in range(a.procs):
            out = Path(f"{a.out}.w{i}")
            out.unlink(missing_ok=True)
            procs.append(subprocess.Popen([sys.executable, __file__, "--worker", str(i), "--t0", f"{t0:.3f}",
                                           *[f"--{k.replace('_', '-')}={v}" for k, v in vars(a).items()
                                             if k in ("procs", "cpus", "ramp", "max_duty", "period_ms",
                                                      "max_seconds", "out")]]))
        while not stopping and any(p.poll() is None for p in procs):
            time.sleep(0.1)
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        workers = []
        for i, p in enumerate(procs):
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            try:
                workers.append(json.loads(Path(f"{a.out}.w{i}").read_text()))
            except (OSError, ValueError) as e:
                workers.append({"pid": p.pid, "error": repr(e)})
        state["workers"] = workers
    state["controller_end"] = time.time()
    state["stopped_by"] = "SIGTERM" if stopping else "max-seconds"
    Path(a.out).write_text(json.dumps(state, indent=1))


if a.worker is not None:
    worker(a.worker)
else:
    controller()
