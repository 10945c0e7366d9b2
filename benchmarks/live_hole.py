"""The live follower over a copytruncate'd log: the log emptied under a writer that keeps its
offset, which writes on there, leaving a hole of as many bytes as the log had.

    python3 benchmarks/live_hole.py [--hole-gib 1] [--rounds 2]

Each round, a Follower that has read the log's first lines sees the truncation and reads the
file again from its start: with the hole passed over (this tree) and, as the baseline in the
same run, with `Follower._skip_hole` made a no-op (every NUL of the hole read and handed over,
as before). Figures: CPU (process_time) and bytes read (os.pread) by that one `check()`; the lines read
must be the same.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from tables import render

from monitor.sources.tail import Follower


def line(i: int) -> bytes:
    return f"iter {i}: loss {5 - i / 10_000:.4f}, time 100.00ms, mfu 10.00%\n".encode()


def one(path: Path, hole_bytes: int, skip: bool) -> tuple[float, int, int]:
    """(CPU s, bytes read, lines) of the follower's read after the copytruncate."""
    path.write_bytes(b"".join(line(i) for i in range(3)))
    got: list[bytes] = []
    follower = Follower(str(path), lambda batch: got.extend(text for _, text in batch), lambda _: None, time.time)
    if not skip:
        follower._skip_hole = lambda fd: None  # type: ignore[method-assign]
    follower.check(at_start=True)
    with open(path, "r+b") as w:
        w.truncate(0)
        w.seek(hole_bytes)
        w.write(b"".join(line(i) for i in range(3, 103)))
    read = [0]
    pread = os.pread

    def counted(fd: int, n: int, pos: int) -> bytes:
        data = pread(fd, n, pos)
        read[0] += len(data)
        return data

    os.pread = counted
    try:
        start = time.process_time()
        follower.check()
        cpu = time.process_time() - start
    finally:
        os.pread = pread
    follower.stop()
    return cpu, read[0], len(got)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hole-gib", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--markdown", action="store_true")
    opts = parser.parse_args()
    hole = int(opts.hole_gib * (1 << 30)) // 4096 * 4096
    rows = []
    print(f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; a hole of {hole / (1 << 30):.2f} GiB", file=sys.stderr)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "run.log"
        for r in range(opts.rounds):
            got = {}
            for name, skip in (("hole passed over", True), ("baseline: read", False))[:: 1 if r % 2 == 0 else -1]:
                got[name] = one(path, hole, skip)
            lines = {n for _, _, n in got.values()}
            assert len(lines) == 1, got  # the same lines either way
            base = got["baseline: read"][0]
            for name, (cpu, n_bytes, n) in got.items():
                rows.append([str(r + 1), name, f"{1000 * cpu:,.1f} ms", f"{cpu / base:.5f}", f"{n_bytes:,}",
                             str(n), f"{os.getloadavg()[0]:.1f}"])
    print(render(["round", "follower", "CPU", "vs baseline", "bytes read", "lines", "load"], rows, opts.markdown))


if __name__ == "__main__":
    main()
