"""The TUI with stderr sent elsewhere (`nanowatch run.log 2>err.log`, `2>/dev/null`): Textual
draws on stderr, so the screen went into the file and the terminal stayed blank while the app
ran unseen; it is drawn on the terminal of stdout, and the file gets none of it."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_app import OWN_TERMINAL, RECORDED_LOG, Terminal
from test_hostile_signals import OTHER_LOG

from monitor.tui.driver import screen_file


class _StderrToFile(Terminal):
    """Terminal, with the program's stderr written to `path` instead of the terminal."""

    def __init__(self, args: list[str], path: Path) -> None:
        super().__init__(["--version"])  # a pty and its sizes as Terminal sets them up
        self.proc.wait()
        self.output = b""
        with open(path, "wb") as err:
            env = {**os.environ, "TERM": "xterm-256color", "TZ": "UTC"}
            self.proc = subprocess.Popen([sys.executable, "-c", OWN_TERMINAL, *args], stdin=self.slave,
                                         stdout=self.slave, stderr=err, start_new_session=True, env=env)


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_screen_goes_where_the_terminal_is() -> None:
    terminal, elsewhere = _Tty(), io.StringIO()
    assert screen_file(terminal, _Tty()) is terminal  # Textual's own choice, stderr, where it is a terminal
    assert screen_file(elsewhere, terminal) is terminal
    assert screen_file(elsewhere, io.StringIO()) is elsewhere  # no terminal: the caller refuses before
    closed = io.StringIO()
    closed.close()
    assert screen_file(closed, terminal) is terminal
    assert screen_file(None, terminal) is terminal


@pytest.mark.parametrize("logs", [1, 2], ids=["one-log", "runs-table"])
def test_the_tui_is_drawn_on_the_terminal_when_stderr_goes_to_a_file(tmp_path: Path, logs: int) -> None:
    err = tmp_path / "err.log"
    args = [str(RECORDED_LOG), *([str(OTHER_LOG)] if logs == 2 else []), "--no-gpu"]
    term = _StderrToFile(args, err)
    try:
        term.read_until(b"run.log" if logs == 2 else b"nanogpt")
        os.write(term.master, b"q")
        assert term.finish() == 0
        assert b"\x1b[?1049h" in term.output and b"Traceback" not in term.output
        assert err.read_bytes() == b""
    finally:
        term.close()
