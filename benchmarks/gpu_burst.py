"""Competing GPU job for the contended recordings (sample_logs/recorded/h200_gpu_contended*).

A controller that starts a bf16 matmul-loop process on one GPU for --on seconds, waits --off seconds, and so
on, --cycles times (each burst a new process, so its PID comes and goes in NVML's list). Writes the bursts (pid, launch, compute start/end epoch) to --out after each one. SIGTERM:
stops the burst in progress, records it, exits.

    python benchmarks/gpu_burst.py --out bursts.json --first-off 40 --on 15 --off 20 --cycles 4 &

The recordings were made with a version whose SIGTERM handler called Popen.wait() on the burst it was already
waiting for, which deadlocks; here the handler only sets a flag and forwards the signal."""
import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ap = argparse.ArgumentParser()
ap.add_argument("--worker", action="store_true")
ap.add_argument("--seconds", type=float, default=15)
ap.add_argument("--on", type=float, default=15)
ap.add_argument("--off", type=float, default=20)
ap.add_argument("--first-off", type=float, default=40)
ap.add_argument("--cycles", type=int, default=4)
ap.add_argument("--n", type=int, default=8192)
ap.add_argument("--out", required=True)
a = ap.parse_args()

if a.worker:
    import torch
    rec = {"pid": os.getpid(), "launch": time.time()}
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    x = torch.randn(a.n, a.n, device="cuda", dtype=torch.bfloat16)
    y = torch.randn(a.n, a.n, device="cuda", dtype=torch.bfloat16)
    torch.cuda.synchronize()
    rec["compute_start"] = t0 = time.time()
    k = 0
    while time.time() - t0 < a.seconds and not stop:
        for _ in range(20):
            z = x @ y
        torch.cuda.synchronize()
        k += 20
    rec["compute_end"] = time.time()
    rec["matmuls"] = k
    rec["tflops_per_s"] = round(2 * a.n ** 3 * k / (rec["compute_end"] - t0) / 1e12, 1)
    Path(a.out).write_text(json.dumps(rec))
    sys.exit(0)

state = {"controller_pid": os.getpid(), "gpu_visible": os.environ.get("CUDA_VISIBLE_DEVICES"),
         "schedule": f"first off {a.first_off} s, then {a.cycles} x ({a.on} s on, {a.off} s off); bf16 {a.n}x{a.n} matmuls",
         "controller_start": time.time(), "bursts": []}
cur = []
stopping = []


def save():
    Path(a.out + ".tmp").write_text(json.dumps(state, indent=1))
    os.replace(a.out + ".tmp", a.out)


def collect():
    try:
        state["bursts"].append(json.loads(Path(a.out + ".w").read_text()))
    except (OSError, ValueError) as e:
        state["bursts"].append({"error": repr(e)})


def term(*_):
    stopping.append(1)
    if cur and cur[0].poll() is None:
        cur[0].send_signal(signal.SIGTERM)


signal.signal(signal.SIGTERM, term)
save()
for c in range(a.cycles):
    until = time.time() + (a.first_off if c == 0 else a.off)
    while time.time() < until and not stopping:
        time.sleep(0.1)
    if stopping:
        break
    if os.path.exists(a.out + ".w"):
        os.remove(a.out + ".w")
    p = subprocess.Popen([sys.executable, __file__, "--worker", "--seconds", str(a.on), "--n", str(a.n), "--out", a.out + ".w"])
    cur[:] = [p]
    if stopping:  # SIGTERM between the check above and the launch
        p.send_signal(signal.SIGTERM)
    p.wait()
    collect()
    save()
state["controller_end"] = time.time()
state["stopped_by"] = "SIGTERM" if stopping else "schedule done"
save()
