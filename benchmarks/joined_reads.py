"""A live log written a line at a time, drained as the TUI drains it: CPU of `Session.ingest` per
line read, this tree against baseline trees, in the same run.

    python3 benchmarks/joined_reads.py [--history 1000000] [--lines 20000] [--per-read 1 4] [--drain 500]
                                       [--rounds 2] [--baseline DIR ...] [--markdown]

Each figure is one child process on a tree: a Session holding a --history-line nanoGPT log
(cold_open.write_log, read in bulk first), then --lines new step lines handed over as a
follower hands a line-at-a-time writer's log over: reads of --per-read lines each (a BlockRead,
each at its own arrival time, 1 ms apart), drained --drain reads at a time (the TUI drains twice
a second: 500 reads at 1,000 lines/s). CPU (process_time) of the ingests alone, no snapshot;
the record after the last line (its JSON's digest) shows the trees read the same.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from cold_open import write_log
from tables import render
from trees import child_figures, comparison_arguments, trees_of

CHILD = r"""
import hashlib, json, sys, time
from monitor.core.report import Options
from monitor.inbox import BlockRead
from monitor.session import Session
from monitor.sources.logfile import read_blocks

log, n_lines, per_read, drain = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
T0 = 1_790_000_000.0
session = Session(Options(source=log), clock=lambda: T0)
for block in read_blocks(log):
    session.feed_block(block, None)
last = max(int(l.split()[1].rstrip(b":")) for l in open(log, "rb").read().splitlines()[-5:] if l.startswith(b"iter "))
reads = []
for k in range(0, n_lines, per_read):
    its = range(last + 1 + k, last + 1 + min(n_lines, k + per_read))
    block = b"".join(b"iter %d: loss 3.%d000, time 12.50ms, mfu 30.00%%\n" % (i, i % 10) for i in its)
    reads.append(BlockRead(T0 + 0.001 * (k + per_read), block))
cpu = time.process_time()
for i in range(0, len(reads), drain):
    session.ingest(reads[i : i + drain])
cpu = time.process_time() - cpu
record = session.snapshot(reads[-1].t).to_json()
print(json.dumps({"cpu_s": cpu, "digest": hashlib.sha256(record.encode()).hexdigest()[:12]}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--history", type=int, default=1_000_000)
    parser.add_argument("--lines", type=int, default=20_000)
    parser.add_argument("--per-read", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--drain", type=int, default=500)
    comparison_arguments(parser)
    opts = parser.parse_args()
    trees = trees_of(opts)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "train.log"
        write_log(log, opts.history)
        for per_read in opts.per_read:
            base: dict[int, float] = {}
            for r in range(opts.rounds):
                for name, tree in trees if r % 2 == 0 else trees[::-1]:
                    f = child_figures(tree, CHILD, [str(log), str(opts.lines), str(per_read), str(opts.drain)])
                    us = 1e6 * f["cpu_s"] / opts.lines
                    if name == trees[-1][0]:
                        base[r] = us
                    rows.append([str(per_read), name, str(r + 1), f"{us:.1f} µs", f["digest"],
                                 f"{os.getloadavg()[0]:.1f}"])
                    print(" | ".join(rows[-1]), file=sys.stderr)
            for row in rows:
                if row[0] == str(per_read) and len(row) == 6:
                    row.append(f"{float(row[3].split()[0]) / base[int(row[2]) - 1]:.2f}")
    print(render(["lines a read", "tree", "round", "CPU a line", "record", "load", "vs baseline"], rows,
                 opts.markdown))


if __name__ == "__main__":
    main()
