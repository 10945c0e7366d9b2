"""Competing GPU job for the contended recordings (sample_logs/recorded/h200_gpu_contended*, h200b_contended*,
h200c_contended*, h200c_ddp2_one_gpu_contended, and the held-out h200d runs).

A controller that, for each on-window, starts --procs processes that each loop bf16 NxN matmuls on the visible GPU
with no gaps (two batches always queued: the GPU time-slices between processes, so more processes take a larger
share from the training), and stops them (SIGTERM) at the window's end. Each burst process is new, so its PID
comes and goes in NVML's list. Writes every burst (pids, launch, compute start/end epoch, matmuls, TFLOP/s) to
--out after each window. SIGTERM: stops the burst in progress, records it, exits.

    python benchmarks/gpu_burst.py --out b.json --procs 4 --log run.log --trigger '^iter 0:' --windows=-:20,60:80
    python benchmarks/gpu_burst.py --out b.json --first-off 40 --on 15 --off 20 --cycles 4

--windows START:END,... are seconds after the first line of --log matching --trigger (after the controller's
start without --trigger); START '-' means at once. Without --windows: --first-off, then --cycles x (--on, --off)
after the controller's start. The workers are started up to --lead seconds early and wait for the window, so a
burst begins on time despite CUDA's start-up.

    python benchmarks/gpu_burst.py --out b.json --procs 2 --log run.log --trigger '^iter 0:' --windows=5:400 \
        --wave-period 90 --duty-min 0.1 --duty-max 0.9

--wave-period P makes each burst process busy for a share of every --slot seconds (0.1) that rises and falls
smoothly, duty(t) = min + (max - min) (1 - cos(2 pi t / P)) / 2 with t from the window's start (so it starts at
--duty-min and peaks at P/2), and idle (synchronised, asleep) for the rest of the slot: a competitor whose load
moves in slow waves. Each worker records its duty and matmuls once a second (`duty_trace`).

    python benchmarks/gpu_burst.py --calibrate --model-dir nanoGPT --out calib.json

times steps of nanoGPT's shakespeare_char model (eager, bf16 autocast, AdamW; model.py from --model-dir) alone
and beside 1, 2, 4 and 8 such processes, --round seconds each, and writes the median step time of each round.

The first recordings (h200_gpu_contended*) were made with an earlier version: one process a burst, a sync after
every 20 matmuls, bursts on a fixed clock, and a SIGTERM handler that deadlocked (see their meta.json)."""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from collections import deque
from pathlib import Path

ap = argparse.ArgumentParser()
ap.add_argument("--worker", action="store_true")
ap.add_argument("--calibrate", action="store_true")
ap.add_argument("--start-at", type=float, default=0.0, help="worker: epoch to start computing at")
ap.add_argument("--max-seconds", type=float, default=900, help="worker: stop after this long in any case")
ap.add_argument("--procs", type=int, default=1)
ap.add_argument("--windows", default=None)
ap.add_argument("--log", default=None)
ap.add_argument("--trigger", default=None)
ap.add_argument("--trigger-timeout", type=float, default=300)
ap.add_argument("--lead", type=float, default=8.0)
ap.add_argument("--on", type=float, default=15)
ap.add_argument("--off", type=float, default=20)
ap.add_argument("--first-off", type=float, default=40)
ap.add_argument("--cycles", type=int, default=4)
ap.add_argument("--n", type=int, default=8192)
ap.add_argument("--model-dir", default="nanoGPT")
ap.add_argument("--round", type=float, default=5.0)
ap.add_argument("--wave-period", type=float, default=0.0, help="seconds of one duty wave (0: always busy)")
ap.add_argument("--duty-min", type=float, default=0.1)
ap.add_argument("--duty-max", type=float, default=0.9)
ap.add_argument("--slot", type=float, default=0.1, help="seconds of one busy+idle slot of a wave")
ap.add_argument("--out", required=True)
a = ap.parse_args()

stopping: list[int] = []
signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))


def sleep_until(t: float) -> bool:
    """Sleep until epoch t; False if SIGTERM came first."""
    while time.time() < t and not stopping:
        time.sleep(min(0.05, max(0.0, t - time.time())))
    return not stopping


