"""A TUI whose terminal hangs up exits, whatever it is doing: following, or still loading a
long log. Real processes on a real pty; the terminal is dropped by closing its master side."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT

from monitor.sources.hangup import EXIT_HANGUP

LINE = "iter {i}: loss 4.0000, time 100.00ms, mfu 10.00%\n"


def _spawn(args: list[str], ignore_hup: bool = False) -> tuple[subprocess.Popen, int]:
    """nanowatch on a new pty, as its session leader (as sshd starts a login shell)."""
    master, slave = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TERM": "xterm-256color"}

    def session() -> None:
        os.setsid()
        import fcntl
        import termios

        fcntl.ioctl(0, termios.TIOCSCTTY, 0)
        if ignore_hup:
            signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as under nohup: the tty watcher must see it

    proc = subprocess.Popen([sys.executable, "-m", "monitor", *args, "--no-gpu"], cwd=ROOT, env=env,
                            stdin=slave, stdout=slave, stderr=slave, preexec_fn=session, close_fds=True)  # noqa: PLW1509
    os.close(slave)
    return proc, master


def _read_until_drawn(master: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    seen = b""
    while time.monotonic() < deadline and b"iter" not in seen:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                seen += os.read(master, 65536)
            except OSError:
                break
    assert b"iter" in seen, "the TUI never drew the run"


def _wait_for_hup_handler(pid: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = Path(f"/proc/{pid}/status").read_text()
        caught = int(next(line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:")), 16)
        if caught & (1 << (signal.SIGHUP - 1)):
            return
        time.sleep(0.01)
    raise AssertionError("nanowatch never installed its SIGHUP handler")


def _ended(proc: subprocess.Popen, timeout_s: float = 10.0) -> int | None:
    try:
        return proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return None


@pytest.mark.parametrize("ignore_hup", [False, True], ids=["sighup", "tty-hangup-only"])
def test_following_tui_exits_when_its_terminal_goes(tmp_path: Path, ignore_hup: bool) -> None:
    log = tmp_path / "run.log"
    log.write_text("".join(LINE.format(i=i) for i in range(0, 100, 10)))
    proc, master = _spawn([str(log)], ignore_hup)
    _read_until_drawn(master)
    os.close(master)  # the terminal goes away (the SSH connection dropped)
    assert _ended(proc) == EXIT_HANGUP


def test_loading_tui_exits_on_sighup(tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    with open(log, "w") as f:
        f.write("".join(LINE.format(i=i) for i in range(300_000)))  # a second or more of loading
    proc, master = _spawn([str(log)])
    try:
        _wait_for_hup_handler(proc.pid)  # installed just before the log is loaded
        proc.send_signal(signal.SIGHUP)
        assert _ended(proc) == EXIT_HANGUP
    finally:
        os.close(master)
