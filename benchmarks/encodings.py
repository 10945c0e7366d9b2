"""Reading a log in UTF-8 and in UTF-16 (Windows PowerShell's `>`: a byte-order mark, two bytes a
character): the same lines, the cold open's read (`read_blocks` into a Session, as `--once` does).

    python3 benchmarks/encodings.py [--lines 300000] [--rounds 2] [--baseline DIR ...]

The log is cold_open.write_log's nanoGPT log, and the same text in UTF-16-LE with a mark. Each
figure is one child process on a tree: CPU time (process_time) of the read alone, and the rate in
MB/s of the file's bytes and of its lines' UTF-8 bytes (the same for both encodings). The trees
and encodings take turns; the lines read must be the same.
"""

from __future__ import annotations

import argparse
import codecs
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
import json, sys, time
from monitor.cli import build_parsers
from monitor.inbox import BlockRead
from monitor.offline import new_session
from monitor.sources.logfile import read_blocks

path = sys.argv[1]
session = new_session(build_parsers()[0].parse_args([path, "--no-gpu"]), time.time)
start = time.process_time()
for block in read_blocks(path):
    session.ingest([BlockRead(None, block)])
cpu = time.process_time() - start
print(json.dumps({"cpu_s": cpu, "iters": session.state.current.n_iters}))
"""


def measure(tree: Path, log: Path) -> dict[str, float]:
    return child_figures(tree, CHILD, [str(log)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=300_000)
    comparison_arguments(parser)
    opts = parser.parse_args()
    trees = trees_of(opts)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        utf8 = Path(folder) / "utf8.log"
        write_log(utf8, opts.lines)
        text = utf8.read_bytes()
        utf16 = Path(folder) / "utf16.log"
        utf16.write_bytes(codecs.BOM_UTF16_LE + text.decode().encode("utf-16-le"))
        logs = [("UTF-8", utf8), ("UTF-16-LE", utf16)]
        print(f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; {opts.lines:,} lines, "
              f"{len(text) / 1e6:.1f} MB of UTF-8", file=sys.stderr)
        best: dict[tuple[str, str], float] = {}
        for r in range(opts.rounds):
            for name, tree in trees if r % 2 == 0 else trees[::-1]:
                iters = set()
                for encoding, log in logs if r % 2 == 0 else logs[::-1]:
                    f = measure(tree, log)
                    iters.add(f["iters"])
                    size = log.stat().st_size
                    key = (name, encoding)
                    best[key] = min(best.get(key, float("inf")), f["cpu_s"])
                    rows.append([encoding, name, str(r + 1), f"{f['cpu_s']:.2f} s", f"{size / f['cpu_s'] / 1e6:.0f}",
                                 f"{len(text) / f['cpu_s'] / 1e6:.0f}", f"{os.getloadavg()[0]:.1f}"])
                    print(" | ".join(rows[-1]), file=sys.stderr)
                assert len(iters) == 1, iters  # the same lines in both encodings
        for name, _ in trees:
            ratio = best[(name, "UTF-16-LE")] / best[(name, "UTF-8")]
            print(f"{name}: UTF-16 / UTF-8 CPU (best of each) {ratio:.2f}", file=sys.stderr)
        if opts.baseline:
            base = trees[-1][0]
            ratio = best[("this tree", "UTF-16-LE")] / best[(base, "UTF-16-LE")]
            print(f"UTF-16, this tree / {base}: {ratio:.2f}", file=sys.stderr)
    print(render(["log", "tree", "round", "CPU", "MB/s of file", "MB/s of text", "load"], rows, opts.markdown))


if __name__ == "__main__":
    main()
