"""Cold open of every family, and start-up: CPU time against baselines measured in the same run.

Run: python benchmarks/families.py [--lines N] [--repeat R]

For nanoGPT, nanochat, llm.c (train_gpt2.cu's stdout, the -o main.log, train_gpt2.py's stdout),
build-nanogpt (stdout, log/log.txt; read as llmc) and modded-nanogpt, writes an N-line log in
the script's own step format (an eval line every 250 steps; nanoGPT's also with torchrun's
`[rank0]: ` tag before every line) and measures, as
CPU time of this process (time.process_time, so other work on a shared machine counts less),
the median of R runs of
- nanowatch: `cli.main([LOG, "--once", "--json", "--no-gpu"])`, end to end;
- the baseline: a plain per-line regex loop over the same file that collects the step
  line's numbers (step, loss, time, ...) into Python lists, nothing else.
Start-up: CPU time (user + sys of the child) of `python -m monitor --help` against a bare
`python -c pass`, median of 3R runs.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from cold_open import write_log as write_nanogpt

from monitor import cli

N = r"([-+\d.naif]+)"


def _nanochat(i: int, n: int, rng: random.Random) -> str:
    if i % 250 == 0 and i:
        return f"Step {i:05d} | Validation bpb: {0.9 + rng.random() / 10:.4f}"
    return (f"step {i:05d}/{n:05d} ({100 * i / n:.2f}%) | loss: {3 + rng.random():.6f} | lrm: 1.00 | "
            f"dt: {rng.gauss(480, 5):.2f}ms | tok/sec: {rng.randint(900_000, 1_200_000):,} | "
            f"mfu: {rng.gauss(49, 1):.2f} | total time: {i * 0.008:.2f}m")


def _llmc(i: int, n: int, rng: random.Random) -> str:
    if i % 250 == 0:
        return f"val loss {3 + rng.random():.6f}"
    return (f"step {i:4d}/{n} | loss {3 + rng.random():.6f} ({rng.gauss(0, 1):+.2f}z)| norm {rng.random():.4f} "
            f"({rng.gauss(0, 1):+.2f}z)| lr {6e-4 * rng.random():.2e} | {rng.gauss(4300, 30):.2f} ms | "
            f"{rng.gauss(31, 0.5):.1f}% bf16 MFU | {rng.gauss(124000, 500):.0f} tok/s")


def _llmc_main(i: int, n: int, rng: random.Random) -> str:
    if i % 250 == 0:
        return f"s:{i} tel:{3 + rng.random():.4f}"
    return f"s:{i} trl:{3 + rng.random():.4f} lr:{6e-4 * rng.random():.6f} norm:{rng.random():.2f}"


def _llmc_python(i: int, n: int, rng: random.Random) -> str:
    if i % 250 == 0:
        return f"val loss {3 + rng.random():.6f}"
    return (f"step {i:4d}/{n} | train loss {3 + rng.random():.6f} | norm {rng.random():.4f} | lr {6e-4 * rng.random():.2e} | "
            f"({rng.gauss(400, 5):.2f} ms | {rng.gauss(162000, 500):.0f} tok/s)")


def _build_nanogpt(i: int, n: int, rng: random.Random) -> str:
    if i % 250 == 0:
        return f"validation loss: {3 + rng.random():.4f}" if i % 500 else f"HellaSwag accuracy: 2982/10042={rng.random():.4f}"
    return (f"step {i:5d} | loss: {3 + rng.random():.6f} | lr {6e-4 * rng.random():.4e} | norm: {rng.random():.4f} | "
            f"dt: {rng.gauss(555, 5):.2f}ms | tok/sec: {rng.gauss(944000, 900):.2f}")


def _build_nanogpt_log(i: int, n: int, rng: random.Random) -> str:
    if i % 250 == 0:
        return f"{i} val {3 + rng.random():.4f}" if i % 500 else f"{i} hella {rng.random():.4f}"
    return f"{i} train {3 + rng.random():.6f}"


def _modded(i: int, n: int, rng: random.Random) -> str:
    clock_ms = 41 * i + i // 7
    if i % 125 == 0:
        return f"step:{i}/{n} val_loss:{3 + rng.random():.4f} train_time:{clock_ms}ms step_avg:{41.1:.2f}ms"
    return f"step:{i}/{n} train_time:{clock_ms}ms step_avg:{clock_ms / max(i, 1):.2f}ms"


LINES: dict[str, Callable[[int, int, random.Random], str]] = {
    "nanochat": _nanochat, "llmc stdout": _llmc, "llmc main.log": _llmc_main, "llmc train_gpt2.py": _llmc_python,
    "build-nanogpt stdout": _build_nanogpt, "build-nanogpt log.txt": _build_nanogpt_log, "modded": _modded,
}
BASELINES = {
    "nanogpt": re.compile(rf"iter (\d+): loss {N}, time {N}ms(?:, mfu {N}%)?"),
    "nanogpt rank-tagged": re.compile(rf"\[rank0\]: iter (\d+): loss {N}, time {N}ms(?:, mfu {N}%)?"),
    "nanochat": re.compile(rf"step (\d+)/(\d+) \({N}%\) \| loss: {N} .*\| dt: {N}ms .*\| mfu: {N} \| total time: {N}m"),
    "llmc stdout": re.compile(rf"step\s+(\d+)/(\d+) \| loss {N} .*\| {N} ms \| {N}% bf16 MFU"),
    "llmc main.log": re.compile(rf"s:(\d+) trl:{N}"),
    "llmc train_gpt2.py": re.compile(rf"step\s+(\d+)/(\d+) \| train loss {N} .*\| \({N} ms"),
    "build-nanogpt stdout": re.compile(rf"step\s+(\d+) \| loss: {N} .*\| dt: {N}ms"),
    "build-nanogpt log.txt": re.compile(rf"(\d+) train {N}"),
    "modded": re.compile(rf"step:(\d+)/(\d+) (?:train_loss:{N} )?train_time:{N}ms"),
}


def write(family: str, path: Path, n_lines: int) -> None:
    if family == "nanogpt":
        write_nanogpt(path, n_lines)
        return
    if family == "nanogpt rank-tagged":  # torchrun --tee: `[rank0]: ` before every line
        write_nanogpt(path, n_lines)
        path.write_bytes(b"[rank0]: " + path.read_bytes()[:-1].replace(b"\n", b"\n[rank0]: ") + b"\n")
        return
    rng = random.Random(0)
    line = LINES[family]
    path.write_text("".join(line(i, n_lines, rng) + "\n" for i in range(1, n_lines + 1)))


def baseline(family: str, path: Path) -> int:
    """The plain per-line loop: match the step line, convert its numbers, keep them."""
    pattern = BASELINES[family]
    columns: list[list[float]] = [[] for _ in range(pattern.groups)]
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            m = pattern.match(line)
            if m is not None:
                for column, text in zip(columns, m.groups()):
                    column.append(float(text) if text else float("nan"))
    return len(columns[0])


def nanowatch(path: Path) -> dict:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main([str(path), "--once", "--json", "--no-gpu"]) == 0
    return json.loads(out.getvalue())


def cpu_s(fn: Callable[..., object], *args: object, repeat: int) -> tuple[float, object]:
    """Median CPU time of this process over `repeat` calls, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        t0 = time.process_time()
        result = fn(*args)
        times.append(time.process_time() - t0)
    return statistics.median(times), result


def child_cpu_s(cmd: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, check=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        times.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", nargs="*", default=None, help="families to measure")
    args = ap.parse_args()
    print(f"{args.lines:,} lines, median of {args.repeat}, Python {sys.version.split()[0]}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the start")
    print()
    print("| log | nanowatch CPU s | baseline CPU s | ratio | iter |")
    print("|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for family in args.only or BASELINES:
            log = Path(tmp) / "run.log"
            write(family, log, args.lines)
            t_base, _ = cpu_s(baseline, family, log, repeat=args.repeat)
            t_nw, record = cpu_s(nanowatch, log, repeat=args.repeat)
            print(f"| {family} | {t_nw:.2f} | {t_base:.2f} | {t_nw / t_base:.2f} | {record['iter']} |", flush=True)
            log.unlink()
    bare = child_cpu_s([sys.executable, "-c", "pass"], 3 * args.repeat)
    helped = child_cpu_s([sys.executable, "-m", "monitor", "--help"], 3 * args.repeat)
    print()
    print(f"start-up: `python -m monitor --help` {helped * 1000:.0f} ms CPU, `python -c pass` {bare * 1000:.0f} ms, "
          f"difference {(helped - bare) * 1000:.0f} ms (target <= 50 ms)")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
