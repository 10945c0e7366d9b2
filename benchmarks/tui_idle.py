"""The TUI's footprint: idle CPU and RSS with a 1,000,000-line nanoGPT log loaded and GPU
sampling on, against a bare Textual app measured in the same run.

Run: python benchmarks/tui_idle.py [--lines N] [--idle-s S] [--gpu synthetic|nvml]
     python benchmarks/tui_idle.py --rates 1 10 1000 [--baseline REV] [--per-line] [--lines N]

Each program runs as its own process on a pseudo-terminal (120x40), the way a user starts it:
- bare: a Textual App showing one Static, nothing else (the floor any Textual app pays);
- nanowatch, small log: `nanowatch LOG` on the 578-line recorded H100 run;
- nanowatch, 1M lines: `nanowatch LOG` on a generated 1,000,000-line nanoGPT log.
GPU sampling: `--gpu nvml` uses the real NVML path (a machine with an NVIDIA driver);
`--gpu synthetic` (the default where NVML is missing) replaces open_source (as monitor.live calls it), in the
child process only, by a source that returns one fresh sample per GPU at every poll, so the
sampler thread, the messages and the GPU panel's redraws run as they would with NVML.
After the screen shows the last iteration, the process is left alone for --idle-s seconds;
CPU is utime+stime from /proc/PID/stat over that window, RSS is VmRSS (and VmHWM, the peak).
"""

from __future__ import annotations

import argparse
import fcntl
import os
import platform
import re
import select
import shutil
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from cold_open import write_log

SMALL_LOG = ROOT / "sample_logs" / "recorded" / "compiled" / "run.log"
TICK = os.sysconf("SC_CLK_TCK")

BARE_APP = """
from textual.app import App
from textual.widgets import Static
class Bare(App):
    def compose(self):
        yield Static("iter 0 / 0 ready")
Bare().run()
"""

# The child: `nanowatch LOG`, its GPU source swapped for a synthetic one that always has news.
NANOWATCH_SYNTHETIC = """
import math, sys, time
from monitor import live
from monitor.core.telemetry import GpuSample
class SyntheticGpu:
    status = None
    origin = "nvml"
    def poll(self, now):
        return [GpuSample(t=now, index=i, name="NVIDIA H100 80GB HBM3",
                          power_w=400 + 100 * math.sin(now + i), energy_j=None,
                          vram_used_bytes=int(30e9) + int(now * 1000) % 10**6, vram_total_bytes=int(85e9),
                          util_pct=90 + 10 * math.sin(now), temp_c=60.0, power_limit_w=700.0)
                for i in range(int(sys.argv[2]))]
    def close(self):
        pass
live.open_source = lambda **kwargs: SyntheticGpu()
from monitor.cli import main
sys.exit(main([sys.argv[1], "--gpu-interval", "1"]))
"""

NANOWATCH_NO_GPU = """
import sys
from monitor.cli import main
sys.exit(main([sys.argv[1], "--no-gpu"]))
"""

NANOWATCH_NVML = """
import sys
from monitor.cli import main
sys.exit(main([sys.argv[1], "--gpu-interval", "1"]))
"""


class Pty:
    """A child process on a pseudo-terminal whose output is read (and kept) as it comes."""

    def __init__(self, code: str, args: list[str], root: Path = ROOT) -> None:
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        path = os.pathsep.join(p for p in (str(root), os.environ.get("PYTHONPATH", "")) if p)
        env = {**os.environ, "TERM": "xterm-256color", "PYTHONPATH": path}
        self.proc = subprocess.Popen([sys.executable, "-c", code, *args], stdin=slave, stdout=slave,
                                     stderr=slave, env=env, start_new_session=True, cwd=root)
        os.close(slave)
        self.output = bytearray()
        self.started = time.monotonic()

    def pump(self, seconds: float) -> int:
        """Read for `seconds`; returns the bytes the program wrote meanwhile."""
        n, end = 0, time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            if select.select([self.master], [], [], min(left, 0.2))[0]:
                try:
                    chunk = os.read(self.master, 1 << 16)
                except OSError:
                    break
                self.output += chunk
                n += len(chunk)
        return n

    def wait_for(self, marker: bytes, timeout_s: float) -> float:
        """Seconds from the start until `marker` was on the screen."""
        while marker not in self.output:
            if time.monotonic() - self.started > timeout_s or self.proc.poll() is not None:
                raise RuntimeError(f"never saw {marker!r}: {bytes(self.output[-500:])!r}")
            self.pump(0.05)
        return time.monotonic() - self.started

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK

    def memory_mb(self) -> tuple[float, float]:
        status = dict(line.split(":", 1) for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines())
        return int(status["VmRSS"].split()[0]) / 1024, int(status["VmHWM"].split()[0]) / 1024

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)


