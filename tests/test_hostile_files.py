"""Files that are not what they say: a /proc file (size 0, text made at each read) is read once
with --once and refused for following, instead of being 'truncated' and re-read as a new run every
poll; a sparse file (a hole of NULs, as a preallocated log leaves) is read to its last line."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.sources.logfile import LogError, check_followable

PROC = "/proc/self/status"
needs_proc = pytest.mark.skipif(not os.path.exists(PROC), reason="no /proc here")


@needs_proc
@pytest.mark.parametrize("mode", [["--jsonl"], [], ["/proc/loadavg", "--jsonl"]])
def test_a_proc_file_is_refused_for_following(capsys, mode: list[str]) -> None:
    assert main([PROC, *mode, "--no-gpu"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot be followed" in err and f"nanowatch {PROC} --once" in err


@needs_proc
def test_a_proc_file_is_read_once(capsys) -> None:
    assert main([PROC, "--once", "--json", "--no-gpu"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["format"] is None and record["run_index"] == 0 and "lines read, none recognised" in record["warnings"][0]


def test_an_empty_log_or_one_not_there_yet_is_followed(tmp_path: Path) -> None:
    empty = tmp_path / "run.log"
    empty.touch()
    check_followable(str(empty))
    check_followable(str(tmp_path / "later.log"))
    empty.write_text("iter 0: loss 3.0, time 10.00ms\n")
    check_followable(str(empty))


@needs_proc
def test_the_refusal_is_a_log_error() -> None:
    with pytest.raises(LogError, match="cannot be followed"):
        check_followable(PROC)


def test_a_sparse_log_is_read_to_its_last_line(tmp_path: Path, capsys) -> None:
    log = tmp_path / "run.log"
    with log.open("wb") as f:
        f.write(b"iter 0: loss 3.0000, time 10.00ms, mfu 1.00%\n")
        f.truncate(64 << 20)  # a hole: 64 MiB of NULs on read, no block on disk
        f.seek(0, os.SEEK_END)
        f.write(b"iter 10: loss 2.0000, time 10.00ms, mfu 1.00%\n")
    assert main([str(log), "--once", "--json", "--no-gpu"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["iter"] == 10 and record["loss"] == 2.0


# --- many logs against the open-file limit (ulimit -n) ---------------------------------------


@pytest.mark.parametrize(("soft", "hard", "raised"), [(256, 4096, 4096), (256, -1, 65_536), (8192, 4096, 8192)])
def test_the_soft_open_file_limit_is_raised_to_the_hard_one(monkeypatch, soft: int, hard: int, raised: int) -> None:
    resource = pytest.importorskip("resource")
    from monitor.sources.logfile import raise_open_file_limit

    asked: list[tuple[int, int]] = []
    monkeypatch.setattr(resource, "RLIM_INFINITY", -1)
    monkeypatch.setattr(resource, "getrlimit", lambda _which: (soft, hard))
    monkeypatch.setattr(resource, "setrlimit", lambda _which, limits: asked.append(limits))
    assert raise_open_file_limit() == raised
    assert asked == ([] if soft >= raised else [(raised, hard)])


def test_logs_are_refused_at_start_when_the_open_file_limit_leaves_too_few_descriptors() -> None:
    """Each followed log may hold FDS_PER_LOG descriptors, and the process FDS_RESERVE more: past
    that the start fails as an open would (EMFILE), before any follower's open fails on its own
    thread (it would say so for its log, and the rest would go on)."""
    import errno

    from monitor.sources.logfile import FDS_PER_LOG, FDS_RESERVE, check_open_files

    fits = (64 - FDS_RESERVE) // FDS_PER_LOG
    check_open_files(fits, 64)
    check_open_files(10_000, None)  # no limit known
    with pytest.raises(OSError) as refused:
        check_open_files(fits + 1, 64)
    assert refused.value.errno == errno.EMFILE


def test_more_logs_than_the_hard_open_file_limit_allows_is_one_line(tmp_path: Path) -> None:
    resource = pytest.importorskip("resource")
    import subprocess
    import sys

    logs = []
    for i in range(45):
        log = tmp_path / f"r{i}.log"
        log.write_text("iter 0: loss 4.0, time 10.00ms\n")
        logs.append(str(log))

    def low_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))

    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run([sys.executable, "-m", "monitor", *logs, "--jsonl", "--no-gpu"], capture_output=True,
                          text=True, timeout=120, check=False, preexec_fn=low_limit,
                          env={**os.environ, "PYTHONPATH": str(root)})
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "too many open files: the limit (ulimit -n) is 64" in proc.stderr
