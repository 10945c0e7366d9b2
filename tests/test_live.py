"""The live loop: LiveFeed folding a real writer's lines into a Session, and
`nanowatch LOG --jsonl` / `nanowatch - --jsonl` as processes.

Waits have a generous timeout; no test asserts how fast anything happens.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from logwriter import Writer, iter_line, wait_for

from monitor.core.report import Options
from monitor.live import LiveFeed, follow_jsonl, watch_gpus
from monitor.session import Session

CONFIG = "Overriding: max_iters = 100\nOverriding: log_interval = 10\nOverriding: eval_interval = 1000\n"


def runs(session: Session) -> list[list[int]]:
    return [[int(i) for i in run.iters.values] for run in session.state.runs]


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[Writer]:
    w = Writer(tmp_path / "run.log")
    yield w
    w.close()


@pytest.fixture
def feed(tmp_path: Path) -> Iterator:
    feeds: list[LiveFeed] = []

    def start(path: Path | None = None) -> LiveFeed:
        session = Session(Options(source="run.log"), clock=lambda: 1_800_000_000.0)
        # lines arrive on the session's clock (a log silent for years would be stalled)
        f = LiveFeed.follow(session, str(path or tmp_path / "run.log"), clock=session.clock)
        f.start()
        feeds.append(f)
        wait_for(lambda: f.drain() or f.state is not None, what="the source's first look")
        return f

    yield start
    for f in feeds:
        f.stop()


def drained_until(f: LiveFeed, condition, what: str) -> None:
    wait_for(lambda: (f.drain(), condition())[1], what=what)


def test_appended_lines_and_a_truncation_make_two_runs(feed, writer) -> None:
    writer("open")
    writer("write", CONFIG + iter_line(0) + iter_line(10))
    f = feed()
    drained_until(f, lambda: runs(f.session) == [[0, 10]], "the lines already there")
    writer("lines", [iter_line(20), iter_line(30)])
    drained_until(f, lambda: runs(f.session) == [[0, 10, 20, 30]], "the appended lines")
    writer("rewrite")
    writer("write", iter_line(0))
    drained_until(f, lambda: runs(f.session) == [[0, 10, 20, 30], [0]], "the new run")
    snap = f.session.snapshot()
    assert (snap.run_index, snap.iter, snap.status) == (1, 0, "training")


def test_waiting_then_following(feed, writer) -> None:
    f = feed()
    f.drain()
    assert f.session.snapshot().status == "waiting"
    writer("open")
    writer("write", CONFIG + iter_line(0))
    drained_until(f, lambda: runs(f.session) == [[0]], "the first step")
    assert f.session.snapshot().status == "training"


def test_deletion_is_a_warning_until_the_file_is_back(feed, writer) -> None:
    writer("open")
    writer("write", CONFIG + iter_line(0))
    f = feed()
    drained_until(f, lambda: runs(f.session) == [[0]], "the first step")
    writer("delete")
    drained_until(f, lambda: f.session.source_notice is not None, "the deletion")
    snap = f.session.snapshot()
    assert snap.iter == 0  # what was read is kept
    assert any("was deleted" in w for w in snap.warnings)
    writer("open")
    writer("write", CONFIG + iter_line(0, 50.0) + iter_line(10, 50.0))
    drained_until(f, lambda: runs(f.session) == [[0], [0, 10]], "the recreated file's run")
    assert not any("was deleted" in w for w in f.session.snapshot().warnings)


class Records:
    """Reads a `--jsonl` process's stdout on a thread."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.items: list[dict] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._lock:
                self.items.append(json.loads(line))

    def all(self) -> list[dict]:
        with self._lock:
            return list(self.items)

    def iters(self) -> list[int | None]:
        """The iterations the records show, repeats collapsed."""
        out: list[int | None] = []
        for r in self.all():
            if not out or out[-1] != r["iter"]:
                out.append(r["iter"])
        return out

    def wait_iter(self, i: int) -> None:
        wait_for(lambda: any(r["iter"] == i for r in self.all()), what=f"a record of iter {i}")


def nanowatch(*args: str, **kwargs) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "monitor", *args, "--no-gpu"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs
    )


def test_jsonl_follows_a_log_step_by_step_and_exits_130_on_ctrl_c(writer, tmp_path: Path) -> None:
    proc = nanowatch(str(tmp_path / "run.log"), "--jsonl", "--interval", "60")
    records = Records(proc)
    wait_for(lambda: records.all(), what="the first record")
    assert records.all()[0]["status"] == "waiting"
    writer("open")
    writer("write", CONFIG)
    for i in range(0, 60, 10):  # lockstep: the next line only once the last one shows
        writer("write", iter_line(i))
        records.wait_iter(i)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=10) == 130
    assert proc.stderr is not None
    assert proc.stderr.read() == f"nanowatch: waiting for {tmp_path / 'run.log'} to appear\n"  # no traceback
    assert records.iters() == [None, 0, 10, 20, 30, 40, 50]
    assert all(set(r) == set(records.all()[0]) for r in records.all())


def test_jsonl_truncation_starts_a_new_run(writer, tmp_path: Path) -> None:
    writer("open")
    writer("write", CONFIG + iter_line(0) + iter_line(10))
    proc = nanowatch(str(tmp_path / "run.log"), "--jsonl", "--interval", "60")
    records = Records(proc)
    records.wait_iter(10)
    writer("rewrite")
    writer("write", CONFIG + iter_line(0, 50.0))
    wait_for(lambda: records.all()[-1]["run_index"] == 1 and records.all()[-1]["iter"] == 0, what="the new run")
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=10) == 130
    assert proc.stderr is not None and "was truncated" in proc.stderr.read()
    assert [(r["run_index"], r["iter"]) for r in records.all()][-1] == (1, 0)
    assert records.iters() in ([10, None, 0], [10, 0])  # the truncation may be seen before the new line


