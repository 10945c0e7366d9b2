"""Odd line endings and files that change under the follower: bare `\\r` progress lines, a log
rewritten in place, a writer that keeps writing to the rotated file, a copytruncate NUL hole,
and a last line without a newline (wandb's output.log, field case K)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from conftest import DATA, ROOT
from logwriter import Collector, iter_line, wait_for

from monitor.core.lines import LineSplitter
from monitor.core.report import Options
from monitor.session import Session
from monitor.sources.logfile import read_blocks
from monitor.sources.tail import Follower

N_STEPS = 30_000


def cr_steps(n: int) -> bytes:
    return "".join(iter_line(i).replace("\n", "\r") for i in range(n)).encode()


def session() -> Session:
    return Session(Options(source="run.log"), clock=lambda: 1_800_000_000.0)


def test_a_bare_cr_ends_a_line_and_crlf_is_one_ending_across_chunks() -> None:
    s = LineSplitter()
    assert s.feed(b"a\rb\r") == [b"a", b"b"]
    assert s.feed(b"\nc\r\n") == [b"c"]  # the \n after a chunk's final \r is no empty line
    assert s.feed(b"d") == [] and s.flush() == [b"d"]
    s = LineSplitter()
    assert s.feed_block(b"x\ry\r") == b"x\ny\n" and s.feed_block(b"\nz\n") == b"z\n"


def test_a_nul_hole_does_not_swallow_the_next_line() -> None:
    s = LineSplitter()
    lines = s.feed(b"iter 1: a\n" + b"\0" * (2 << 20) + b"iter 2: b\n")
    assert lines == [b"iter 1: a", b"iter 2: b"]


def test_runaway_line_keeps_its_end() -> None:
    s = LineSplitter()
    lines = s.feed(b"x" * (3 << 20) + b"iter 7: loss 1.0, time 1.00ms\n")
    assert lines[0].endswith(b"iter 7: loss 1.0, time 1.00ms")


def test_cold_open_reads_every_cr_step(tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    log.write_bytes(cr_steps(N_STEPS) + b"\n")
    s = session()
    for block in read_blocks(str(log)):
        s.feed_block(block)
    snap = s.snapshot()
    assert snap.iters_done == N_STEPS and snap.iter == N_STEPS - 1


def test_following_reads_every_cr_step_under_load(tmp_path: Path) -> None:
    """A writer flushing odd-sized pieces as fast as it can, the follower reading meanwhile."""
    log = tmp_path / "run.log"
    log.write_bytes(b"")
    s = session()
    lock = threading.Lock()

    def block(t: float | None, data: bytes) -> None:
        with lock:
            s.feed_block(data, t)

    f = Follower(str(log), lambda b: None, lambda m: None, time.time, on_block=block, safety_poll_s=0.05)
    f.start()
    data = cr_steps(N_STEPS)
    try:
        with open(log, "ab", buffering=0) as w:
            w.writelines(data[i : i + 4099] for i in range(0, len(data), 4099))
        wait_for(lambda: f.position == len(data), what="the follower to read every byte")
        time.sleep(0.05)
    finally:
        f.stop()
    with lock:
        assert s.snapshot().iters_done == N_STEPS  # the last one too: a bare \r ended it


def _follow(path: Path, **kw) -> tuple[Follower, Collector]:
    got = Collector()
    f = Follower(str(path), got.lines, got.error, time.time, on_reset=got.reset, safety_poll_s=0.05, **kw)
    f.start()
    return f, got


def test_a_log_rewritten_in_place_is_a_new_run(tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    log.write_text(iter_line(0) + iter_line(10))
    f, got = _follow(log)
    try:
        wait_for(lambda: len(got.texts()) == 2, what="the first run")
        ino = log.stat().st_ino
        new = (iter_line(0, 50.0) + iter_line(10, 50.0) + iter_line(20, 50.0)).encode()
        fd = os.open(log, os.O_WRONLY)  # same inode, longer: the size alone says "appended"
        os.pwrite(fd, new, 0)
        os.close(fd)
        assert log.stat().st_ino == ino
        wait_for(lambda: len(got.texts()) == 5, what="the new run, read from the start")
    finally:
        f.stop()
    assert got.texts()[2:] == [line.encode() for line in new.decode().splitlines()]
    assert got.kinds() == ["lines", "reset", "lines"]
    assert any("rewritten in place" in str(m) for m in got.of("error"))


def test_a_writer_that_keeps_writing_to_the_rotated_file_is_followed(tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    with open(log, "ab", buffering=0) as w:  # a trainer that never reopens its log
        w.write(iter_line(0).encode())
        f, got = _follow(log)
        try:
            wait_for(lambda: len(got.texts()) == 1, what="the first line")
            os.rename(log, tmp_path / "run.log.1")
            log.touch()
            w.writelines(iter_line(i).encode() for i in range(1, 101))
            wait_for(lambda: len(got.texts()) == 101, what="every line written to the moved file")
            assert got.of("reset") == []
            assert any("still writes to the moved file" in str(m) for m in got.of("error"))
            log.write_text(iter_line(0, 50.0))  # a new run starts under the name: follow it
            wait_for(lambda: len(got.texts()) == 102, what="the new file's line")
            assert got.kinds()[-2:] == ["reset", "lines"]
        finally:
            f.stop()


def test_copytruncate_hole_keeps_the_next_line(tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    log.write_text(iter_line(0) + iter_line(10))
    f, got = _follow(log)
    try:
        wait_for(lambda: len(got.texts()) == 2, what="the first lines")
        offset = log.stat().st_size
        os.truncate(log, 0)  # copytruncate; the writer goes on at its own offset
        fd = os.open(log, os.O_WRONLY)
        os.pwrite(fd, iter_line(20).encode(), offset + (2 << 20))
        os.close(fd)
        wait_for(lambda: iter_line(20).rstrip("\n").encode() in got.texts(), what="the line after the hole")
    finally:
        f.stop()


def test_last_line_without_newline_is_read_when_it_settles(tmp_path: Path) -> None:
    log = tmp_path / "output.log"
    log.write_bytes(iter_line(0).encode() + iter_line(10).rstrip("\n").encode())
    f, got = _follow(log, partial_settle_s=0.2)
    try:
        wait_for(lambda: len(got.texts()) == 2, what="the settled last line")
        with open(log, "ab") as w:
            w.write(b", more\n")  # it grows after all: the completed line follows
        wait_for(lambda: len(got.texts()) == 3, what="the completed line")
    finally:
        f.stop()
    assert got.texts()[1:] == [iter_line(10).rstrip("\n").encode(), iter_line(10).rstrip("\n").encode() + b", more"]
    assert got.times()[1] is None  # it was in the file at start


def test_field_case_k_jsonl_shows_the_last_line(tmp_path: Path) -> None:
    """Field case K1 (wandb output.log): followed with --jsonl for at most 4 s, a record shows
    iter 5000, the last line, which has no newline."""
    log = tmp_path / "output.log"
    log.write_bytes((DATA / "k1_last_line_without_newline.log").read_bytes())
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "monitor", str(log), "--jsonl", "--no-gpu"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    iters = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 4.0 + 3.0  # 4 s of following, plus the interpreter's start
        while time.monotonic() < deadline and 5000 not in iters:
            line = proc.stdout.readline()
            if not line:
                break
            iters.append(json.loads(line)["iter"])
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
    assert 5000 in iters

