"""The records `nanowatch replay` writes for every log in sample_logs/, as one digest per case, so
that two trees (a baseline revision and this one) can be checked byte for byte.

    python3 benchmarks/replay_records.py --root TREE --out digests.json   # one tree's records
    python3 benchmarks/replay_records.py --compare a.json b.json          # the cases that differ

Cases per log: `replay LOG --speed 0 --once --json` and `--jsonl` (a record after every line
that changes the run), paced by the printed step times; and the same two with `--times
run.times` (and `--gpu-log gpu.smi.csv` where the recording has one). The replay's clock is
fixed (the paced clock starts at it), so a tree gives the same bytes at every run.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: The fixed start of every replay's clock (epoch seconds).
START_T = 1_790_000_000.0
_NOT_LOGS = (".times", ".csv", ".json", ".md")


def logs(folder: Path) -> list[Path]:
    """Every log under `folder`: each file that is not a times file, a GPU trace, facts or notes."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.endswith(_NOT_LOGS))


def cases(folder: Path) -> list[list[str]]:
    """The command lines (after `replay`) to compare."""
    out = []
    for log in logs(folder):
        times = log.with_name("run.times")
        timed = [[]] + ([["--times", str(times)]] if log.name == "run.log" and times.is_file() else [])
        for extra in timed:
            gpu = log.with_name("gpu.smi.csv")
            gpu_args = ["--gpu-log", str(gpu)] if extra and gpu.is_file() else ["--no-gpu"]
            for mode in (["--once", "--json"], ["--jsonl"]):
                out.append([str(log), "--speed", "0", *extra, *gpu_args, *mode])
    return out


def digest(argv: list[str]) -> tuple[str, int]:
    """(sha256 of what `replay argv` writes to stdout and its exit code, with the fixed clock)."""
    from monitor import offline
    from monitor.alerting import finish_alerts
    from monitor.cli import build_parsers

    args = build_parsers()[1].parse_args(argv)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            code = offline.replay(args, clock=lambda: START_T, sleep=lambda s: None)
        finally:
            finish_alerts(args)
    return hashlib.sha256(out.getvalue().encode()).hexdigest(), code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="the tree whose monitor/ is imported")
    parser.add_argument("--logs", type=Path, default=ROOT / "sample_logs")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--compare", nargs=2, type=Path)
    parser.add_argument("--block-bytes", type=int, help="the replay's block (REPLAY_BLOCK_BYTES), where the tree has one")
    parser.add_argument("--once-only", action="store_true", help="the --once cases only")
    opts = parser.parse_args()
    if opts.compare:
        a, b = (json.loads(p.read_text()) for p in opts.compare)
        both = a.keys() & b.keys()  # (a run of --once-only has half the cases)
        differ = sorted(k for k in both if a[k] != b[k])
        print(f"{len(a)} / {len(b)} cases, {len(both)} in both; {len(differ)} differ")
        for k in differ:
            print("  ", k)
        sys.exit(1 if differ else 0)
    sys.path.insert(0, str(opts.root.resolve()))
    if opts.block_bytes is not None:
        import monitor.sources.replay

        monitor.sources.replay.REPLAY_BLOCK_BYTES = opts.block_bytes
    results = {}
    start = time.process_time()
    for argv in cases(opts.logs):
        if opts.once_only and "--once" not in argv:
            continue
        key = " ".join(a.replace(str(opts.logs) + "/", "") for a in argv)
        results[key] = digest(argv)
    print(f"{len(results)} cases from {opts.root} in {time.process_time() - start:.0f} s CPU", file=sys.stderr)
    opts.out.write_text(json.dumps(results, indent=0, sort_keys=True))


if __name__ == "__main__":
    main()
