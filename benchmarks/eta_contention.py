"""Other processes on a recorded run's GPUs, read from its NVML trace (gpu.nvml.csv, `pids`
column) and its meta.json (the recorded processes), as the live sampler reports them: one
GpuSample per GPU whenever the count on it changes (GpuSample.other_processes), so a replay
can hand the estimator what nanowatch sees live.

The run's processes are those whose command runs train.py (not a shell wrapper that also
starts the competing job, nor a shell: a subshell that execs another train.py keeps the shell's
command line in meta.json, `h200e_gpt2_124M_joined_by_second_job`) and their descendants (the live
sampler's run_family: the log's writer and its descendants, DDP ranks and compile workers), and
the process the recorder started, whose stdout is the log (a wrapper that execs the resumed run);
every other PID NVML lists on the run's GPUs is another process. The run's GPUs are those on
which NVML ever lists one of its processes.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

from monitor.core.report import Options
from monitor.core.telemetry import GpuChoice, GpuSample, Reading
from monitor.inbox import GpuSampled
from monitor.session import Session
from monitor.sources.replay import timed_lines

#: Command lines of shells: a process recorded as one is a wrapper, or a subshell that exec'd
#: whatever it started (its command line was taken before the exec).
SHELLS = ("bash ", "sh ", "/bin/bash ", "/bin/sh ")


def run_pids(meta: dict[str, object]) -> set[int]:
    """The run's PIDs: train.py's processes and their descendants in meta.json's process list,
    and the process the recorder started (`child_pid`): its stdout is the log, so what it execs
    into writes the log (a wrapper `bash -c '...; python3 train.py --init_from=resume'` execs its
    last command: the resumed run, under the shell's PID and command line), as the live
    sampler's run_family finds the log's feeders. Not its other descendants: a wrapper may start
    the competing job too, and a competing job may be a train.py itself (a second training run):
    the command meta.json's `competing_job` declares is never the run's."""
    procs = meta.get("processes")
    if not isinstance(procs, list):
        return set()
    child = meta.get("child_pid")
    started = {int(child)} if isinstance(child, int) else set()
    parent = {int(p["pid"]): int(p["ppid"]) for p in procs}
    job = meta.get("competing_job")
    competitor = str(job.get("command") or "").strip() if isinstance(job, dict) else ""
    named = {int(p["pid"]) for p in procs
             if "train.py" in (cmd := str(p.get("cmd", ""))) and not cmd.startswith(SHELLS)
             and not (competitor and cmd.strip() == competitor)}
    # the processes that run it, not a shell wrapper whose command line names it beside others
    roots = {pid for pid in named if not any(parent.get(k) == pid for k in named)}
    family = set(roots)
    grown = True
    while grown:
        kids = {pid for pid, ppid in parent.items() if ppid in family and pid not in family}
        family |= kids
        grown = bool(kids)
    return family | started


def contention_readings(folder: Path) -> list[tuple[float, Reading]]:
    """(time, reading) for the run in `folder`, oldest first: the run's GpuChoice, then a
    GpuSample each time the number of other processes on one of its GPUs changes. Empty
    without a trace with a `pids` column or without the run's processes in meta.json."""
    trace, meta_path = folder / "gpu.nvml.csv", folder / "meta.json"
    if not trace.exists() or not meta_path.exists():
        return []
    family = run_pids(json.loads(meta_path.read_text()))
    if not family:
        return []
    rows: list[tuple[float, int, set[int]]] = []
    with trace.open(newline="") as f:
        reader = csv.DictReader(f)
        if "pids" not in (reader.fieldnames or ()):
            return []
        for row in reader:
            pids = {int(p) for p in row["pids"].split(";") if p.strip()}
            rows.append((float(row["t"]), int(row["index"]), pids))
    gpus = sorted({index for _, index, pids in rows if pids & family})
    if not gpus:
        return []
    out: list[tuple[float, Reading]] = [(rows[0][0], GpuChoice(tuple(gpus), "process"))]
    last: dict[int, int] = {}
    for t, index, pids in rows:
        if index not in gpus:
            continue
        others = len(pids - family)
        if last.get(index) != others:
            last[index] = others
            out.append((t, GpuSample(t=t, index=index, other_processes=others)))
    return out


def fed(session: Session, items: list[tuple[float, bytes]], readings: list[tuple[float, Reading]],
        clock: list[float] | None = None) -> Iterator[float]:
    """Feed `session` each line of `items` (time, line) at its time, after the `readings`
    (contention_readings) up to that time, with `clock[0]` (what the session's clock reads) set to
    it where given; yields the time of each line that changed the run."""
    g = 0
    for t, line in items:
        if clock is not None:
            clock[0] = t
        while g < len(readings) and readings[g][0] <= t:
            session.ingest([GpuSampled([readings[g][1]])])
            g += 1
        if session.feed(line, t):
            yield t


def replayed(log: Path, times: Path, gpu: bool = True, live_clock: bool = True) -> Iterator[tuple[float, Session]]:
    """(time, session) after each line of the recorded run in `log` that changed the run, each line
    fed at its recorded time (`times`) after what NVML listed on the run's GPUs until then
    (contention_readings, when `gpu`); the session's clock reads that time (`live_clock`) or the
    last line's. The same session every time: it has read every line when the iteration ends."""
    items = list(timed_lines(str(log), str(times), 0.0))
    readings = contention_readings(log.parent) if gpu else []
    clock = [items[0][0] if live_clock else items[-1][0]]
    session = Session(Options(source=str(log)), lambda: clock[0])
    for t in fed(session, items, readings, clock if live_clock else None):
        yield t, session
