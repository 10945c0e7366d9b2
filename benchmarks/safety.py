"""What hostile inputs cost: memory for a huge `--gpu-log` and a huge `--gpu-source` page, and
the time `--once` and `--jsonl` take to end with an endpoint that never finishes its answer.

Every figure is a real `python -m monitor` process (peak RSS from wait4), with a baseline
measured in the same run:
- the GPU log: nanowatch streaming it, against the same CSV loaded whole as before (every
  row parsed into a list of samples, then handed out);
- the huge page: nanowatch against a plain `urllib` read of the same page (what an uncapped
  client holds) and against `--once` with no GPU source at all;
- the dripping endpoint: `--once` end to end, and `--jsonl` from Ctrl-C to exit, against the
  same commands with --no-gpu.

    python benchmarks/safety.py [--csv-mb 162] [--page-mb 200]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from badserver import BadServer

ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
#: `--once --gpu-log` as it was: every row parsed into a list of samples first.
LOAD_WHOLE = """
import sys
from monitor import cli
from monitor.sources import gpu, gpulog
from monitor.sources.smicsv import parse_gpu_csv

def whole(path, gpus=None):
    with open(path, newline="") as f:
        return gpulog.CsvSource(parse_gpu_csv(f)[0], gpus)

gpu.open_gpu_log = whole
sys.exit(cli.main(sys.argv[1:]))
"""
READ_ALL = "import sys, urllib.request; print(len(urllib.request.urlopen(sys.argv[1]).read()))"


def peak_rss_mib(cmd: list[str], timeout_s: float = 900.0) -> tuple[float, float, str]:
    """(peak RSS in MiB, wall seconds, stdout) of one process."""
    start = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, _, usage = os.wait4(proc.pid, 0)
    proc.returncode = 0
    return usage.ru_maxrss / 1024, time.monotonic() - start, out


def write_csv(path: Path, target_mb: float) -> int:
    header = ("timestamp, index, name, power.draw [W], memory.used [MiB], memory.total [MiB], "
              "utilization.gpu [%], temperature.gpu\n")
    rows = 0
    with open(path, "w") as f:
        f.write(header)
        t = 0
        while f.tell() < target_mb * 1e6:
            stamp = f"2025/01/01 {10 + t // 3600 % 12:02d}:{t // 60 % 60:02d}:{t % 60:02d}.{rows % 1000:03d}"
            f.write("".join(f"{stamp}, {g}, NVIDIA H100 80GB HBM3, {400 + g}.12 W, {30000 + g} MiB, 81559 MiB, "
                            f"97 %, 61\n" for g in range(8)))
            rows += 8
            t += 1
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--csv-mb", type=float, default=162.0)
    ap.add_argument("--page-mb", type=float, default=200.0)
    args = ap.parse_args()
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "run.log"
        log.write_text("".join(f"iter {i}: loss 4.0000, time 100.00ms, mfu 10.00%\n" for i in range(0, 1000, 10)))
        csv = Path(tmp) / "gpu.csv"
        rows = write_csv(csv, args.csv_mb)
        size_mb = csv.stat().st_size / 1e6
        print(f"## --gpu-log of {size_mb:.0f} MB ({rows:,} rows, 8 GPUs)")
        streamed, t_s, _ = peak_rss_mib([py, "-m", "monitor", str(log), "--once", "--gpu-log", str(csv)])
        whole, t_w, _ = peak_rss_mib([py, "-c", LOAD_WHOLE, str(log), "--once", "--gpu-log", str(csv)])
        bare, _, _ = peak_rss_mib([py, "-m", "monitor", str(log), "--once", "--no-gpu"])
        print(f"nanowatch --once --gpu-log (streamed): {streamed:7.0f} MiB peak RSS, {t_s:5.1f} s")
        print(f"the same, the CSV loaded whole first:  {whole:7.0f} MiB peak RSS, {t_w:5.1f} s")
        print(f"nanowatch --once --no-gpu:             {bare:7.0f} MiB peak RSS")
        print(f"ratio streamed / whole: {streamed / whole:.2f}; above --no-gpu: {streamed - bare:.0f} MiB")

        print(f"\n## --gpu-source page of {args.page_mb:.0f} MB")
        huge = BadServer("huge", huge_bytes=int(args.page_mb * 2**20))
        try:
            capped, t_c, out = peak_rss_mib([py, "-m", "monitor", str(log), "--once", "--gpu-source", huge.url])
            said = next((line.strip() for line in out.splitlines() if "cap" in line), "?")
            huge.sent_bytes = 0
            plain, t_p, _ = peak_rss_mib([py, "-c", READ_ALL, huge.url])
        finally:
            huge.close()
        print(f"nanowatch --once --gpu-source (4 MiB cap): {capped:7.0f} MiB peak RSS, {t_c:5.1f} s")
        print(f"    it says: {said}")
        print(f"urllib read of the whole page:            {plain:7.0f} MiB peak RSS, {t_p:5.1f} s")
        print(f"ratio capped / whole read: {capped / plain:.2f}; above --no-gpu: {capped - bare:.0f} MiB")

        print("\n## An endpoint that sends headers, then a byte every 0.2 s, for ever")
        drip = BadServer("drip-body")
        try:
            _, t_once, _ = peak_rss_mib([py, "-m", "monitor", str(log), "--once", "--gpu-source", drip.url])
            _, t_once_bare, _ = peak_rss_mib([py, "-m", "monitor", str(log), "--once", "--no-gpu"])
            quit_s = quit_time([py, "-m", "monitor", str(log), "--jsonl", "--gpu-source", drip.url])
            quit_bare = quit_time([py, "-m", "monitor", str(log), "--jsonl", "--no-gpu"])
        finally:
            drip.close()
        print(f"--once: {t_once:.1f} s (deadline 5 s); --once --no-gpu: {t_once_bare:.1f} s")
        print(f"--jsonl, Ctrl-C to exit while a request hangs: {quit_s * 1000:.0f} ms; with --no-gpu: "
              f"{quit_bare * 1000:.0f} ms")


def quit_time(cmd: list[str]) -> float:
    proc = subprocess.Popen(cmd, cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    proc.stdout.readline()
    time.sleep(1.0)  # the sampler is inside its request now
    start = time.monotonic()
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=60)
    return time.monotonic() - start


if __name__ == "__main__":
    main()
