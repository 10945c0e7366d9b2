"""Cold open: a 1,000,000-line nanoGPT log to the complete `--once --json` record.

Run: python benchmarks/cold_open.py [--lines N] [--repeat R]

Generates a nanoGPT log in a temporary directory (the header of a recorded H100 run, then
`iter` lines with an eval and a checkpoint every 2000 steps, as train.py prints them) and
times, in the same run:
- nanowatch in-process: `cli.main([LOG, "--once", "--json", "--no-gpu"])`, end to end;
- nanowatch as a subprocess (interpreter start and imports included);
- the baseline: a plain per-line regex loop over the same file that collects
  (iter, loss, time, mfu) into Python lists, nothing else.
Memory: peak RSS of a fresh process that loads the log into a Session and holds it (the
/proc high-water mark; getrusage's ru_maxrss where there is no /proc), next to the same
process's peak after its imports; and the peak RSS of `--once --json --no-gpu` itself, in a
fresh process, on the same log and on one of --memory-lines lines (10,000,000: memory must
not grow with the log), against that process's own RSS before it reads the log.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor import cli

HEADER_SOURCE = ROOT / "sample_logs" / "recorded" / "compiled" / "run.log"
EVAL_INTERVAL = 2000

#: The per-line regex loop the issue names as the baseline (nanoGPT's iter line).
_BASELINE = re.compile(r"iter (\d+): loss ([-+\d.naif]+), time ([-+\d.naif]+)ms(?:, mfu ([-+\d.naif]+)%)?")

#: Logs where every `iter` line is followed by another line: one that carries no event for
#: nanowatch, and one that does (a Python warning becomes a note).
NOISY = (
    ("a silent print after every step", "grad norm 0.8125 | tokens/s 1302841"),
    ("a warning (an event) after every step", "/w/train.py:301: UserWarning: grad clipped"),
)

#: The child scripts' peak-RSS reader. Linux keeps ru_maxrss across exec (a child would report
#: the benchmark's own peak), so the peak comes from /proc: VmHWM is this process image's
#: high-water mark.
_STATUS_KIB = """
def status_kib(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
"""

_HOLD = """
import resource, sys
sys.path.insert(0, {root!r})
from monitor.cli import main  # the same imports as a cold open
from monitor.sources.logfile import read_blocks
from monitor.core.report import Options
from monitor.session import Session

{status_kib}

before = status_kib("VmHWM")
session = Session(Options(source={log!r}), clock=lambda: 0.0)
for block in read_blocks({log!r}):
    session.feed_block(block)
session.snapshot(charts=True)
print(before, status_kib("VmHWM"), status_kib("VmRSS"), session.state.current.n_iters)
"""


def write_log(path: Path, n_lines: int, seed: int = 0, after_each: str | None = None) -> int:
    """A nanoGPT log of exactly `n_lines` lines; returns the number of `iter` lines.
    `after_each`: a line printed after every `iter` line (a training script's own print).
    Written as it is made (a 10M-line log is 0.5 GB), the same file for the same arguments."""
    rng = random.Random(seed)
    header = HEADER_SOURCE.read_text().split("step 0:")[0]
    header = header.replace("max_iters = 5000", "max_iters = 2000000").replace("log_interval = 10", "log_interval = 1")
    lines = header.splitlines()[:n_lines]
    written, n_iter, it = 0, 0, 0
    loss = 4.3
    with open(path, "w") as f:
        while len(lines) < n_lines:
            if it % EVAL_INTERVAL == 0:
                lines.append(f"step {it}: train loss {loss:.4f}, val loss {loss + 0.05:.4f}")
                if it:
                    lines.append("saving checkpoint to out")
            loss = max(0.8, loss - 2e-6 + rng.gauss(0, 0.01))
            dt_ms = 36260.58 if it == 0 else rng.gauss(12.5, 0.6) + (2500.0 if it % EVAL_INTERVAL == 0 else 0.0)
            mfu = -100.0 if it < 5 else rng.uniform(27.0, 31.0)
            lines.append(f"iter {it}: loss {loss:.4f}, time {dt_ms:.2f}ms, mfu {mfu:.2f}%")
            if after_each is not None:
                lines.append(after_each)
            it += 1
            if len(lines) >= 65536 or written + len(lines) >= n_lines:
                lines = lines[: n_lines - written]
                n_iter += sum(1 for line in lines if line.startswith("iter "))
                f.write("\n".join(lines) + "\n")
                written += len(lines)
                lines = []
                if written >= n_lines:
                    break
        if lines:  # a log shorter than the header
            f.write("\n".join(lines) + "\n")
    return n_iter


def baseline(path: Path) -> int:
    iters: list[int] = []
    losses: list[float] = []
    times: list[float] = []
    mfus: list[float] = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            m = _BASELINE.match(line)
            if m is not None:
                iters.append(int(m.group(1)))
                losses.append(float(m.group(2)))
                times.append(float(m.group(3)))
                mfus.append(float(m.group(4)) if m.group(4) else float("nan"))
    return len(iters)


def in_process(path: Path) -> dict:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli.main([str(path), "--once", "--json", "--no-gpu"])
    assert code == 0, code
    return json.loads(out.getvalue())


def as_subprocess(path: Path) -> dict:
    done = subprocess.run([sys.executable, "-m", "monitor", str(path), "--once", "--json", "--no-gpu"],
                          capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(done.stdout)


def timed(fn, *args, repeat: int) -> tuple[float, object]:
    """Best of `repeat` wall times (the least disturbed by other work on the machine)."""
    best, result = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn(*args)
        best = min(best, time.perf_counter() - t0)
    return best, result


_ONCE = """
import contextlib, io, resource, sys
sys.path.insert(0, {root!r})
from monitor import cli

{status_kib}

before = status_kib("VmHWM")
out = io.StringIO()
with contextlib.redirect_stdout(out):
    code = cli.main([{log!r}, "--once", "--json", "--no-gpu"])
print(code, before, status_kib("VmHWM"), out.getvalue().strip())
"""


def once_rss_kib(path: Path) -> tuple[int, int, dict]:
    """(RSS before reading the log, peak RSS, the record) of `--once --json --no-gpu` in a
    fresh process (the CLI's imports are loaded before the first figure)."""
    code = _ONCE.format(root=str(ROOT), log=str(path), status_kib=_STATUS_KIB)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    status, before, peak, record = done.stdout.split(" ", 3)
    assert status == "0", done.stdout
    return int(before), int(peak), json.loads(record)


def hold_rss_kib(path: Path) -> tuple[int, int, int, int]:
    """(peak RSS after imports, peak RSS, RSS while holding the state, iterations held)."""
    code = _HOLD.format(root=str(ROOT), log=str(path), status_kib=_STATUS_KIB)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    before, peak, held_rss, n = (int(x) for x in done.stdout.split())
    return before, peak, held_rss, n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--noisy", action="store_true", help="also logs with a line after every step")
    ap.add_argument("--memory-lines", type=int, default=10_000_000,
                    help="peak RSS of --once --json on a log this long too (0: skip)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "train.log"
        n_iter = write_log(log, args.lines)
        size_mb = log.stat().st_size / 1e6
        t_base, n_base = timed(baseline, log, repeat=args.repeat)
        t_in, record = timed(in_process, log, repeat=args.repeat)
        t_sub, record_sub = timed(as_subprocess, log, repeat=args.repeat)
        before_kib, peak_kib, held_kib, held = hold_rss_kib(log)
        once_before_kib, once_peak_kib, _ = once_rss_kib(log)
        long_rows = []
        if args.memory_lines:
            long_log = Path(tmp) / "long.log"
            long_iters = write_log(long_log, args.memory_lines)
            log.unlink()  # the disk holds one long log at a time
            long_before_kib, long_peak_kib, long_record = once_rss_kib(long_log)
            assert long_record["iter"] == long_iters - 1, (long_record["iter"], long_iters)
            long_rows.append((f"{args.memory_lines:,} lines", long_before_kib, long_peak_kib))
        noisy_rows = []
        for name, extra in NOISY if args.noisy else ():
            noisy_log = Path(tmp) / "noisy.log"
            noisy_iters = write_log(noisy_log, args.lines, after_each=extra)
            t_noisy_base, _ = timed(baseline, noisy_log, repeat=args.repeat)
            t_noisy, rec = timed(in_process, noisy_log, repeat=args.repeat)
            assert rec["iter"] == noisy_iters - 1, (rec["iter"], noisy_iters)
            noisy_rows.append((name, t_noisy, t_noisy_base))
    assert n_base == n_iter, (n_base, n_iter)
    assert held == n_iter, (held, n_iter)
    assert record["iter"] == record_sub["iter"] == n_iter - 1, (record["iter"], n_iter)
    print(f"cold open: {args.lines:,} lines ({n_iter:,} iter lines, {size_mb:.1f} MB), best of {args.repeat}, "
          f"Python {sys.version.split()[0]}")
    print()
    print(f"{'measure':<44} {'value':>12} {'vs baseline':>12}")
    rows = [
        ("baseline: per-line regex loop (s)", t_base, 1.0),
        ("nanowatch --once --json, in-process (s)", t_in, t_in / t_base),
        ("nanowatch --once --json, subprocess (s)", t_sub, t_sub / t_base),
    ]
    for name, value, ratio in rows:
        print(f"{name:<44} {value:>12.3f} {ratio:>11.2f}x")
    print(f"{'parse throughput, in-process (lines/s)':<44} {args.lines / t_in:>12,.0f} {t_base / t_in:>11.2f}x")
    print(f"{'baseline throughput (lines/s)':<44} {args.lines / t_base:>12,.0f} {1.0:>11.2f}x")
    print(f"{'RSS after imports (MB)':<44} {before_kib / 1024:>12.1f}")
    print(f"{'peak RSS, loading and holding the state (MB)':<44} {peak_kib / 1024:>12.1f}")
    print(f"{'RSS while holding the loaded state (MB)':<44} {held_kib / 1024:>12.1f}")
    print()
    print(f"{'peak RSS of --once --json --no-gpu (MiB)':<44} {'before log':>12} {'peak':>12} {'vs 1M':>12}")
    print(f"{f'  {args.lines:,} lines':<44} {once_before_kib / 1024:>12.1f} {once_peak_kib / 1024:>12.1f} {1.0:>11.2f}x")
    for name, long_before, long_peak in long_rows:
        print(f"{'  ' + name:<44} {long_before / 1024:>12.1f} {long_peak / 1024:>12.1f} "
              f"{long_peak / once_peak_kib:>11.2f}x")
    for name, t_noisy, t_noisy_base in noisy_rows:
        print(f"{('  ' + name + ' (s)'):<44} {t_noisy:>12.3f} {t_noisy / t_noisy_base:>11.2f}x"
              f"  (its baseline {t_noisy_base:.3f} s)")
    print()
    print(f"targets: cold open <= 1 s ({'met' if t_sub <= 1.0 else 'NOT met'} as a subprocess, "
          f"{'met' if t_in <= 1.0 else 'NOT met'} in-process); peak RSS <= 120 MB "
          f"({'met' if peak_kib / 1024 <= 120 else 'NOT met'})"
          + "".join(f"; {name}: peak RSS <= 200 MiB ({'met' if peak / 1024 <= 200 else 'NOT met'})"
                    for name, _, peak in long_rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