def worker() -> None:
    import torch

    rec: dict = {"pid": os.getpid(), "launch": time.time()}
    x = torch.randn(a.n, a.n, device="cuda", dtype=torch.bfloat16)
    y = torch.randn(a.n, a.n, device="cuda", dtype=torch.bfloat16)
    z = torch.empty_like(x)
    torch.cuda.synchronize()
    rec["ready"] = time.time()
    if sleep_until(a.start_at):
        rec["compute_start"] = t0 = time.time()
        k, queued = 0, deque()
        if a.wave_period > 0:
            k = wave(rec, x, y, z, t0)
        while a.wave_period <= 0 and not stopping and time.time() - t0 < a.max_seconds:
            for _ in range(10):
                torch.matmul(x, y, out=z)
            k += 10
            queue_mark(queued, depth=2)
        torch.cuda.synchronize()
        rec["compute_end"] = time.time()
        rec["matmuls"] = k
        rec["tflops_per_s"] = round(2 * a.n ** 3 * k / (rec["compute_end"] - t0) / 1e12, 1)
    Path(a.out).write_text(json.dumps(rec))


def queue_mark(queued: deque, depth: int) -> None:
    """Record a CUDA event after the work queued so far and wait until at most `depth` such
    marks are outstanding: the GPU always has work queued, and the host never runs far ahead."""
    import torch

    ev = torch.cuda.Event()
    ev.record()
    queued.append(ev)
    while len(queued) > depth:
        queued.popleft().synchronize()


def duty(t_s: float) -> float:
    """The wave's busy share t_s seconds after the window's start (see the module docstring)."""
    return a.duty_min + (a.duty_max - a.duty_min) * (1 - math.cos(2 * math.pi * t_s / a.wave_period)) / 2


def wave(rec: dict, x, y, z, t0: float) -> int:
    """Worker loop of --wave-period: in each --slot, matmuls (at most 3 queued) until duty(t) of the slot has
    passed, then sync and sleep to the slot's end. Returns the number of matmuls; fills rec['duty_trace']
    with [second's start epoch, mean duty, matmuls] for each second."""
    import torch

    k, queued, trace = 0, deque(), []
    rec["duty_trace"] = trace
    slot_start, second, k_second, duties = t0, t0, 0, []
    while not stopping and time.time() - t0 < a.max_seconds:
        d = duty(slot_start - a.start_at)
        duties.append(d)
        busy_until = slot_start + d * a.slot
        while time.time() < busy_until and not stopping:
            torch.matmul(x, y, out=z)
            k += 1
            queue_mark(queued, depth=3)
        torch.cuda.synchronize()
        queued.clear()
        slot_start += a.slot
        if slot_start - second >= 1.0 - 1e-6:
            trace.append([round(second, 3), round(sum(duties) / len(duties), 3), k - k_second])
            second, k_second, duties = slot_start, k, []
        sleep_until(slot_start)
    return k


def spawn(i: int, start_at: float) -> subprocess.Popen:
    out = f"{a.out}.w{i}"
    if os.path.exists(out):
        os.remove(out)
    wave_args = ([] if a.wave_period <= 0 else ["--wave-period", str(a.wave_period), "--duty-min", str(a.duty_min),
                                                 "--duty-max", str(a.duty_max), "--slot", str(a.slot)])
    return subprocess.Popen([sys.executable, __file__, "--worker", "--start-at", f"{start_at:.3f}", "--n", str(a.n),
                             "--out", out] + wave_args)


def stop_all(procs: list[subprocess.Popen]) -> list[dict]:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    recs = []
    for i, p in enumerate(procs):
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        try:
            recs.append(json.loads(Path(f"{a.out}.w{i}").read_text()))
        except (OSError, ValueError) as e:
            recs.append({"pid": p.pid, "error": repr(e)})
    return recs


class Trigger:
    """The epoch of the first line of --log matching --trigger (polled), or the controller's start."""

    def __init__(self, start: float) -> None:
        self.at = None if a.trigger else start
        self.line: str | None = None
        self.pattern = re.compile(a.trigger) if a.trigger else None
        self.offset, self.pending = 0, b""

    def poll(self) -> float | None:
        if self.at is None and self.pattern is not None and a.log and os.path.exists(a.log):
            with open(a.log, "rb") as f:
                f.seek(self.offset)
                chunk = f.read()
            self.offset += len(chunk)
            self.pending += chunk
            *lines, self.pending = self.pending.split(b"\n")
            for line in lines:
                text = line.decode(errors="replace")
                if self.pattern.search(text):
                    self.at, self.line = time.time(), text[:200]
                    break
        return self.at

    def wait(self, deadline: float) -> float | None:
        while self.poll() is None and not stopping and time.time() < deadline:
            time.sleep(0.1)
        return self.at


