"""Peak memory of `nanowatch replay` on a long log: the streamed text front end (--once, the same
path as --jsonl) and the TUI player's packed lines, against the log held as a list of
(time, line) tuples (what replay held before) and against the interpreter with nanowatch loaded.

    python3 benchmarks/replay_memory.py [--lines 1000000]

Each figure is one child process's peak RSS (ru_maxrss), measured in this run.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

LOADED = "import monitor.offline, monitor.sources.replay, monitor.session"
AS_LIST = LOADED + "; from monitor.sources.replay import timed_lines; x = list(timed_lines({log!r}, None, 0.0))"
PACKED = LOADED + "; from monitor.sources.replay import PackedLines, timed_lines; x = PackedLines(timed_lines({log!r}, None, 0.0))"


def write_log(path: Path, lines: int) -> None:
    rng = random.Random(1)
    with path.open("w") as f:
        f.write("tokens per iteration will be: 491,520\nnumber of parameters: 123.59M\n")
        for i in range(lines):
            if i % 2000 == 0:
                f.write(f"step {i}: train loss {3 - i * 1e-6:.4f}, val loss {3.1 - i * 1e-6:.4f}\n")
            f.write(f"iter {i}: loss {3 - i * 1e-6:.4f}, time {100 + rng.random():.2f}ms, mfu 40.12%\n")


def peak_mib(argv: list[str]) -> tuple[float, float]:
    """(peak RSS in MiB, wall seconds) of one child."""
    start = time.perf_counter()
    pid = subprocess.Popen(argv, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                           stdout=subprocess.DEVNULL).pid
    _, status, usage = os.wait4(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, argv
    return usage.ru_maxrss / 1024, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "run.log"
        write_log(log, opts.lines)
        size_mib = log.stat().st_size / 2**20
        py = sys.executable
        rows = [
            ("interpreter + nanowatch loaded", [py, "-c", LOADED]),
            ("log as a list of (t, line) (before)", [py, "-c", AS_LIST.format(log=str(log))]),
            ("replay --once --speed 0 (streamed)", [py, "-m", "monitor", "replay", str(log), "--speed", "0", "--once",
                                                    "--no-gpu"]),
            ("TUI player's PackedLines", [py, "-c", PACKED.format(log=str(log))]),
        ]
        print(f"log: {opts.lines:,} iteration lines, {size_mib:.1f} MiB; {os.cpu_count()} CPUs, "
              f"load {os.getloadavg()[0]:.1f}")
        base = None
        for name, argv in rows:
            mib, wall_s = peak_mib(argv)
            base = base or mib
            print(f"{name:40s} {mib:8.1f} MiB peak  (+{mib - base:6.1f} over loaded)  {wall_s:6.1f} s")


if __name__ == "__main__":
    main()
