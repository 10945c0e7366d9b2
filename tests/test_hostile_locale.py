"""A terminal whose encoding is not UTF-8 (PYTHONUTF8=0 under LANG=C, a Latin-1 locale,
PYTHONIOENCODING=ascii): the text front ends say their symbols in ASCII instead of failing with a
UnicodeEncodeError, names on stderr are written out, and the TUI is refused in one line."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest
from conftest import ROOT, SAMPLES

from monitor.arguments import UsageError
from monitor.cli import check_unicode_terminal

LOG = SAMPLES / "recorded" / "compiled" / "run.log"


def _run(args: list[str], encoding: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONIOENCODING": encoding, "LC_ALL": "C", "PYTHONUTF8": "0"}
    return subprocess.run([sys.executable, "-m", "monitor", *args], cwd=ROOT, env=env, capture_output=True,
                          timeout=60, check=False)


@pytest.mark.parametrize("args", [[str(LOG), "--once", "--no-gpu"], ["--help"],
                                  ["replay", str(LOG), "--once", "--speed", "0", "--no-gpu"]])
def test_the_text_front_ends_speak_ascii_to_an_ascii_terminal(args: list[str]) -> None:
    proc = _run(args, "ascii")
    assert proc.returncode == 0, proc.stderr
    assert b"Traceback" not in proc.stderr and proc.stdout.isascii()
    if "--help" not in args:
        assert b"iter 5,000 / 5,000 - 100.0% - 0 left" in proc.stdout


def test_a_latin1_terminal_gets_what_latin1_has_and_ascii_for_the_rest() -> None:
    proc = _run([str(LOG), "--once", "--no-gpu"], "latin-1")
    assert proc.returncode == 0 and "iter 5,000 / 5,000 · 100.0%".encode("latin-1") in proc.stdout
    assert b"~ 2 m" in proc.stdout  # ≈ is not in Latin-1


def test_a_name_on_stderr_is_written_out_not_transliterated() -> None:
    proc = _run(["x\u2192.log", "--once"], "ascii")  # under LC_ALL=C the argument is its bytes
    assert proc.returncode == 2 and proc.stderr == b"nanowatch: x\\xe2\\x86\\x92.log: no such file\n"


@pytest.mark.parametrize(("encoding", "refused"), [("ascii", True), ("latin-1", True), ("utf-8", False),
                                                    ("UTF8", False), ("no-such-codec", True)])
def test_the_tui_needs_a_unicode_terminal(monkeypatch, encoding: str, refused: bool) -> None:
    fake = type("Stream", (), {"encoding": encoding})()
    monkeypatch.setattr(sys, "__stderr__", fake)
    if refused:
        with pytest.raises(UsageError, match="use a UTF-8 locale"):
            check_unicode_terminal()
    else:
        check_unicode_terminal()


@pytest.mark.parametrize("logs", [1, 2], ids=["one-log", "runs-table"])
def test_a_dumb_terminal_is_refused_the_tui_in_one_line(logs: int) -> None:
    """Emacs' M-x shell says TERM=dumb: the TUI's escape sequences would be its text."""
    import pty

    master, slave = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TERM": "dumb"}
    try:
        logs_given = [str(LOG), str(SAMPLES / "recorded" / "interrupted" / "run.log")][:logs]
        proc = subprocess.run([sys.executable, "-m", "monitor", *logs_given, "--no-gpu"],
                              cwd=ROOT, env=env, stdin=slave, stdout=slave, stderr=subprocess.PIPE, timeout=60,
                              check=False)
    finally:
        os.close(master)
        os.close(slave)
    assert proc.returncode == 2
    assert proc.stderr.decode().startswith("nanowatch: error: TERM=dumb: this terminal cannot draw the TUI; use --once")
    assert proc.stderr.count(b"\n") == 1


def test_a_dumb_terminal_still_gets_once() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TERM": "dumb"}
    proc = subprocess.run([sys.executable, "-m", "monitor", str(LOG), "--once", "--no-gpu"], cwd=ROOT, env=env,
                          capture_output=True, timeout=60, check=False)
    assert proc.returncode == 0 and b"iter 5,000 / 5,000" in proc.stdout


def _refused(monkeypatch, name: str, value: str) -> str:
    """The UsageError check_unicode_terminal() raises with `name`=`value` set: one line, no escape."""
    from monitor import cli

    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.setenv(name, value)
    with pytest.raises(cli.UsageError) as e:
        cli.check_unicode_terminal()
    message = str(e.value)
    assert "\x1b" not in message and "\n" not in message
    return message


@pytest.mark.parametrize("value", ["bogus", "16", "", "\x1b]0;x\x07"])
def test_a_colour_system_textual_does_not_know_is_refused_in_one_line(monkeypatch, value: str) -> None:
    """Textual hands TEXTUAL_COLOR_SYSTEM to rich's Console, which raised KeyError: a traceback."""
    message = _refused(monkeypatch, "TEXTUAL_COLOR_SYSTEM", value)
    assert message.startswith("TEXTUAL_COLOR_SYSTEM=") and "not a colour system Textual knows" in message


@pytest.mark.parametrize("value", ["auto", "standard", "256", "truecolor"])
def test_the_colour_systems_textual_knows_are_taken(monkeypatch, value: str) -> None:
    from monitor import cli

    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.setenv("TEXTUAL_COLOR_SYSTEM", value)
    monkeypatch.setattr(sys, "__stderr__", io.TextIOWrapper(io.BytesIO(), encoding="utf-8"))
    cli.check_unicode_terminal()


@pytest.mark.parametrize("value", ["os:getcwd", "os:no_such_name", "collections:OrderedDict", "no_such_module:X", ":",
                                   "\x1b]0;x\x07:Driver"])
def test_a_textual_driver_that_cannot_be_loaded_is_refused_in_one_line(monkeypatch, value: str) -> None:
    """Textual imports TEXTUAL_DRIVER's `module:Class` itself: `os:getcwd` was a traceback (exit 1), a
    module not there was blamed on the install ("reinstall nanowatch")."""
    message = _refused(monkeypatch, "TEXTUAL_DRIVER", value)
    assert message.startswith("TEXTUAL_DRIVER=") and "not a Textual driver class" in message


def test_a_textual_driver_that_loads_is_taken(monkeypatch) -> None:
    from monitor import cli

    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.setenv("TEXTUAL_DRIVER", "textual.drivers.headless_driver:HeadlessDriver")
    monkeypatch.setattr(sys, "__stderr__", io.TextIOWrapper(io.BytesIO(), encoding="utf-8"))
    cli.check_unicode_terminal()
