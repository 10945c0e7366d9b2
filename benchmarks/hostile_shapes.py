"""Two hostile shapes of a log, against the code they replaced, measured in the same run:
a copytruncate hole (MB of NULs before the lines) and a file of thousands of short runs (two
jobs writing one log: the step counter goes back at every other line).

Run: python benchmarks/hostile_shapes.py [--hole-mb 50] [--lines 40000]

- hole: CPU time of LineSplitter over the file in 4 MiB blocks (as --once reads it); baseline: the
  NULs deleted with bytes.replace, as before (translate now).
- runs: CPU time and traced bytes of Session.feed_block over the file; baseline: columns and chart
  envelopes allocated at their old sizes up front (1024 rows, 1024 buckets).
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.core import columns, envelope, lines
from monitor.core.report import Options
from monitor.session import Session

BLOCK = 4 << 20


def _split(data: bytes) -> float:
    splitter = lines.LineSplitter()
    start = time.process_time()
    for at in range(0, len(data), BLOCK):
        splitter.feed(data[at : at + BLOCK])
    return time.process_time() - start


def hole(mb: int) -> tuple[float, float]:
    data = bytes(mb << 20) + (ROOT / "sample_logs/recorded/compiled/run.log").read_bytes()
    after = _split(data)
    original = lines.LineSplitter._join

    def join_with_replace(self: lines.LineSplitter, chunk: bytes) -> bytes:
        return original(self, chunk.replace(b"\0", b""))  # the old deletion, then nothing left to translate

    lines.LineSplitter._join = join_with_replace  # type: ignore[method-assign]
    try:
        before = _split(data)
    finally:
        lines.LineSplitter._join = original  # type: ignore[method-assign]
    return before, after


def _runs(data: bytes) -> tuple[float, int]:
    session = Session(Options(source="two-jobs.log", fmt="nanogpt"), lambda: 0.0)
    tracemalloc.start()
    start = time.process_time()
    session.feed_block(data)
    seconds = time.process_time() - start
    held = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return seconds, held


def runs(n_lines: int) -> tuple[tuple[float, int], tuple[float, int], int]:
    data = b"".join(b"iter %d: loss 1.0, time 10.00ms, mfu 1.00%%\n" % (10 if i % 2 == 0 else 0)
                    for i in range(n_lines))
    after = _runs(data)
    old_init = columns.Column.__init__
    defaults = old_init.__defaults__
    first = envelope.FIRST_BUCKETS
    columns.Column.__init__.__defaults__ = (defaults[0], 1024)  # type: ignore[index]
    envelope.FIRST_BUCKETS = 2 * envelope.CAPACITY
    try:
        before = _runs(data)
    finally:
        columns.Column.__init__.__defaults__ = defaults
        envelope.FIRST_BUCKETS = first
    return before, after, n_lines // 2 + 1


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hole-mb", type=int, default=50)
    ap.add_argument("--lines", type=int, default=40_000)
    args = ap.parse_args()
    before, after = hole(args.hole_mb)
    print(f"hole of {args.hole_mb} MB of NULs: {after:.2f} s CPU (replace: {before:.2f} s) ratio {after / before:.2f}")
    (tb, mb), (ta, ma), n = runs(args.lines)
    print(f"{args.lines:,} lines, {n:,} runs: {ta:.2f} s CPU, {ma / 2**20:.0f} MiB traced "
          f"({ma / n / 1024:.1f} KiB a run); up front: {tb:.2f} s, {mb / 2**20:.0f} MiB ({mb / n / 1024:.1f} KiB a run); "
          f"ratios {ta / tb:.2f} time, {ma / mb:.2f} memory")


if __name__ == "__main__":
    main()