def controller() -> None:
    start = time.time()
    if a.windows:
        windows = [(None if s.strip() == "-" else float(s), float(e)) for s, e in
                   (w.split(":") for w in a.windows.split(","))]
    else:
        t, windows = a.first_off, []
        for _ in range(a.cycles):
            windows.append((t, t + a.on))
            t += a.on + a.off
    state: dict = {"controller_pid": os.getpid(), "gpu_visible": os.environ.get("CUDA_VISIBLE_DEVICES"),
                   "schedule": (f"{a.procs} process(es) a burst, bf16 {a.n}x{a.n} matmuls, "
                                + ("no sync gaps" if a.wave_period <= 0 else
                                   f"busy for a share of every {a.slot} s rising and falling from {a.duty_min} to "
                                   f"{a.duty_max} and back every {a.wave_period} s (1 - cos)")
                                + "; windows "
                                f"(s) {windows} after " + (f"the first line of {a.log} matching {a.trigger!r}"
                                                          if a.trigger else "the controller's start")
                                + " (None: at once)"),
                   "controller_start": start, "bursts": []}
    out = Path(a.out)

    def save() -> None:
        Path(a.out + ".tmp").write_text(json.dumps(state, indent=1))
        os.replace(a.out + ".tmp", out)

    trig = Trigger(start)
    save()
    for w_start, w_end in windows:
        if stopping:
            break
        if w_start is None:
            begin = time.time()
        else:
            base = trig.wait(start + a.trigger_timeout)
            if base is None:
                state["trigger_missed"] = f"no line matched within {a.trigger_timeout} s"
                break
            begin = base + w_start
            if not sleep_until(begin - a.lead):
                break
        procs = [spawn(i, begin) for i in range(a.procs)]
        base = trig.wait(start + a.trigger_timeout)
        if base is not None:
            sleep_until(base + w_end)
        state["bursts"].append({"window_s": [w_start, w_end], "start_at": begin, "stop_sent": time.time(),
                                "workers": stop_all(procs)})
        if trig.at is not None:
            state["trigger_epoch"], state["trigger_line"] = trig.at, trig.line
        save()
    if trig.at is not None:
        state["trigger_epoch"], state["trigger_line"] = trig.at, trig.line
    state["controller_end"] = time.time()
    state["stopped_by"] = "SIGTERM" if stopping else "schedule done"
    save()


def calibrate() -> None:
    """Median eager nanoGPT shakespeare_char step time alone and beside k burst processes, per round."""
    import torch

    sys.path.insert(0, a.model_dir)
    from model import GPT, GPTConfig

    ks = (0, 1, 2, 4, 8, 0)
    t_begin = time.time() + a.lead + 4
    round_of = [next(r for r, k in enumerate(ks) if k > i) for i in range(max(ks))]
    procs = [spawn(i, t_begin + r * a.round) for i, r in enumerate(round_of)]
    torch.manual_seed(0)
    model = GPT(GPTConfig(block_size=256, vocab_size=65, n_layer=6, n_head=6, n_embd=384, dropout=0.2)).cuda()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=True)
    x = torch.randint(0, 65, (64, 256), device="cuda")
    steps: list[tuple[float, float]] = []
    stop_at = t_begin + (len(ks) - 1) * a.round
    stopped: list[dict] = []
    while time.time() < t_begin + len(ks) * a.round:
        t0 = time.time()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            _, loss = model(x, x)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        loss.item()
        steps.append((t0, time.time() - t0))
        if not stopped and time.time() >= stop_at:
            stopped = stop_all(procs)
    rounds = []
    for r, k in enumerate(ks):
        lo, hi = t_begin + r * a.round + 0.5, t_begin + (r + 1) * a.round
        dts = [dt for t, dt in steps if lo <= t and t + dt <= hi]
        rounds.append({"procs": k, "steps": len(dts),
                       "median_step_ms": round(1e3 * statistics.median(dts), 2) if dts else None})
    base = statistics.mean(r["median_step_ms"] for r in rounds if r["procs"] == 0 and r["median_step_ms"])
    for r in rounds:
        r["ratio"] = round(r["median_step_ms"] / base, 2) if r["median_step_ms"] else None
    Path(a.out).write_text(json.dumps({"what": "eager nanoGPT shakespeare_char step (batch 64 x 256, bf16 autocast, "
                                               "fused AdamW, loss.item() each step) beside k burst processes",
                                       "round_s": a.round, "rounds": rounds, "workers": stopped}, indent=1))


if a.worker:
    worker()
elif a.calibrate:
    calibrate()
else:
    controller()
