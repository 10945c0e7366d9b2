"""The processes of a run, read from /proc: those writing a log, the pipeline feeding them and
their descendants (NVML's process lists are matched against them).

ADAPTER ring: reads /proc only; no textual.
"""

from __future__ import annotations

import os
from collections.abc import Collection


def _pids(proc_root: str) -> list[int]:
    try:
        return [int(d) for d in os.listdir(proc_root) if d.isdigit()]
    except OSError:
        return []


def writer_pids(log_path: str, proc_root: str = "/proc") -> set[int]:
    """Processes holding `log_path` open for writing (readers such as tail or nanowatch
    itself are left out)."""
    try:
        target = os.path.realpath(log_path)
    except OSError:
        return set()
    return writers_of({target}, proc_root).get(target, set())


def writers_of(targets: Collection[str], proc_root: str = "/proc") -> dict[str, set[int]]:
    """The processes holding each of `targets` (real paths) open for writing, in one pass over
    /proc (a pass reads every process's open files: many logs share it); a target no process
    writes is left out."""
    found: dict[str, set[int]] = {}
    for pid in _pids(proc_root):
        fd_dir = os.path.join(proc_root, str(pid), "fd")
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue  # gone, or not ours to look at
        for fd in fds:
            try:
                target = os.readlink(os.path.join(fd_dir, fd))
                if target not in targets:
                    continue
                with open(os.path.join(proc_root, str(pid), "fdinfo", fd)) as f:
                    flags = next((int(line.split()[1], 8) for line in f if line.startswith("flags:")), 0)
            except (OSError, ValueError, IndexError):
                continue
            if flags & (os.O_WRONLY | os.O_RDWR):
                found.setdefault(target, set()).add(pid)
    return found


def stat_fields(pid: int, proc_root: str = "/proc") -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state, ppid, ...; proc(5)), or None
    when the process is gone or its stat cannot be read."""
    try:
        with open(os.path.join(proc_root, str(pid), "stat")) as f:
            stat = f.read()
        return stat[stat.rindex(")") + 2 :].split()
    except (OSError, ValueError):
        return None


def parents(proc_root: str = "/proc") -> dict[int, int]:
    """pid -> parent pid for every visible process."""
    out = {}
    for pid in _pids(proc_root):
        fields = stat_fields(pid, proc_root)
        if fields is None:
            continue
        try:
            out[pid] = int(fields[1])
        except (ValueError, IndexError):
            continue
    return out


def _fd_target(proc_root: str, pid: int, fd: int) -> str | None:
    try:
        return os.readlink(os.path.join(proc_root, str(pid), "fd", str(fd)))
    except OSError:
        return None


def run_family(log_path: str, proc_root: str = "/proc") -> set[int]:
    """The run's processes: the log's writers, the processes that feed them through a pipe
    (`python train.py | tee log`: tee writes, python's stdout is tee's stdin; followed up a
    whole pipeline), and all their descendants (torchrun's workers, compile workers). Empty
    when no writer is found. A sibling that only shares the shell is not the run's."""
    writers = writer_pids(log_path, proc_root)
    if not writers:
        return set()
    pids = _pids(proc_root)
    outputs: dict[str, set[int]] = {}  # pipe -> processes writing to it on stdout/stderr
    for pid in pids:
        for fd in (1, 2):
            target = _fd_target(proc_root, pid, fd)
            if target is not None and target.startswith("pipe:"):
                outputs.setdefault(target, set()).add(pid)
    roots, todo = set(writers), list(writers)
    while todo:
        stdin = _fd_target(proc_root, todo.pop(), 0)
        for feeder in outputs.get(stdin, set()) if stdin and stdin.startswith("pipe:") else ():
            if feeder not in roots:
                roots.add(feeder)
                todo.append(feeder)
    ppid = parents(proc_root)
    family, todo = set(roots), list(roots)
    while todo:
        pid = todo.pop()
        kids = [c for c, p in ppid.items() if p == pid and c not in family]
        family.update(kids)
        todo.extend(kids)
    return family
