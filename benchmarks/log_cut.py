"""A log truncated or rotated while it is read, over the bundled sample logs (heldout/ left out):
each log is cut at 20%, 50%, 90% and before its last line (nothing lost, or 3 lines lost as
copytruncate may lose them), the new file read in one batch; its record is compared with the
reading of the log never cut (the baseline, same run). A second scenario writes a new run into
the cut log: the log's own start-up lines, then its steps from the cut on (steps that happen to go
on): it must be read as a new run, never merged into the one that was cut.

Run: python benchmarks/log_cut.py
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.core.report import Options
from monitor.inbox import LinesRead, SourceFailed, SourceReset
from monitor.session import Session
from monitor.sources.replay import paced_times

SAMPLES = ROOT / "sample_logs"
#: what a cut must not change (run_index may: a cut before any step of the run begins one)
KEYS = ("iter", "max_iters", "max_iters_source", "status", "format", "loss", "val_loss", "tokens_per_iter")
FRACTIONS = (0.2, 0.5, 0.9)
STEP = re.compile(rb"^(iter \d+:|step[: ]\s*\d+|step\s+\d+/|s:\d+ )")


class Clock:
    """A fixed clock (epoch s) for the Session: the records are taken at an explicit time."""

    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def load(path: Path) -> tuple[list[bytes], list[float]]:
    lines = path.read_bytes().rstrip(b"\n").split(b"\n")
    times_path = path.with_name("run.times")
    if times_path.exists():
        times = [float(x) for x in times_path.read_text().split()][: len(lines)]
        if len(times) == len(lines):
            return lines, times
    return lines, paced_times(lines, 1.8e9)


def read(lines: list[bytes], times: list[float], parts: list[tuple[int, int]]) -> Session:
    s = Session(Options(source="run.log"), Clock(times[-1] + 1.0))
    for k, (a, b) in enumerate(parts):
        if k:
            s.ingest([SourceFailed("run.log was truncated"), SourceReset("truncated")])
        s.ingest([LinesRead([(times[i], lines[i]) for i in range(a, b)])])
    return s


def record(s: Session, end: float) -> dict[str, object]:
    r = s.snapshot(end).record()
    return {k: r[k] for k in KEYS}


def main() -> None:
    tally: Counter[str] = Counter()
    differs: Counter[str] = Counter()
    merged: list[str] = []
    logs = sorted(p for p in SAMPLES.rglob("*.log") if "heldout" not in p.parts)
    for path in logs:
        lines, times = load(path)
        n, end = len(lines), times[-1] + 1.0
        if n < 10:
            continue
        whole = read(lines, times, [(0, n)])
        want = record(whole, end)
        for c in sorted({int(n * f) for f in FRACTIONS} | {n - 1}):
            for lost in (0, 3):
                if lost and c + lost >= n:
                    continue  # nothing left to read after the cut
                s = read(lines, times, [(0, c), (c + lost, n)])
                tally["cuts"] += 1
                got = record(s, end)
                tally["same record" if got == want else "record differs"] += 1
                differs.update(k for k in KEYS if got[k] != want[k])
                tally["same run count" if s.run_count == whole.run_count else "run count differs"] += 1
        first = next((i for i, x in enumerate(lines) if STEP.match(x)), None)
        if not first or whole.run_count != 1 or whole.state.current.n_iters < 4:
            continue
        c = first + (n - first) // 2
        again = lines[:c] + lines[:first] + lines[c:]
        again_t = times[:c] + [times[c]] * first + times[c:]
        if read(again, again_t, [(0, len(again))]).run_count == 1:
            continue  # its start-up lines begin no run in a log never cut either (an excerpt, no header)
        s = read(again, again_t, [(0, c), (c, len(again))])
        tally["new runs written in"] += 1
        if s.run_count == 1:
            merged.append(str(path.relative_to(SAMPLES)))
    print(f"{len(logs)} logs; {tally['cuts']} cuts (20%, 50%, 90%, before the last line; 0 or 3 lines lost)")
    print(f"  record as the log never cut:   {tally['same record']:5d}   differs: {tally['record differs']}")
    print("    by value: " + ", ".join(f"{k} {v}" for k, v in differs.most_common()))
    print(f"  run count as the log never cut: {tally['same run count']:5d}   differs: {tally['run count differs']}"
          " (a cut before a run's first step or between runs may add one)")
    print(f"  new run (its header, then steps going on) written into the cut log: {tally['new runs written in']},"
          f" merged into the old run: {len(merged)}")
    for name in merged:
        print(f"    merged: {name}")


if __name__ == "__main__":
    main()
