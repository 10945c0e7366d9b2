"""SIGTERM, SIGHUP and SIGINT sent by kill end every TUI as a quit does: the exit code of the
signal (128 + its number), the terminal restored (the alternate screen left, the tty modes back)."""

from __future__ import annotations

import os
import signal
import termios

import pytest
from test_app import ALT_SCREEN_OFF, RECORDED_LOG, Terminal, sync, until
from test_multi import _static_runs

from monitor.tui.multi_app import make_multi_app

SIGNALS = [signal.SIGTERM, signal.SIGHUP, signal.SIGINT]
OTHER_LOG = RECORDED_LOG.parent.parent / "interrupted" / "run.log"


@pytest.mark.parametrize("sig", SIGNALS)
@sync
async def test_a_signal_ends_the_runs_table_cleanly(sig: signal.Signals) -> None:
    before = signal.getsignal(sig)
    app = make_multi_app(lambda wake, notice: _static_runs())  # type: ignore[arg-type,return-value]
    async with app.run_test() as pilot:
        os.kill(os.getpid(), sig)
        await until(pilot, lambda: not app.is_running)
    assert app.return_code == 128 + sig
    assert signal.getsignal(sig) in (before, signal.SIG_DFL, signal.default_int_handler)  # the app's went with it


@pytest.mark.parametrize(("sig", "logs"), [*((s, 2) for s in SIGNALS), (signal.SIGINT, 1)],
                         ids=["TERM-runs-table", "HUP-runs-table", "INT-runs-table", "INT-one-log"])
def test_a_signal_restores_the_terminal(sig: signal.Signals, logs: int) -> None:
    term = Terminal([str(RECORDED_LOG), *([str(OTHER_LOG)] if logs == 2 else []), "--no-gpu"])
    try:
        term.read_until(b"run.log" if logs == 2 else b"nanogpt")
        term.proc.send_signal(sig)
        assert term.finish() == 128 + sig
        assert ALT_SCREEN_OFF in term.output[-200:]  # back from the alternate screen
        assert termios.tcgetattr(term.slave) == term.modes_before  # echo, canonical mode: as before
    finally:
        term.close()


# --- the TUI's keys when stdin is not the terminal -----------------------------------------


class _ClosedStdinTerminal(Terminal):
    """Terminal, with the program started on a closed stdin (`nanowatch LOG <&-`)."""

    def __init__(self, args: list[str]) -> None:
        import pty
        import struct
        import subprocess
        import sys

        from test_app import OWN_TERMINAL, fcntl

        self.master, self.slave = pty.openpty()
        fcntl.ioctl(self.slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        self.modes_before = termios.tcgetattr(self.slave)
        env = {**os.environ, "TERM": "xterm-256color", "TZ": "UTC"}
        closing = ["sh", "-c", 'exec "$@" <&-', "sh"]  # the shell closes stdin, then runs the program
        self.proc = subprocess.Popen([*closing, sys.executable, "-c", OWN_TERMINAL, *args], stdout=self.slave,
                                     stderr=self.slave, start_new_session=True, env=env)
        self.output = b""


@pytest.mark.parametrize("stdin", ["closed", "/dev/null"])
@pytest.mark.parametrize("logs", [1, 2], ids=["one-log", "runs-table"])
def test_keys_come_from_the_terminal_when_stdin_is_not_it(stdin: str, logs: int) -> None:
    args = [str(RECORDED_LOG), *([str(OTHER_LOG)] if logs == 2 else []), "--no-gpu"]
    null = os.open(os.devnull, os.O_RDONLY)
    term = _ClosedStdinTerminal(args) if stdin == "closed" else Terminal(args, stdin=null)
    os.close(null)
    try:
        term.read_until(b"run.log" if logs == 2 else b"nanogpt")
        os.write(term.master, b"q")
        assert term.finish() == 0
        assert b"Traceback" not in term.output and termios.tcgetattr(term.slave) == term.modes_before
    finally:
        term.close()
