"""The runs table (`nanowatch LOG1 … LOGn`): time to its first paint and to every row filled,
for this tree and baselines (e.g. `git archive main | tar -x -C /tmp/base`), in the same run.

    python3 benchmarks/runs_table.py [--logs 20 200] [--lines 10000] [--rounds 2] [--baseline DIR ...]

Logs: cold_open.write_log's nanoGPT logs of --lines lines (a seed each; their mtimes a second
apart), written before the clock starts. Each figure is one child process running the app
headless (Textual's run_test, 120×40) on a tree, the logs followed as the command line does
(no GPU): *first paint* is the app's start to a table with a row per log on screen, *all
filled* to every row showing its log's history (no row `reading…`; looked at every --poll-s
seconds, with a plain sleep between looks), *CPU* the child's CPU time then. The trees take
turns, the first of each round alternating.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from cold_open import write_log
from tables import render
from trees import child_figures, comparison_arguments, trees_of

#: The child: runs the app of the tree on its PYTHONPATH and prints its figures as JSON.
CHILD = r"""
import asyncio, json, sys, time
start = time.perf_counter()
from monitor.cli import build_parsers
from monitor.multi import Runs
from monitor.offline import new_session
from monitor.tui.multi_app import make_multi_app
from monitor.tui.widgets.runs_table import RunsTable

POLL_S = float(sys.argv[1])
paths = sys.argv[2:]
parser = build_parsers()[0]

def session_for(path):
    return new_session(parser.parse_args([path, "--no-gpu"]), time.time)

async def main():
    app = make_multi_app(lambda wake, notice: Runs(paths, session_for, wake=wake, on_notice=notice))
    first = filled = None
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.query_one(RunsTable)
        while filled is None and time.perf_counter() - start < 600:
            # a plain sleep: Pilot.pause also forces a screen update at every look (a hundred a
            # second while the table fills), which the app does not do on its own (POLL_S 0: the
            # look of the figures before 2026-12-01, Pilot.pause(0.01))
            if POLL_S == 0:
                await pilot.pause(0.01)
            else:
                await asyncio.sleep(0.01 if first is None else POLL_S)
            if table.row_count == len(paths):
                first = first or time.perf_counter() - start
                statuses = [str(table.get_cell(str(i), "status")) for i in range(len(paths))]
                if not any(s.startswith("reading") for s in statuses):
                    filled = time.perf_counter() - start
        cpu = time.process_time()
    print(json.dumps({"first_s": first, "filled_s": filled, "cpu_s": cpu}))

asyncio.run(main())
"""


def measure(tree: Path, logs: list[Path], poll_s: float) -> dict[str, float]:
    return child_figures(tree, CHILD, [str(poll_s), *map(str, logs)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logs", type=int, nargs="+", default=[20, 200])
    parser.add_argument("--lines", type=int, default=10_000)
    parser.add_argument("--poll-s", type=float, default=0.1,
                        help="the child looks at the rows' statuses this often once the table is there "
                             "(0: through Pilot.pause(0.01), as before 2026-12-01)")
    comparison_arguments(parser)
    opts = parser.parse_args()
    trees = trees_of(opts)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        logs = []
        now = time.time()
        for i in range(max(opts.logs)):
            path = Path(folder) / f"run{i:03d}.log"
            write_log(path, opts.lines, seed=i)
            os.utime(path, (now - i, now - i))
            logs.append(path)
        print(f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; logs of {opts.lines:,} lines", file=sys.stderr)
        for n in opts.logs:
            for r in range(opts.rounds):
                for name, tree in (trees if r % 2 == 0 else trees[::-1]):
                    f = measure(tree, logs[:n], opts.poll_s)
                    rows.append([str(n), name, str(r + 1), f"{f['first_s']:.2f} s", f"{f['filled_s']:.2f} s",
                                 f"{f['cpu_s']:.2f} s", f"{os.getloadavg()[0]:.1f}"])
                    print(" | ".join(rows[-1]), file=sys.stderr)
            if opts.baseline:
                mine = [r for r in rows if r[0] == str(n) and r[1] == "this tree"]
                theirs = [r for r in rows if r[0] == str(n) and r[1] == trees[-1][0]]
                for key, col in (("first paint", 3), ("all filled", 4)):
                    a = min(float(x[col].split()[0]) for x in mine)
                    b = min(float(x[col].split()[0]) for x in theirs)
                    print(f"{n} logs, {key}: best {a:.2f} s vs {b:.2f} s, ratio {a / b:.2f}", file=sys.stderr)
    print(render(["logs", "tree", "round", "first paint", "all filled", "CPU", "load"], rows, opts.markdown))


if __name__ == "__main__":
    main()
