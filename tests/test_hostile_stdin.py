"""Odd things on stdin: a directory, a device that never ends, /dev/null, a socket, a pipe left
non-blocking by whoever opened it. Each is read to its end or refused in one line (exit 2)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import ROOT, SAMPLES
from logwriter import Collector, iter_line, wait_for
from test_tail import CountingClock, lines

from monitor.core.lines import LineSplitter
from monitor.sources.logfile import read_stream_blocks
from monitor.sources.stdin import StdinReader
from monitor.sources.tail import ENDED

LOG = SAMPLES / "nanogpt" / "wilcoooo_shakespeare_char_gpu_complete.log"
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def _nanowatch(args: list[str], stdin) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "monitor", *args], stdin=stdin, cwd=ROOT, env=ENV,
                          capture_output=True, text=True, timeout=60, check=False)


def _one_line(proc: subprocess.CompletedProcess, said: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1 and said in proc.stderr


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
@pytest.mark.parametrize("mode", ["--once", "--jsonl"])
def test_a_device_that_never_ends_is_refused(device: str, mode: str) -> None:
    with open(device, "rb") as endless:
        _one_line(_nanowatch(["-", mode, "--no-gpu"], endless), "stdin is a device, not a log")


def test_dev_null_is_an_empty_log() -> None:
    with open(os.devnull, "rb") as empty:
        proc = _nanowatch(["-", "--once", "--no-gpu", "--json"], empty)
    assert proc.returncode == 0 and '"status":"starting"' in proc.stdout and not proc.stderr


def test_a_socket_on_stdin_is_read_to_its_end() -> None:
    mine, theirs = socket.socketpair()
    with mine, theirs:
        proc = subprocess.Popen([sys.executable, "-m", "monitor", "-", "--once", "--json", "--no-gpu"], stdin=theirs,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=ENV)
        mine.sendall(LOG.read_bytes())
        mine.shutdown(socket.SHUT_WR)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and not err
    assert '"status":"finished"' in out and '"iter":3000' in out


def _slow_writer(fd: int, data: list[bytes]) -> threading.Thread:
    def write() -> None:
        for piece in data:
            os.write(fd, piece)
            time.sleep(0.02)  # the reader finds the pipe empty in between
        os.close(fd)
    thread = threading.Thread(target=write)
    thread.start()
    return thread


def test_once_reads_a_non_blocking_stdin_to_its_end_not_to_its_first_pause() -> None:
    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)  # as a parent (node, some CI runners) leaves it
    pieces = [iter_line(i).encode() for i in range(0, 50, 10)]
    thread = _slow_writer(write_fd, pieces)
    with os.fdopen(read_fd, "rb") as stream:
        blocks = list(read_stream_blocks(stream, "stdin"))
    thread.join()
    assert LineSplitter().feed(b"".join(blocks)) == lines(0, 10, 20, 30, 40)


def test_the_stdin_follower_waits_on_a_non_blocking_pipe_instead_of_failing() -> None:
    got = Collector()
    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    reader = StdinReader(got.lines, got.error, CountingClock(), fd=read_fd, on_state=got.state)
    reader.start()
    thread = _slow_writer(write_fd, [iter_line(i).encode() for i in range(0, 50, 10)])
    wait_for(lambda: ENDED in got.of("state"), what="the end of input")
    thread.join()
    os.close(read_fd)
    assert got.of("error") == []
    assert got.texts() == lines(0, 10, 20, 30, 40)


# --- a directory on stdin: CPython aborts before any of nanowatch runs (README says so) ---


def test_python_itself_cannot_start_on_a_directory(tmp_path: Path) -> None:
    """The limit README states: if this ever passes, CPython learned to, and nanowatch should refuse it itself."""
    folder = os.open(tmp_path, os.O_RDONLY)
    try:
        proc = subprocess.run([sys.executable, "-c", "pass"], stdin=folder, capture_output=True, text=True,
                              timeout=60, check=False)
    finally:
        os.close(folder)
    assert proc.returncode != 0 and "is a directory" in proc.stderr