def test_jsonl_writes_a_record_every_interval_while_idle(writer, tmp_path: Path) -> None:
    writer("open")
    writer("write", CONFIG + iter_line(0))
    proc = nanowatch(str(tmp_path / "run.log"), "--jsonl", "--interval", "0.05")
    records = Records(proc)
    wait_for(lambda: len(records.all()) >= 4, what="records while nothing changes")
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=10) == 130
    items = records.all()
    assert {r["iter"] for r in items} == {0}
    assert [r["t"] for r in items] == sorted(r["t"] for r in items)


def test_jsonl_burst_reaches_the_last_line(writer, tmp_path: Path) -> None:
    writer("open")
    writer("write", CONFIG)
    proc = nanowatch(str(tmp_path / "run.log"), "--jsonl", "--interval", "60")
    records = Records(proc)
    wait_for(lambda: records.all(), what="the first record")
    n = 10_000
    writer("lines", [iter_line(i) for i in range(n)])
    records.wait_iter(n - 1)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=10) == 130
    iters = [i for i in records.iters() if i is not None]
    assert iters == sorted(iters) and iters[-1] == n - 1


def test_jsonl_from_stdin_ends_with_the_input(tmp_path: Path) -> None:
    proc = nanowatch("-", "--jsonl", "--interval", "60", stdin=subprocess.PIPE)
    records = Records(proc)
    assert proc.stdin is not None
    proc.stdin.write(CONFIG)
    for i in (0, 10):
        proc.stdin.write(iter_line(i))
        proc.stdin.flush()
        records.wait_iter(i)
    proc.stdin.write(iter_line(20).rstrip("\n"))  # the last line needs no newline at the end
    proc.stdin.close()
    assert proc.wait(timeout=10) == 0
    records._thread.join(timeout=10)
    assert records.iters() == [None, 0, 10, 20] or records.iters() == [0, 10, 20]


def test_jsonl_refuses_a_directory(tmp_path: Path) -> None:
    proc = nanowatch(str(tmp_path), "--jsonl")
    assert proc.wait(timeout=10) == 2
    assert proc.stdout is not None and proc.stdout.read() == ""
    assert proc.stderr is not None and proc.stderr.read() == f"nanowatch: {tmp_path}: is a directory, not a log file\n"


def test_no_traceback_when_the_reader_goes_away(tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    log.write_text(CONFIG + iter_line(0))
    proc = nanowatch(str(log), "--jsonl", "--interval", "0.01")
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()  # as `| head -1` does
    assert proc.wait(timeout=10) == 0
    assert "Traceback" not in proc.stderr.read()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_jsonl_refuses_a_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "run.fifo"
    os.mkfifo(fifo)
    proc = nanowatch(str(fifo), "--jsonl")
    assert proc.wait(timeout=10) == 2
    assert proc.stderr is not None and "pipe it instead" in proc.stderr.read()


def test_jsonl_warns_when_a_block_buffered_writer_flushes_at_exit(tmp_path: Path) -> None:
    """`python train.py > run.log` without -u: Python holds stdout in a block buffer, and
    the steps arrive together when it is flushed."""
    log = tmp_path / "run.log"
    proc = nanowatch(str(log), "--jsonl", "--interval", "60")
    records = Records(proc)
    wait_for(lambda: records.all(), what="the first record")
    script = "import sys\nfor line in sys.argv[1:]:\n    print(line)\n"
    steps = [iter_line(i, 2000.0).rstrip("\n") for i in range(10)]
    with open(log, "w") as out:
        subprocess.run([sys.executable, "-c", script, "Overriding: log_interval = 1", *steps], stdout=out, check=True)
    records.wait_iter(9)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=10) == 130
    last = records.all()[-1]
    assert any("arrived at once" in w and "python -u" in w for w in last["warnings"]), last["warnings"]


class Stream:
    """A text stream written on one thread and read on another."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._lock = threading.Lock()

    def write(self, text: str) -> None:
        with self._lock:
            self._parts.append(text)

    def flush(self) -> None:
        pass

    def text(self) -> str:
        with self._lock:
            return "".join(self._parts)


def test_jsonl_shows_a_gpu_source_that_raises_and_goes_on() -> None:
    """A GPU source whose poll() raises: the records' warnings say so (and stderr, once),
    and the log is still followed."""
    from tui_fakes import BrokenGpuSource

    read_fd, write_fd = os.pipe()
    out, err = Stream(), Stream()
    session = Session(Options(source="-"), clock=time.time)
    gpu = watch_gpus(lambda on_error: BrokenGpuSource("NVML said no"), 0.02, time.time)
    follow = threading.Thread(target=follow_jsonl, args=(session, "-"),
                              kwargs={"interval_s": 0.02, "out": out, "err": err, "stdin_fd": read_fd, "gpu": gpu})
    follow.start()

    def records() -> list[dict]:
        return [json.loads(line) for line in out.text().splitlines()]

    said = "GPU sampler failed: RuntimeError: NVML said no"
    try:
        os.write(write_fd, (CONFIG + iter_line(0)).encode())
        wait_for(lambda: any(said in r["warnings"] and r["iter"] == 0 for r in records()), what="the GPU failure")
        os.write(write_fd, iter_line(10).encode())
        wait_for(lambda: any(r["iter"] == 10 for r in records()), what="the next line, followed all the same")
    finally:
        os.close(write_fd)
        follow.join(timeout=10)
        os.close(read_fd)
    assert not follow.is_alive()
    assert err.text().count(f"nanowatch: {said}\n") == 1
