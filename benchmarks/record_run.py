"""Record a real training run as ground truth: its log, the arrival time of every line, and every GPU.

    python benchmarks/record_run.py --out DIR --description TEXT [--timeout S [--signal TERM]] [--meta-from KEY=FILE] -- CMD ARGS...

Launches CMD (in its own process group, PYTHONUNBUFFERED=1, stdout and stderr merged into one pipe) and writes
into DIR:

- run.log: the child's output exactly as written (bytes unchanged);
- run.times: one epoch-seconds float per line of run.log, the time that line's newline arrived (a last line
  without a newline gets the time the output ended);
- gpu.nvml.csv: every GPU sampled through NVML every --interval seconds (0.2) by a thread, one row per GPU per
  sample: t, index, name, power_mw (nvmlDeviceGetPowerUsage: a 1 s average on Ampere and newer), energy_mj
  (nvmlDeviceGetTotalEnergyConsumption), mem_used_b/mem_total_b (nvmlDeviceGetMemoryInfo v1: the driver's
  reserved memory included), util_gpu, util_mem, temp_c, sm_clock_mhz, power_instant_mw (field value
  NVML_FI_DEV_POWER_INSTANT, empty where unsupported), nprocs and pids (the compute processes on that GPU,
  nvmlDeviceGetComputeRunningProcesses, ';'-joined), query_ms (how long that GPU's queries took);
- gpu.smi.csv: the same samples in the layout of `nvidia-smi --query-gpu=timestamp,index,name,power.draw,
  memory.used,memory.total,utilization.gpu,temperature.gpu --format=csv` (timestamps UTC);
- meta.json: the description, the exact command, GPU names and driver, torch version, the child's PID and every
  process seen in its process tree (PID, parent, command line, first and last seen), process start and end
  epoch, exit code, and what each file holds. --meta-from KEY=FILE merges a JSON file another program wrote
  (read when the child has ended) into meta.json under KEY; --note adds a line to meta.json's notes.

--timeout S sends SIGINT to the child's process group S seconds after the start (as Ctrl-C would; --signal TERM
sends SIGTERM instead, as `kill` or a batch scheduler would), then SIGKILL 30 s later if it is still alive. Without NVML (no driver, no pynvml) the GPU files hold their headers only and
meta.json says why; --fake-gpus N samples N made-up GPUs instead, for a dry run of this script on a machine
without one.

    python benchmarks/record_run.py --smi-from-nvml DIR

writes DIR/gpu.smi.csv from DIR/gpu.nvml.csv, for the recordings stored without it (`nanowatch --gpu-log` reads
that layout).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

NVML_COLUMNS = ["t", "index", "name", "power_mw", "energy_mj", "mem_used_b", "mem_total_b", "util_gpu", "util_mem",
                "temp_c", "sm_clock_mhz", "power_instant_mw", "nprocs", "pids", "query_ms"]
SMI_HEADER = ("timestamp, index, name, power.draw [W], memory.used [MiB], memory.total [MiB], "
              "utilization.gpu [%], temperature.gpu")
NVML_FI_DEV_POWER_INSTANT = 186


def smi_row(t: float, index: int, name: str, s: dict) -> str:
    """One sample as a line of SMI_HEADER's CSV (nvidia-smi's units; None is printed as [N/A])."""
    stamp = datetime.fromtimestamp(t, timezone.utc).strftime("%Y/%m/%d %H:%M:%S.%f")[:-3]
    pw = "[N/A]" if s["power_mw"] is None else f"{s['power_mw'] / 1000:.2f} W"
    mu = "[N/A]" if s["mem_used_b"] is None else f"{s['mem_used_b'] >> 20} MiB"
    mt = "[N/A]" if s["mem_total_b"] is None else f"{s['mem_total_b'] >> 20} MiB"
    ut = "[N/A]" if s["util_gpu"] is None else f"{s['util_gpu']} %"
    return f"{stamp}, {index}, {name}, {pw}, {mu}, {mt}, {ut}, {s['temp_c']}\n"


def smi_from_nvml(folder: Path) -> Path:
    """Write folder/gpu.smi.csv from folder/gpu.nvml.csv (for recordings stored without it); returns its path."""
    out = folder / "gpu.smi.csv"
    with open(folder / "gpu.nvml.csv", newline="") as f, open(out, "w") as w:
        w.write(SMI_HEADER + "\n")
        for row in csv.DictReader(f):
            s = {k: (int(row[k]) if row[k] else None) for k in ("power_mw", "mem_used_b", "mem_total_b", "util_gpu")}
            s["temp_c"] = row["temp_c"]
            w.write(smi_row(float(row["t"]), int(row["index"]), row["name"], s))
    return out


class Nvml:
    """The NVML queries this recorder makes, through pynvml (nvidia-ml-py)."""

    def __init__(self) -> None:
        import pynvml
        self.n = pynvml
        pynvml.nvmlInit()
        self.handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
        self.names = [self._str(pynvml.nvmlDeviceGetName(h)) for h in self.handles]

    @staticmethod
    def _str(v: object) -> str:
        return v.decode() if isinstance(v, bytes) else str(v)

    def driver(self) -> str:
        return self._str(self.n.nvmlSystemGetDriverVersion())

    def power_limits_w(self) -> list[float | None]:
        out: list[float | None] = []
        for h in self.handles:
            try:
                out.append(self.n.nvmlDeviceGetEnforcedPowerLimit(h) / 1000)
            except self.n.NVMLError:
                out.append(None)
        return out

    def sample(self, i: int) -> dict:
        n, h = self.n, self.handles[i]

        def q(f, *a):
            try:
                return f(h, *a)
            except n.NVMLError:
                return None

        mem = q(n.nvmlDeviceGetMemoryInfo)
        util = q(n.nvmlDeviceGetUtilizationRates)
        procs = q(n.nvmlDeviceGetComputeRunningProcesses) or []
        inst = None
        try:
            fv = n.nvmlDeviceGetFieldValues(h, [NVML_FI_DEV_POWER_INSTANT])[0]
            if fv.nvmlReturn == 0:
                inst = fv.value.uiVal
        except n.NVMLError:
            inst = None
        return {"power_mw": q(n.nvmlDeviceGetPowerUsage), "energy_mj": q(n.nvmlDeviceGetTotalEnergyConsumption),
                "mem_used_b": mem.used if mem else None, "mem_total_b": mem.total if mem else None,
                "util_gpu": util.gpu if util else None, "util_mem": util.memory if util else None,
                "temp_c": q(n.nvmlDeviceGetTemperature, n.NVML_TEMPERATURE_GPU),
                "sm_clock_mhz": q(n.nvmlDeviceGetClockInfo, n.NVML_CLOCK_SM), "power_instant_mw": inst,
                "nprocs": len(procs), "pids": ";".join(str(p.pid) for p in procs)}


class FakeNvml:
    """Made-up GPUs for a dry run: power rises while any child process is alive, the counter integrates it."""

    def __init__(self, count: int) -> None:
        self.names = [f"Fake GPU {i}" for i in range(count)]
        self.handles = list(range(count))
        self.energy = [0.0] * count
        self.last = [time.time()] * count

    def driver(self) -> str:
        return "fake"

    def power_limits_w(self) -> list[float | None]:
        return [700.0] * len(self.handles)

    def sample(self, i: int) -> dict:
        now = time.time()
        p = 75000 + 100000 * i
        self.energy[i] += p * (now - self.last[i])
        self.last[i] = now
        return {"power_mw": p, "energy_mj": int(self.energy[i]), "mem_used_b": 512 << 20, "mem_total_b": 80 << 30,
                "util_gpu": 0, "util_mem": 0, "temp_c": 30, "sm_clock_mhz": 345, "power_instant_mw": p,
                "nprocs": 0, "pids": ""}


def process_tree(root: int) -> dict[int, tuple[int, str]]:
    """{pid: (ppid, command line)} of root and its descendants, read from /proc."""
    parents: dict[int, tuple[int, str]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
            ppid = int(stat[stat.rindex(")") + 2:].split()[1])
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
            parents[int(d)] = (ppid, cmd[:300])
        except (OSError, ValueError):
            continue
    tree, frontier = {}, {root}
    while frontier:
        tree.update({p: parents[p] for p in frontier if p in parents})
        frontier = {p for p, (pp, _) in parents.items() if pp in frontier and p not in tree}
    return tree


class Sampler(threading.Thread):
    def __init__(self, nvml, out: Path, interval: float, child_pid_getter) -> None:
        super().__init__(daemon=True)
        self.nvml, self.interval, self.child_pid = nvml, interval, child_pid_getter
        self.stop_event = threading.Event()
        self.nvml_f = open(out / "gpu.nvml.csv", "w", newline="")  # noqa: SIM115 -- closed at the end of run()
        self.smi_f = open(out / "gpu.smi.csv", "w")  # noqa: SIM115 -- closed at the end of run()
        self.w = csv.writer(self.nvml_f)
        self.w.writerow(NVML_COLUMNS)
        self.smi_f.write(SMI_HEADER + "\n")
        self.procs: dict[int, dict] = {}
        self.errors: list[str] = []

    def run(self) -> None:
        next_t, last_tree = time.time(), 0.0
        while not self.stop_event.is_set():
            if self.nvml is not None:
                for i, name in enumerate(self.nvml.names):
                    t0 = time.time()
                    try:
                        s = self.nvml.sample(i)
                    except Exception as e:  # noqa: BLE001 -- keep sampling the others, the error goes to meta.json
                        if len(self.errors) < 20:
                            self.errors.append(f"{t0:.3f} gpu {i}: {e!r}")
                        continue
                    ms = (time.time() - t0) * 1e3
                    self.w.writerow([f"{t0:.3f}", i, name] + ["" if s[c] is None else s[c] for c in NVML_COLUMNS[3:14]]
                                    + [f"{ms:.3f}"])
                    self.smi_f.write(smi_row(t0, i, name, s))
            now = time.time()
            if now - last_tree >= 1.0 and (pid := self.child_pid()) is not None:
                last_tree = now
                for p, (pp, cmd) in process_tree(pid).items():
                    rec = self.procs.setdefault(p, {"pid": p, "ppid": pp, "cmd": cmd, "first_seen": round(now, 3)})
                    rec["last_seen"] = round(now, 3)
                    if cmd and not rec["cmd"]:
                        rec["cmd"] = cmd
            next_t += self.interval
            self.stop_event.wait(max(0.0, next_t - time.time()))
        self.nvml_f.close()
        self.smi_f.close()


def torch_version() -> str | None:
    try:
        r = subprocess.run([sys.executable, "-c", "import torch; print(torch.__version__, torch.version.cuda)"],
                           capture_output=True, text=True, timeout=120, check=False)
        return r.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path)
    ap.add_argument("--description")
    ap.add_argument("--timeout", type=float, help="signal the child's process group after this many seconds")
    ap.add_argument("--signal", choices=("INT", "TERM"), default="INT", help="the signal --timeout sends (INT)")
    ap.add_argument("--interval", type=float, default=0.2)
    ap.add_argument("--lead", type=float, default=2.0, help="seconds of GPU samples before the launch")
    ap.add_argument("--tail", type=float, default=2.0, help="seconds of GPU samples after the child ends")
    ap.add_argument("--fake-gpus", type=int, default=0)
    ap.add_argument("--meta-from", action="append", default=[], metavar="KEY=FILE")
    ap.add_argument("--note", action="append", default=[])
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    ap.add_argument("--smi-from-nvml", type=Path, metavar="DIR",
                    help="only write DIR/gpu.smi.csv from DIR/gpu.nvml.csv (recordings stored without it), then exit")
    a = ap.parse_args(argv)
    if a.smi_from_nvml:
        print(smi_from_nvml(a.smi_from_nvml))
        return 0
    cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd
    if not cmd or a.out is None or a.description is None:
        ap.error("--out, --description and a command are required")
    a.out.mkdir(parents=True, exist_ok=True)

    nvml, nvml_error = None, None
    try:
        nvml = FakeNvml(a.fake_gpus) if a.fake_gpus else Nvml()
    except Exception as e:  # noqa: BLE001 -- no pynvml, no driver or no GPU: record without GPU samples
        nvml_error = f"NVML unavailable: {e!r}"
    child: list[subprocess.Popen] = []
    sampler = Sampler(nvml, a.out, a.interval, lambda: child[0].pid if child else None)
    sampler.start()
    time.sleep(a.lead)

    env = dict(os.environ, PYTHONUNBUFFERED="1")
    start = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            env=env, start_new_session=True)
    child.append(proc)
    interrupted_at = None
    stop_signal = signal.Signals[f"SIG{a.signal}"]

    def on_timeout() -> None:
        nonlocal interrupted_at
        if proc.poll() is None:
            interrupted_at = time.time()
            os.killpg(proc.pid, stop_signal)
            threading.Timer(30, lambda: proc.poll() is None and os.killpg(proc.pid, signal.SIGKILL)).start()

    timer = threading.Timer(a.timeout, on_timeout) if a.timeout else None
    if timer:
        timer.daemon = True
        timer.start()

    nlines = 0
    fd = proc.stdout.fileno()
    with open(a.out / "run.log", "wb") as log, open(a.out / "run.times", "w") as times:
        pending = b""
        while True:
            chunk = os.read(fd, 65536)
            now = time.time()
            if not chunk:
                break
            log.write(chunk)
            log.flush()
            pending += chunk
            k = pending.count(b"\n")
            if k:
                times.write(f"{now:.6f}\n" * k)
                times.flush()
                nlines += k
                pending = pending[pending.rindex(b"\n") + 1:]
        if pending:
            times.write(f"{time.time():.6f}\n")
            nlines += 1
    rc = proc.wait()
    end = time.time()
    if timer:
        timer.cancel()
    time.sleep(a.tail)
    sampler.stop_event.set()
    sampler.join()

    meta: dict = {
        "description": a.description,
        "command": shlex.join(cmd),
        "cwd": os.getcwd(),
        "gpu": (f"{len(nvml.names)} x {', '.join(sorted(set(nvml.names)))}, power limit "
                f"{sorted(set(nvml.power_limits_w()))} W, driver {nvml.driver()}") if nvml else nvml_error,
        "gpus": [{"index": i, "name": n} for i, n in enumerate(nvml.names)] if nvml else [],
        "torch": torch_version(),
        "child_pid": proc.pid,
        "recorder_pid": os.getpid(),
        "processes": sorted(sampler.procs.values(), key=lambda r: r["first_seen"]),
        "process_start_epoch": start,
        "process_end_epoch": end,
        "exit": f"rc={rc}" + (f" ({stop_signal.name} sent at {interrupted_at:.3f}, {interrupted_at - start:.1f} s after start)"
                               if interrupted_at else ""),
        "lines": nlines,
        "files": {
            "run.log": "stdout+stderr of the command exactly as written",
            "run.times": "arrival time (epoch seconds, UTC) of each line of run.log, one per line",
            "gpu.nvml.csv": (f"NVML samples of every GPU every ~{a.interval} s, one row per GPU: power (mW, 1 s "
                             "average), total energy counter (mJ), memory used/total (bytes, driver's reserved "
                             "memory included), utilization, temperature, SM clock, instant power (mW), number of "
                             "compute processes and their PIDs (';'-joined), query latency (ms)"),
            "gpu.smi.csv": ("the NVML samples converted to the CSV layout of `nvidia-smi --query-gpu=timestamp,index,"
                            "name,power.draw,memory.used,memory.total,utilization.gpu,temperature.gpu --format=csv` "
                            "(timestamps UTC; memory here includes the driver's reserved memory, which real "
                            "nvidia-smi leaves out)"),
        },
        "recorder": "benchmarks/record_run.py",
    }
    if a.fake_gpus:
        meta["notes"] = ["DRY RUN: the GPUs are made up (--fake-gpus)"]
    if a.note:
        meta.setdefault("notes", []).extend(a.note)
    if sampler.errors:
        meta["nvml_errors"] = sampler.errors
    for kv in a.meta_from:
        key, _, path = kv.partition("=")
        try:
            meta[key] = json.loads(Path(path).read_text())
        except (OSError, ValueError) as e:
            meta[key] = f"unreadable: {e!r}"
    (a.out / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(f"recorded {nlines} lines, rc={rc}, {end - start:.1f} s -> {a.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
