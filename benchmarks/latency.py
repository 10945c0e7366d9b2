"""Latency from a line written to the log to a `nanowatch LOG --jsonl` record showing it.

A writer process appends nanoGPT step lines at a realistic rate and in bursts while
`nanowatch LOG --jsonl` follows the file, once with inotify (default) and once with `--poll`.
A line counts as shown when the first record with its iteration (or a later one) is read
from nanowatch's stdout. Prints median / p95 / max per case and ratios against inotify at
the realistic rate, measured in the same run.

Then, on a 1,000,000-line log: the time from starting `--jsonl` to its first record (the
whole file read) against `--once` on the same file, and the CPU the follower takes while
the log is quiet (one record a second), with inotify and with `--poll`; and the cost of
`--poll` in a directory crowded with other files, against watchdog's plain PollingObserver
(which stats every file of the directory at every scan).

    python benchmarks/latency.py [--markdown]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Writes the lines of the plan it is given on stdin; prints one write time per line.
WRITER = r"""
import json, os, sys, time
path, plan = sys.argv[1], json.loads(sys.stdin.read())
fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
stamps = []
for burst, pause_s in plan:
    for line in burst:
        stamps.append(time.time())
        os.write(fd, line.encode())
    time.sleep(pause_s)
os.close(fd)
print(json.dumps(stamps))
"""

CONFIG = "Overriding: max_iters = 1000000\nOverriding: log_interval = 1\n"


def iter_line(i: int) -> str:
    return f"iter {i}: loss {5 - i / 1e6:.4f}, time 100.00ms, mfu 10.00%\n"


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    lines_per_write: int
    pause_s: float
    writes: int

    @property
    def rate(self) -> float:
        return self.lines_per_write / self.pause_s


CASES = (
    Case("realistic (5 lines/s)", 1, 0.2, 50),
    Case("fast (50 lines/s)", 1, 0.02, 200),
    Case("burst (10,000 lines/s)", 100, 0.01, 200),
)


class RecordReader:
    """Reads nanowatch's records on a thread: (time read, iteration) of each."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.seen: list[tuple[float, int | None]] = []
        self._lock = threading.Lock()
        self._proc = proc
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            now = time.time()
            with self._lock:
                self.seen.append((now, json.loads(line)["iter"]))

    def newest_iter(self) -> int | None:
        with self._lock:
            return self.seen[-1][1] if self.seen else None

    def snapshot(self) -> list[tuple[float, int | None]]:
        with self._lock:
            return list(self.seen)


def measure(case: Case, poll: bool, workdir: Path) -> np.ndarray:
    log = workdir / f"{'poll' if poll else 'inotify'}-{case.rate:.0f}.log"
    log.write_text(CONFIG)
    cmd = [sys.executable, "-m", "monitor", str(log), "--jsonl", "--interval", "60", "--no-gpu"]
    proc = subprocess.Popen([*cmd, *(["--poll"] if poll else [])], stdout=subprocess.PIPE, text=True)
    reader = RecordReader(proc)
    deadline = time.monotonic() + 30
    while not reader.snapshot():
        if time.monotonic() > deadline:
            raise SystemExit("nanowatch wrote no first record")
        time.sleep(0.01)
    n = case.lines_per_write * case.writes
    plan = [[[iter_line(k * case.lines_per_write + j) for j in range(case.lines_per_write)], case.pause_s]
            for k in range(case.writes)]
    out = subprocess.run([sys.executable, "-c", WRITER, str(log)], input=json.dumps(plan),
                         capture_output=True, text=True, check=True).stdout
    written = np.array(json.loads(out))
    deadline = time.monotonic() + 30
    while reader.newest_iter() != n - 1:
        if time.monotonic() > deadline:
            raise SystemExit(f"nanowatch never showed iteration {n - 1}")
        time.sleep(0.01)
    proc.terminate()
    proc.wait(timeout=10)
    seen = [(t, i) for t, i in reader.snapshot() if i is not None]
    times = np.array([t for t, _ in seen])
    iters = np.array([i for _, i in seen])
    # A line is shown by the first record whose iteration is at least its own.
    first = np.searchsorted(np.maximum.accumulate(iters), np.arange(n), side="left")
    return (times[first] - written) * 1000.0


COLD_LINES = 1_000_000
IDLE_S = 10.0