def measure(name: str, code: str, args: list[str], ready: bytes, idle_s: float) -> dict[str, object]:
    child = Pty(code, args)
    try:
        ready_s = child.wait_for(ready, timeout_s=300)
        child.pump(3.0)  # let start-up work (charts, first GPU samples) settle
        cpu0, t0 = child.cpu_s(), time.monotonic()
        written = child.pump(idle_s)
        cpu1, t1 = child.cpu_s(), time.monotonic()
        rss, peak = child.memory_mb()
    finally:
        child.close()
    return {"name": name, "ready_s": ready_s, "cpu_pct": 100 * (cpu1 - cpu0) / (t1 - t0), "rss_mb": rss,
            "peak_mb": peak, "bytes_per_s": written / (t1 - t0)}


def measure_growth(log: Path, first_iter: int, rates: list[float], window_s: float,
                   root: Path = ROOT, per_line: bool = False) -> list[dict[str, object]]:
    """`nanowatch LOG --no-gpu` (the tree at `root`) on the loaded log while `iter` lines are
    appended at each rate (lines/s, written every 0.1 s; `per_line`: each line its own write,
    spread over the 0.1 s, as a training script's print() does) for `window_s`: the child's CPU
    over each window, the machine's load average at its end, and how long after the window the
    last line written was on screen. Also the open: start to the last iteration on screen, and
    the child's CPU then."""
    child = Pty(NANOWATCH_NO_GPU, [str(log)], root)
    it, out = first_iter, []
    try:
        open_s = child.wait_for(f"iter {first_iter - 1:,} /".encode(), timeout_s=900)
        open_cpu_s = child.cpu_s()
        child.pump(3.0)
        with open(log, "a") as f:
            for rate in rates:
                cpu0 = child.cpu_s()
                t0 = time.monotonic()
                due = 0.0
                while (now := time.monotonic()) - t0 < window_s:
                    due += rate * 0.1
                    lines = [f"iter {it + k}: loss 3.{(it + k) % 10}000, time 12.50ms, mfu 30.00%" for k in range(int(due))]
                    it += int(due)
                    due -= int(due)
                    if lines and per_line:
                        for k, line in enumerate(lines):
                            f.write(line + "\n")
                            f.flush()
                            if k % 10 == 9:  # keep to the pace within the slot
                                child.pump(0.0)
                                time.sleep(max(0.0, now + 0.1 * (k + 1) / len(lines) - time.monotonic()))
                    elif lines:
                        f.write("\n".join(lines) + "\n")
                        f.flush()
                    child.pump(max(0.0, 0.1 - (time.monotonic() - now)))
                cpu1, t1 = child.cpu_s(), time.monotonic()
                rss, peak = child.memory_mb()
                lag_s = child.wait_for(f"iter {it - 1:,} /".encode(), timeout_s=t1 - child.started + 60) - (
                    t1 - child.started)
                out.append({"rate": rate, "cpu_pct": 100 * (cpu1 - cpu0) / (t1 - t0), "rss_mb": rss, "peak_mb": peak,
                            "load": os.getloadavg()[0], "open_s": open_s, "open_cpu_s": open_cpu_s,
                            "lag_s": max(0.0, lag_s)})
    finally:
        child.close()
    return out


