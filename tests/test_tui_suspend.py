"""Ctrl-Z suspends the TUI to its shell and `fg` brings it back, whole: one log and the runs
table, by the key (raw mode hands Ctrl-Z to the app) and by a SIGTSTP sent from outside; where
no shell could resume it (run straight by tmux or ssh) Ctrl-Z says so and the app stays.
Real processes on a real pty; the help's wrapped descriptions keep their column."""

from __future__ import annotations

import fcntl
import os
import pty
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
from conftest import FakeClock
from test_app import ALT_SCREEN_OFF, ALT_SCREEN_ON, RECORDED_LOG, Terminal, sync, until
from test_hostile_signals import OTHER_LOG
from textual.widgets import Static
from tui_fakes import recorded, session_at

from monitor.tui.app import make_app
from monitor.tui.driver import shell_to_return_to
from monitor.tui.widgets import HelpScreen

CTRL_Z = b"\x1a"


class JobTerminal(Terminal):
    """`python -m monitor ARGS` on a fresh pty, as a job of this process: its own process group
    in this session (as a job-control shell starts a job), so that a stopped app has a parent
    to resume it. The pty is its stdin, stdout and stderr."""

    def __init__(self, args: list[str]) -> None:
        self.master, self.slave = pty.openpty()
        fcntl.ioctl(self.slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        self.modes_before = termios.tcgetattr(self.slave)
        env = {**os.environ, "TERM": "xterm-256color", "TZ": "UTC"}
        self.proc = subprocess.Popen([sys.executable, "-m", "monitor", *args], stdin=self.slave, stdout=self.slave,
                                     stderr=self.slave, env=env,
                                     preexec_fn=os.setpgrp)  # noqa: PLW1509 (a group of its own, as a shell starts a job)
        self.output = b""

    def read_after(self, marker: bytes, start: int, timeout_s: float = 60.0) -> None:
        """Read until `marker` is in what came after output[start]."""
        deadline = time.monotonic() + timeout_s
        while marker not in self.output[start:]:
            assert time.monotonic() < deadline, self.output[-2000:]
            self.settle(quiet_s=0.1)

    def state(self) -> str:
        stat = Path(f"/proc/{self.proc.pid}/stat").read_bytes()
        return stat[stat.rindex(b")") + 2:].split()[0].decode()

    def wait_state(self, wanted: str, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while self.state() != wanted:
            assert time.monotonic() < deadline, (self.state(), self.output[-2000:])
            self.settle(quiet_s=0.1)


def _args(logs: int) -> list[str]:
    return [str(RECORDED_LOG), *([str(OTHER_LOG)] if logs == 2 else []), "--no-gpu"]


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="process states read from /proc")
@pytest.mark.parametrize("how", ["ctrl-z", "sigtstp"])
@pytest.mark.parametrize("logs", [1, 2], ids=["one-log", "runs-table"])
def test_ctrl_z_suspends_to_the_shell_and_fg_redraws(how: str, logs: int) -> None:
    term = JobTerminal(_args(logs))
    marker = b"run.log" if logs == 2 else b"nanogpt"
    try:
        term.read_until(marker)
        term.settle()
        for _ in range(2):  # a second suspend works as the first (each has its own wake pipe)
            if how == "ctrl-z":
                os.write(term.master, CTRL_Z)
            else:
                os.killpg(term.proc.pid, signal.SIGTSTP)
            term.wait_state("T")
            drawn = len(term.output)
            term.settle()
            assert ALT_SCREEN_OFF in term.output[drawn - 4000:]  # the shell's screen is back
            assert termios.tcgetattr(term.slave) == term.modes_before  # echo, canonical mode
            resumed = len(term.output)
            os.kill(term.proc.pid, signal.SIGCONT)  # what the shell's fg sends
            term.read_after(ALT_SCREEN_ON, resumed)
            back = term.output.index(ALT_SCREEN_ON, resumed)
            term.read_after(marker, back)  # the whole screen again, not only what changed
            term.settle()
        os.write(term.master, b"q")
        assert term.finish() == 0
        assert b"Traceback" not in term.output and b"Error" not in term.output
        assert termios.tcgetattr(term.slave) == term.modes_before
    finally:
        term.close()


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="process states read from /proc")
def test_ctrl_z_without_a_shell_to_return_to_keeps_the_app() -> None:
    term = Terminal(_args(1))  # a session of its own, as tmux or sshd starts a program: nobody would fg it
    try:
        term.read_until(b"nanogpt")
        term.settle()
        os.write(term.master, CTRL_Z)
        term.read_until(b"no shell to come back to")
        assert term.proc.poll() is None
        os.write(term.master, b"q")
        assert term.finish() == 0
    finally:
        term.close()


@pytest.mark.parametrize(("setup", "expected"), [("setpgrp", True), ("setsid", False)])
def test_a_shell_to_return_to_is_a_parent_in_another_group_of_the_session(setup: str, expected: bool) -> None:
    code = "from monitor.tui.driver import shell_to_return_to as s; print(s())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         preexec_fn=getattr(os, setup)).stdout
    assert out.strip() == str(expected)
    assert isinstance(shell_to_return_to(), bool)  # this process, however pytest was started


@sync
async def test_ctrl_z_in_a_headless_app_does_nothing() -> None:
    app = make_app(session_at(recorded("compiled"), FakeClock()), handle_signals=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+z")
        await pilot.pause()
        assert app.is_running


@sync
async def test_help_descriptions_wrap_under_their_own_column() -> None:
    app = make_app(session_at(recorded("compiled"), FakeClock()), handle_signals=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.pause()
        text = app.screen.query_one("#help-box").query_one(Static)
        lines = ["".join(s.text for s in text.render_line(y)).rstrip() for y in range(text.size.height)]
        start = next(i for i, line in enumerate(lines) if "pause / resume following" in line)
        column = lines[start].index("pause / resume")
        wrapped = lines[start + 1]  # the rest of p's description, at 80 columns
        assert "lost" in wrapped and not wrapped.startswith("  pause")
        assert len(wrapped) - len(wrapped.lstrip()) == column  # under its column, not under the keys


@sync
async def test_a_replay_clock_holds_while_the_job_is_stopped(monkeypatch) -> None:
    from monitor.tui import app as app_module

    told: list[bool] = []
    held_when_stopped: list[bool] = []
    monkeypatch.setattr(app_module, "suspend_to_shell", lambda app: held_when_stopped.append(told[-1]))
    app = make_app(session_at(recorded("compiled"), FakeClock()), handle_signals=False, on_pause=told.append)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+z")
        await pilot.pause()
        assert held_when_stopped == [True] and told == [True, False]  # held while stopped, then going on
        await pilot.press("p")  # paused by the user: Ctrl-Z leaves it paused
        await pilot.press("ctrl+z")
        await pilot.pause()
        assert told == [True, False, True] and held_when_stopped == [True, True]
