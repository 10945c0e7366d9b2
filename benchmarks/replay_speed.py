"""CPU time and peak memory of `nanowatch replay LOG --speed 0 --once --json` on a long log, this
tree against baseline trees (e.g. `git archive 3889ab2 | tar -x -C /tmp/base`), in the same run:
the trees take turns, round after round, the first of each round alternating.

    python3 benchmarks/replay_speed.py --baseline /tmp/base [--lines 1000000] [--rounds 2] [--times]

The log is cold_open.write_log's nanoGPT log (the header of a recorded H100 run, then `iter`
lines with an eval and a checkpoint every 2000 steps). Each figure is one child process:
its CPU time (user + system, from wait4) and peak RSS (its /proc VmHWM, in MiB). The records of all trees
must be the same bytes (checked here: the replay's clock is fixed, as in replay_records.py).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from cold_open import write_log
from tables import render
from trees import comparison_arguments, trees_of

#: The child: `replay` with the clock fixed (the paced clock starts at it).
CHILD = """
import sys
sys.path.insert(0, {tree!r})
from monitor import offline
from monitor.cli import build_parsers
args = build_parsers()[1].parse_args({argv!r})
offline.replay(args, clock=lambda: 1_790_000_000.0, sleep=lambda s: None)
with open("/proc/self/status") as f:  # this image's peak (ru_maxrss keeps the parent's across exec)
    peak_kib = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
print(peak_kib, file=sys.stderr)
"""


def run(tree: Path, argv: list[str]) -> tuple[float, float, str]:
    """(CPU seconds, peak RSS in MiB, sha256 of stdout) of one replay by `tree`."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([sys.executable, "-c", CHILD.format(tree=str(tree), argv=argv)], cwd=tree,
                                stdout=out, stderr=err, env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
        _, status, usage = os.wait4(proc.pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, (tree, argv)
        out.seek(0)
        err.seek(0)
        digest = hashlib.sha256(out.read()).hexdigest()
        peak_kib = int(err.read().split()[-1])
    return usage.ru_utime + usage.ru_stime, peak_kib / 1024, digest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--times", action="store_true", help="also with --times (a recorded time a line)")
    comparison_arguments(parser, baseline_required=True)
    opts = parser.parse_args()
    trees = trees_of(opts)
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "run.log"
        write_log(log, opts.lines)
        times = Path(folder) / "run.times"
        with times.open("w") as f:
            for i in range(opts.lines):
                f.write(f"{1.79e9 + 0.0125 * i:.4f}\n")
        cases = [("paced", [str(log), "--speed", "0", "--once", "--json", "--no-gpu"])]
        if opts.times:
            cases.append(("--times", [str(log), "--times", str(times), "--speed", "0", "--once", "--json", "--no-gpu"]))
        print(f"{opts.lines:,} lines, {log.stat().st_size / 1e6:.0f} MB; {os.cpu_count()} CPUs", file=sys.stderr)
        rows = []
        for case, argv in cases:
            got: dict[str, list[tuple[float, float]]] = {name: [] for name, _ in trees}
            digests = set()
            for r in range(opts.rounds):
                for name, tree in trees if r % 2 == 0 else trees[::-1]:  # who goes first alternates
                    load = os.getloadavg()[0]
                    cpu, rss, digest = run(tree, argv)
                    digests.add(digest)
                    got[name].append((cpu, rss))
                    print(f"{case} round {r + 1} {name}: {cpu:.2f} s CPU, {rss:.0f} MiB, load {load:.1f}", file=sys.stderr)
            base = min(cpu for cpu, _ in got[trees[1][0]])
            for name, _ in trees:
                cpus = [cpu for cpu, _ in got[name]]
                rows.append([case, name, " / ".join(f"{c:.2f}" for c in cpus) + " s",
                             f"{min(cpus) / base:.3f}", f"{max(rss for _, rss in got[name]):.0f} MiB"])
            assert len(digests) == 1, f"{case}: the trees' records differ"
    print(render(["replay", "tree", "CPU (each round)", "best vs baseline", "peak RSS"], rows, opts.markdown))
    print("records: the same bytes from every tree", file=sys.stderr)


if __name__ == "__main__":
    main()