def _first_record_s(cmd: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    proc.stdout.readline()
    elapsed = time.perf_counter() - start
    proc.terminate()
    proc.wait(timeout=10)
    return elapsed


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cold_and_idle(workdir: Path) -> list[tuple[str, str]]:
    log = workdir / "big.log"
    log.write_text(CONFIG + "".join(iter_line(i) for i in range(COLD_LINES)))
    base = [sys.executable, "-m", "monitor", str(log), "--no-gpu"]
    once, first = [], []
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run([*base, "--once"], stdout=subprocess.DEVNULL, check=True)
        once.append(time.perf_counter() - start)
        first.append(_first_record_s([*base, "--jsonl", "--interval", "60"]))
    out = [
        (f"--once, {COLD_LINES:,}-line log ({log.stat().st_size / 1e6:.0f} MB), process start to exit",
         f"{np.median(once):.2f} s (baseline)"),
        ("--jsonl, process start to first record (whole file read)",
         f"{np.median(first):.2f} s ({np.median(first) / np.median(once):.2f}x --once)"),
    ]
    for poll in (False, True):
        proc = subprocess.Popen([*base, "--jsonl", "--interval", "1", *(["--poll"] if poll else [])],
                                stdout=subprocess.PIPE, text=True)
        reader = RecordReader(proc)
        while not reader.snapshot():
            time.sleep(0.05)
        cpu0, t0 = _cpu_s(proc.pid), time.perf_counter()
        time.sleep(IDLE_S)
        share = (_cpu_s(proc.pid) - cpu0) / (time.perf_counter() - t0)
        proc.terminate()
        proc.wait(timeout=10)
        out.append((f"--jsonl idle CPU ({'--poll' if poll else 'inotify'}, a record a second, {IDLE_S:.0f} s)",
                    f"{share * 100:.1f}% of one core"))
    return out


CROWD_FILES = 2000


def _idle_share(start, stop, seconds: float = 5.0) -> float:
    start()
    time.sleep(0.5)
    cpu0, t0 = time.process_time(), time.perf_counter()
    time.sleep(seconds)
    share = (time.process_time() - cpu0) / (time.perf_counter() - t0)
    stop()
    return share


def crowded_poll(workdir: Path) -> list[tuple[str, str]]:
    from watchdog.events import FileSystemEventHandler
    from watchdog.observers.polling import PollingObserver

    from monitor.sources.tail import POLL_INTERVAL_S, Follower

    crowd = workdir / "crowd"
    crowd.mkdir()
    for k in range(CROWD_FILES):
        (crowd / f"ckpt_{k}.pt").write_bytes(b"x")
    log = crowd / "run.log"
    log.write_text(CONFIG)
    plain = PollingObserver(timeout=POLL_INTERVAL_S)
    plain.schedule(FileSystemEventHandler(), str(crowd), recursive=False)
    base = _idle_share(plain.start, plain.stop)
    follower = Follower(str(log), lambda batch: None, lambda message: None, time.time, poll=True)
    ours = _idle_share(follower.start, follower.stop)
    what = f"--poll, {CROWD_FILES:,} other files in the log's directory, idle CPU"
    return [(f"{what}: watchdog PollingObserver on the directory", f"{base * 100:.1f}% of one core (baseline)"),
            (f"{what}: Follower (stats the log only)", f"{ours * 100:.1f}% of one core ({ours / base:.2f}x)")]


#: Updates each session makes in a row before the other takes its turn (update_cost).
BLOCK = 50


def update_cost(histories: tuple[int, ...], updates: int = 300) -> list[tuple[float, float]]:
    """CPU time of what `--jsonl` does for each new line (Session.feed, then a snapshot and its
    JSON record) after a cold open of each of `histories` lines: (median ms, p95 ms) over
    `updates` lines each. The sessions take turns, BLOCK lines at a time, so other work on the
    machine weighs on each of them alike (line by line, each would evict the other's data
    from the CPU caches)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from monitor.core.report import Options
    from monitor.session import Session

    sessions = []
    for history in histories:
        now = [1.8e9]
        session = Session(Options(source="run.log"), clock=lambda now=now: now[0])
        session.feed_block((CONFIG + "".join(iter_line(i) for i in range(history))).encode(), None)
        session.snapshot().to_json()
        sessions.append((session, now, history, []))
    for block in range(0, updates, BLOCK):
        for session, now, history, costs in sessions:
            for k in range(block, min(block + BLOCK, updates)):
                now[0] += 0.1
                t0 = time.process_time()
                session.feed(iter_line(history + k).rstrip("\n").encode(), now[0])
                session.snapshot().to_json()
                costs.append(time.process_time() - t0)
    return [(float(np.median(costs)) * 1000, float(np.percentile(costs, 95)) * 1000) for *_, costs in sessions]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--markdown", action="store_true", help="print a Markdown table")
    ap.add_argument("--update-cost", action="store_true",
                    help="only: the CPU of one update with a 1M-line history against an empty one")
    args = ap.parse_args()
    if args.update_cost:
        small, big = update_cost((10, 1_000_000))
        print(f"one --jsonl update (feed + snapshot + JSON), CPU ms, median / p95 of 300, load "
              f"{os.getloadavg()[0]:.1f}: 10-line history {small[0]:.2f} / {small[1]:.2f}; "
              f"1,000,000-line history {big[0]:.2f} / {big[1]:.2f}; ratio of medians {big[0] / small[0]:.2f}")
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for case in CASES:
            for poll in (False, True):
                ms = measure(case, poll, Path(tmp))
                rows.append((case.name, "poll" if poll else "inotify", len(ms), *np.percentile(ms, [50, 95]), ms.max()))
        extra = cold_and_idle(Path(tmp)) + crowded_poll(Path(tmp))
    base = rows[0][3]
    header = ("case", "observer", "lines", "median ms", "p95 ms", "max ms", "median / inotify realistic")
    table = [(name, mode, str(n), f"{p50:.1f}", f"{p95:.1f}", f"{mx:.1f}", f"{p50 / base:.2f}")
             for name, mode, n, p50, p95, mx in rows]
    if args.markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for row in table:
            print("| " + " | ".join(row) + " |")
    else:
        widths = [max(len(h), *(len(r[i]) for r in table)) for i, h in enumerate(header)]
        print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
        for row in table:
            print("  ".join(c.ljust(w) for c, w in zip(row, widths)))
    print()
    if args.markdown:
        print("| measure | value |\n|---|---|")
        for what, value in extra:
            print(f"| {what} | {value} |")
    else:
        for what, value in extra:
            print(f"{what}: {value}")
    print(f"\ncpus: {os.cpu_count()}, python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
