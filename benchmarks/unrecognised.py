"""Cold open of logs no family recognises (random bytes, an application's timestamped log, plain
text), and of the same with a family line at the very end: skimmed in bulk against the line-by-
line detection it replaced, measured in the same run.

Run: python benchmarks/unrecognised.py [--mb 30] [--repeat 1]

Each figure is the CPU time of `Session.feed_block` over the whole file (read in 4 MiB blocks,
as `--once` reads it) to a complete snapshot; the baseline is the same session with skimming
turned off (every line through segments, prefix strip, the five sniffs and the error reader).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.core.formats import AutoParser
from monitor.core.report import Options
from monitor.session import Session

WORDS = ["the", "of", "model", "data", "time", "run", "batch", "gpu", "memory", "rank", "node", "worker", "cache",
         "request", "served", "user", "ok", "connection", "pool", "retry", "latency", "queue", "shard"]
FAMILY_LINE = b"iter 0: loss 4.2, time 100.00ms, mfu 1.00%\n"


def random_bytes(n: int, rng: random.Random) -> bytes:
    return rng.randbytes(n)


def app_log(n: int, rng: random.Random) -> bytes:
    lines, size, i = [], 0, 0
    while size < n:
        line = (f"2024-05-02 14:{i // 60 % 60:02d}:{i % 60:02d},{i % 1000:03d} INFO server - "
                + " ".join(rng.choice(WORDS) for _ in range(12)) + "\n").encode()
        lines.append(line)
        size += len(line)
        i += 1
    return b"".join(lines)


def plain_text(n: int, rng: random.Random) -> bytes:
    lines, size = [], 0
    while size < n:
        line = (" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 20))) + "\n").encode()
        lines.append(line)
        size += len(line)
    return b"".join(lines)


def cold_open(data: bytes, skim: bool) -> tuple[float, str | None, int]:
    """CPU seconds to read `data` in 4 MiB blocks of whole lines and take a snapshot."""
    saved = AutoParser.skimming
    if not skim:
        AutoParser.skimming = property(lambda self: False)  # type: ignore[method-assign, assignment]
    try:
        session = Session(Options(source="bench.log"), clock=lambda: 0.0)
        start = time.process_time()
        at = 0
        while at < len(data):
            cut = data.find(b"\n", at + (4 << 20)) + 1 or len(data)
            session.feed_block(data[at:cut], None)
            at = cut
        snap = session.snapshot(now=0.0)
        return time.process_time() - start, snap.format, session.state.lines
    finally:
        AutoParser.skimming = saved  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=float, default=30.0)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    n = int(args.mb * (1 << 20))
    rng = random.Random(1)
    cases = [("random bytes", random_bytes(n, rng)), ("timestamped app log", app_log(n, rng)),
             ("plain text", plain_text(n, rng))]
    cases.append(("random bytes, then a nanoGPT line", cases[0][1] + b"\n" + FAMILY_LINE))
    print(f"{'log':36} {'MB':>6} {'lines':>9} {'skimmed s':>10} {'line by line s':>15} {'ratio':>6} {'us/line':>8} format")
    for name, data in cases:
        best_skim = best_line = float("inf")
        for _ in range(args.repeat):
            s_skim, fmt, lines = cold_open(data, skim=True)
            s_line, fmt_line, lines_line = cold_open(data, skim=False)
            assert (fmt, lines) == (fmt_line, lines_line), "the two paths disagree"
            best_skim, best_line = min(best_skim, s_skim), min(best_line, s_line)
        print(f"{name:36} {len(data) / 2**20:6.1f} {lines:9,d} {best_skim:10.2f} {best_line:15.2f} "
              f"{best_skim / best_line:6.2f} {1e6 * best_skim / max(lines, 1):8.1f} {fmt}")


if __name__ == "__main__":
    main()