def tree_at(rev: str, into: Path) -> Path:
    """The repository's files at `rev` (git archive), to run as the baseline."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], check=True, capture_output=True).stdout
    into.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def big_log(path: Path, n_lines: int) -> int:
    """A nanoGPT log of about `n_lines` lines; returns its last iteration. Past 1,000,000 lines,
    write_log's 1,000,000-line log is repeated with its steps moved on (and max_iters set to
    the last step + 1): a 1 GB log in a minute, where write_log takes a quarter of an hour."""
    if n_lines <= 1_000_000:
        write_log(path, n_lines)
        with open(path, "rb") as f:
            return max(int(line.split()[1].rstrip(b":")) for line in f.read().splitlines()[-5:]
                       if line.startswith(b"iter "))
    unit = path.with_name("unit.log")
    write_log(unit, 1_000_000)
    lines = unit.read_bytes().split(b"\n")[:-1]
    unit.unlink()
    first = next(i for i, line in enumerate(lines) if line.startswith((b"step ", b"iter ")))
    body = b"\n".join(lines[first:]) + b"\n"
    span = max(int(line.split()[1].rstrip(b":")) for line in lines[-5:] if line.startswith(b"iter ")) + 1
    copies = max(1, round(n_lines / 1_000_000))
    step = re.compile(rb"^(iter|step) (\d+):", re.MULTILINE)
    with open(path, "wb") as f:
        f.write(b"\n".join(lines[:first]).replace(b"max_iters = 2000000", b"max_iters = %d" % (copies * span)) + b"\n")
        f.writelines(step.sub(lambda m, off=k * span: b"%s %d:" % (m[1], int(m[2]) + off), body) if k else body
                     for k in range(copies))
    return copies * span - 1


def growth(args: argparse.Namespace) -> None:
    """--rates: this tree (and --baseline REV's), one rate at a time, on fresh copies of one
    generated log; with a baseline the two alternate (each round starting with the other), so
    both see the same machine load."""
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        master = Path(tmp) / "master.log"
        last_iter = big_log(master, args.lines)
        size_mb = master.stat().st_size / 1e6
        trees = {"this tree": ROOT}
        if args.baseline:
            trees = {args.baseline: tree_at(args.baseline, Path(tmp) / "baseline"), **trees}
        rows: list[tuple[str, int, dict[str, object]]] = []
        for round_ in range(args.rounds):
            order = list(trees.items()) if round_ % 2 == 0 else list(trees.items())[::-1]
            for rate in args.rates:
                for name, root in order:
                    log = Path(tmp) / "train.log"
                    shutil.copyfile(master, log)
                    rows += [(name, round_ + 1, r) for r in measure_growth(log, last_iter + 1, [rate], args.idle_s, root,
                                                                          args.per_line)]
    print(f"TUI while the log grows · {args.lines:,}-line nanoGPT log ({size_mb:,.0f} MB) · 120x40 pty · "
          f"--no-gpu · {'a write a line' if args.per_line else 'a write every 0.1 s'} · {args.idle_s:g} s a rate · "
          f"{os.cpu_count()} cores")
    for name, round_, r in rows:
        ratio = ""
        if args.baseline and name != args.baseline:
            base = next(b for n, k, b in rows if n == args.baseline and k == round_ and b["rate"] == r["rate"])
            ratio = f"  {r['cpu_pct'] / max(base['cpu_pct'], 0.01):.2f}x the baseline"
        print(f"{name:>12} round {round_} {r['rate']:>6g} lines/s  CPU {r['cpu_pct']:6.2f}% of a core  "
              f"RSS {r['rss_mb']:.0f} MB (peak {r['peak_mb']:.0f} MB)  on screen {r['lag_s']:.2f} s after  "
              f"open {r['open_s']:.1f} s, {r['open_cpu_s']:.1f} s CPU  load {r['load']:.1f}{ratio}")


def nvml_works() -> bool:
    from monitor.sources.gpu import open_nvml

    source = open_nvml()
    source.close()
    return source.status is None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--idle-s", type=float, default=30.0)
    parser.add_argument("--gpus", type=int, default=1, help="synthetic GPUs")
    parser.add_argument("--gpu", choices=("synthetic", "nvml"), default=None)
    parser.add_argument("--rates", type=float, nargs="*", default=None,
                        help="instead: CPU while the 1M-line log grows at these lines/s (--no-gpu)")
    parser.add_argument("--baseline", metavar="REV", default=None,
                        help="with --rates: also the tree at this git revision, alternating with this one")
    parser.add_argument("--per-line", action="store_true", help="with --rates: a write() a line, not one every 0.1 s")
    parser.add_argument("--rounds", type=int, default=1, help="with --rates: rounds, the trees' order alternating")
    parser.add_argument("--tmp", default=None, help="with --rates: where the logs go (a 1 GB log needs 2 GB)")
    args = parser.parse_args()
    if args.rates:
        growth(args)
        return
    gpu = args.gpu or ("nvml" if nvml_works() else "synthetic")
    code = NANOWATCH_NVML if gpu == "nvml" else NANOWATCH_SYNTHETIC
    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / "train.log"
        write_log(big, args.lines)
        last_iter = max(int(line.split()[1].rstrip(":")) for line in big.read_text().splitlines()[-5:]
                        if line.startswith("iter "))
        runs = [
            measure("bare Textual app", BARE_APP, [], b"ready", args.idle_s),
            measure("nanowatch, 578-line log", code, [str(SMALL_LOG), str(args.gpus)], b"5,000 / 5,000", args.idle_s),
            measure(f"nanowatch, {args.lines:,}-line log", code, [str(big), str(args.gpus)],
                    f"iter {last_iter:,} /".encode(), args.idle_s),
        ]
    base = runs[0]
    print(f"TUI idle footprint · {platform.machine()} · {os.cpu_count()} cores · Python {platform.python_version()}"
          f" · GPU sampling: {gpu} ({args.gpus if gpu == 'synthetic' else 'all'} GPU, 1 s) · idle window {args.idle_s:g} s")
    print(f"{'program':<32} {'on screen':>10} {'idle CPU':>9} {'vs bare':>8} {'RSS':>9} {'peak RSS':>9} "
          f"{'vs bare':>8} {'tty out':>9}")
    for r in runs:
        print(f"{r['name']:<32} {r['ready_s']:>9.2f}s {r['cpu_pct']:>8.2f}% "
              f"{r['cpu_pct'] / max(base['cpu_pct'], 0.01):>7.1f}x {r['rss_mb']:>6.0f} MB {r['peak_mb']:>6.0f} MB "
              f"{r['rss_mb'] / base['rss_mb']:>7.2f}x {r['bytes_per_s']:>6.0f} B/s")


if __name__ == "__main__":
    main()
