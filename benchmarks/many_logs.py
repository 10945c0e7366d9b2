"""Many logs at once: `nanowatch LOG1 … LOGn --jsonl` from start to every log's first record,
then its steady CPU while nothing is written; and `--once --json` over the same logs.
Each tree (this one, and the baselines given with --baseline) runs in turn, round after round.

    python3 benchmarks/many_logs.py [--logs 20 200] [--lines 10000] [--rounds 2] [--baseline DIR ...]

Logs: cold_open.write_log's nanoGPT logs of --lines lines (a different seed each), written
before the clock starts. Figures, per tree and round:
- first: process start to the first record of any log (wall);
- all: process start to a record of every log that shows its last step (its history read);
- CPU to all: the process's utime+stime up to then;
- steady: its CPU over --steady-s seconds after that, as a share of one core;
- threads: the process's threads once every log is read;
- --once: wall and CPU of `--once --json` over all the logs (one record per log).
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from cold_open import write_log
from tables import render
from trees import comparison_arguments, trees_of

TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    """utime + stime of a process (s)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return 0


def follow(tree: Path, logs: list[Path], last_iter: dict[str, int], steady_s: float, limit_s: float) -> dict[str, float]:
    """One `--jsonl` run of `tree` over `logs`: the figures above."""
    argv = [sys.executable, "-m", "monitor", *map(str, logs), "--jsonl", "--no-gpu", "--interval", "3600"]
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)}, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    first_s = all_s = None
    waiting = set(last_iter)
    buf = b""
    try:
        while waiting and time.perf_counter() - start < limit_s:
            if not sel.select(timeout=1.0):
                continue
            chunk = os.read(proc.stdout.fileno(), 1 << 20)
            if not chunk:
                break
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for line in lines:
                record = json.loads(line)
                first_s = first_s or time.perf_counter() - start
                if record["iter"] == last_iter.get(record["source"]):
                    waiting.discard(record["source"])
        all_s = time.perf_counter() - start if not waiting else float("nan")
        cpu_all = cpu_s(proc.pid)
        n_threads = threads(proc.pid)
        time.sleep(steady_s)
        steady = (cpu_s(proc.pid) - cpu_all) / steady_s
    finally:
        proc.kill()
        proc.wait()
    return {"first_s": first_s or float("nan"), "all_s": all_s, "cpu_all_s": cpu_all, "steady": steady,
            "threads": n_threads}


def once(tree: Path, logs: list[Path]) -> dict[str, float]:
    argv = [sys.executable, "-m", "monitor", *map(str, logs), "--once", "--json", "--no-gpu"]
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)}, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    out, _ = proc.communicate()
    wall = time.perf_counter() - start
    assert proc.returncode == 0 and out.count(b"\n") == len(logs), proc.returncode
    return {"once_s": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logs", type=int, nargs="+", default=[20, 200])
    parser.add_argument("--lines", type=int, default=10_000)
    parser.add_argument("--steady-s", type=float, default=10.0)
    parser.add_argument("--limit-s", type=float, default=300.0)
    comparison_arguments(parser)
    opts = parser.parse_args()
    trees = trees_of(opts)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        all_logs, last_iter = [], {}
        for i in range(max(opts.logs)):
            path = Path(folder) / f"run{i:03d}.log"
            n_iter = write_log(path, opts.lines, seed=i)
            all_logs.append(path)
            last_iter[str(path)] = n_iter - 1
        print(f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; logs of {opts.lines:,} lines", file=sys.stderr)
        for n in opts.logs:
            logs = all_logs[:n]
            wanted = {str(p): last_iter[str(p)] for p in logs}
            for r in range(opts.rounds):
                order = trees if r % 2 == 0 else trees[::-1]  # alternate who goes first
                for name, tree in order:
                    f = follow(tree, logs, wanted, opts.steady_s, opts.limit_s)
                    o = once(tree, logs)
                    load = os.getloadavg()[0]
                    rows.append([str(n), name, str(r + 1), f"{f['first_s']:.2f} s", f"{f['all_s']:.2f} s", f"{f['cpu_all_s']:.2f} s",
                                 f"{100 * f['steady']:.1f}%", str(f["threads"]), f"{o['once_s']:.2f} s", f"{load:.1f}"])
                    print(" | ".join(map(str, rows[-1])), file=sys.stderr)
    print(render(["logs", "tree", "round", "first record", "all read", "CPU to all read", "steady CPU",
                  "threads", "--once", "load"], rows, opts.markdown))


if __name__ == "__main__":
    main()
