"""`nanowatch FILE --once` (and `--once --json`) on inputs nobody should have to think about:
a 50 MB line without a newline, binary, noise only, empty, a directory, an unreadable file,
a FIFO, and log lines full of Rich markup, ANSI/OSC escapes and control characters.
Unreadable input: one clear line on stderr and exit 2. Everything else: exit 0, text shown
as text, every good iteration counted."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.cli import EXIT_OK, EXIT_USAGE, main

ROOT = Path(__file__).resolve().parent.parent
# Any C0/C1 control other than the newline ending each printed line: none may reach a terminal.
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")

MARKUP = ["[bold]loud[/]", "[/]", "[link=https://example.com/x]click[/link]", "[@click=app.quit]quit[/]",
          "[red on white]x", "\\[escaped]"]
ESCAPES = ["\x1b]0;pwned title\x07", "\x1b]8;;https://example.com\x1b\\link\x1b]8;;\x1b\\", "\x1b[2J\x1b[H",
           "\x1b[31mred\x1b[0m", "\x1b[10A\x1b[5C", "\x1bc", "\x07\x08\x00\x7f\x9b"]


def run_once(path: Path | str, capsys, *extra: str) -> tuple[int, str, str]:
    code = main([str(path), "--once", "--no-gpu", *extra])
    out, err = capsys.readouterr()
    return code, out, err


def record(path: Path | str, capsys) -> dict:
    code, out, err = run_once(path, capsys, "--json")
    assert code == EXIT_OK, err
    assert len(out.splitlines()) == 1
    return json.loads(out)


def iter_line(step: int) -> str:
    return f"iter {step}: loss {4.0 - step / 1000:.4f}, time 12.50ms, mfu 30.00%"


# --- unreadable input: one line, exit 2 -----------------------------------------------------

def _assert_refused(path: Path | str, capsys, reason: str) -> None:
    for extra in ((), ("--json",)):
        code, out, err = run_once(path, capsys, *extra)
        assert code == EXIT_USAGE
        assert out == ""
        assert len(err.strip().splitlines()) == 1 and reason in err, err


def test_a_directory_is_refused(tmp_path: Path, capsys) -> None:
    _assert_refused(tmp_path, capsys, "is a directory")


def test_a_missing_file_is_refused(tmp_path: Path, capsys) -> None:
    _assert_refused(tmp_path / "nope.log", capsys, "no such file")


def test_a_file_without_read_permission_is_refused(tmp_path: Path, capsys) -> None:
    log = tmp_path / "secret.log"
    log.write_text(iter_line(0) + "\n")
    log.chmod(0)
    try:
        if os.access(log, os.R_OK):
            pytest.skip("running as a user who can read any file (root)")
        _assert_refused(log, capsys, "permission denied")
    finally:
        log.chmod(0o600)


def test_a_fifo_is_refused_without_blocking(tmp_path: Path, capsys) -> None:
    fifo = tmp_path / "pipe.log"
    os.mkfifo(fifo)
    _assert_refused(fifo, capsys, "FIFO")  # no writer: reading it would wait forever


def test_a_control_character_in_the_file_name_is_written_out(tmp_path: Path, capsys) -> None:
    code, out, err = run_once(tmp_path / "a\x1b]0;x\x07b.log", capsys)
    assert code == EXIT_USAGE and "\x1b" not in err and "\\x1b" in err
    log = tmp_path / "c\x1b[2Jd.log"
    log.write_text(iter_line(0) + "\n")
    code, out, err = run_once(log, capsys)
    assert code == EXIT_OK and not _CONTROL.search(out) and "c\\x1b[2Jd.log" in out


# --- odd but readable input: exit 0 ---------------------------------------------------------

def test_an_empty_file(tmp_path: Path, capsys) -> None:
    log = tmp_path / "empty.log"
    log.write_bytes(b"")
    rec = record(log, capsys)
    assert (rec["status"], rec["iter"], rec["format"]) == ("starting", None, None)
    code, out, _ = run_once(log, capsys)
    assert code == EXIT_OK and "no training step logged yet" in out


def test_a_binary_file(tmp_path: Path, capsys) -> None:
    log = tmp_path / "model.bin"
    log.write_bytes(random.Random(7).randbytes(1 << 20))
    rec = record(log, capsys)
    assert rec["iter"] is None and rec["status"] == "starting"
    code, out, _ = run_once(log, capsys)
    assert code == EXIT_OK and not _CONTROL.search(out)


def test_a_log_of_only_noise(tmp_path: Path, capsys) -> None:
    rng = random.Random(3)
    words = ["loading", "shard", "ok", "tokens", "epoch", "warning:", "iteration", "loss", "time"]
    log = tmp_path / "noise.log"
    log.write_text("\n".join(" ".join(rng.choice(words) for _ in range(8)) for _ in range(5000)) + "\n")
    rec = record(log, capsys)
    assert rec["iter"] is None and rec["format"] is None


def test_a_50_mb_line_without_a_newline(tmp_path: Path, capsys) -> None:
    log = tmp_path / "one_line.log"
    with open(log, "wb") as f:
        f.write(b"\n".join(iter_line(i).encode() for i in range(3)) + b"\n")
        f.writelines(b"x" * (1 << 20) for _ in range(50))
    rec = record(log, capsys)
    assert (rec["iter"], rec["status"]) == (2, "training")


def test_a_50_mb_progress_bar_keeps_the_line_after_its_last_carriage_return(tmp_path: Path, capsys) -> None:
    # tqdm redraws one line with \r; what follows the last \r is what the terminal shows.
    bar = b"\r" + b"train  42%|####      | 4242/10000 [00:42<00:58, 100.00it/s]" * 8
    log = tmp_path / "bar.log"
    with open(log, "wb") as f:
        f.write(iter_line(0).encode() + b"\n")
        f.writelines(bar for _ in range(50 * (1 << 20) // len(bar)))
        f.write(b"\r" + iter_line(1).encode() + b"\n" + iter_line(2).encode() + b"\n")
    rec = record(log, capsys)
    assert rec["iter"] == 2


# --- hostile text inside log lines ---------------------------------------------------------

def hostile_log(path: Path, steps: int = 300) -> list[str]:
    """Good iteration lines with markup, escapes and control characters around and inside
    the lines between them; ends with an error line full of markup."""
    rng = random.Random(11)
    lines = ["Overriding config with config/[bold]evil[/].py:", "max_iters = 1000", f"out_dir = '{MARKUP[2]}'"]
    for step in range(steps):
        junk = "".join(rng.choice(MARKUP + ESCAPES) for _ in range(rng.randint(0, 4)))
        lines.append(junk + "noise " + junk)
        # Escapes around a good line are stripped before parsing: it still counts.
        lines.append(rng.choice(["", "\x1b[32m", "\x1b]0;t\x07"]) + iter_line(step) + rng.choice(["", "\x1b[0m"]))
        if step % 50 == 0:
            lines.append(f"saving checkpoint to {rng.choice(MARKUP)}{rng.choice(ESCAPES)}")
    lines.append(f"RuntimeError: {MARKUP[0]} {MARKUP[3]} {ESCAPES[0]}{MARKUP[2]} \x1b[31mred\x1b[0m\x07")
    path.write_bytes("\n".join(lines).encode("utf-8", "surrogateescape") + b"\n")
    return lines


def test_markup_and_escapes_are_shown_as_text_and_every_iteration_counts(tmp_path: Path, capsys) -> None:
    log = tmp_path / "hostile.log"
    hostile_log(log, steps=300)
    rec = record(log, capsys)
    assert rec["iter"] == 299 and rec["status"] == "crashed"
    code, out, _ = run_once(log, capsys)
    assert code == EXIT_OK
    assert not _CONTROL.search(out), repr(out)
    assert "300 steps logged" in out
    # The error line reads as it was printed, markup and all, with the escapes gone.
    assert f"RuntimeError: {MARKUP[0]} {MARKUP[3]} {MARKUP[2]} red" in out


def test_the_process_writes_no_escape_bytes(tmp_path: Path) -> None:
    """End to end through a real process: stdout's bytes, not a decoded string."""
    log = tmp_path / "hostile.log"
    hostile_log(log, steps=50)
    for extra in ([], ["--json"]):
        done = subprocess.run([sys.executable, "-m", "monitor", str(log), "--once", "--no-gpu", *extra],
                              capture_output=True, cwd=ROOT, timeout=60, check=False)
        assert done.returncode == EXIT_OK, done.stderr
        assert b"\x1b" not in done.stdout and b"\x07" not in done.stdout and b"\x9b" not in done.stdout
    assert json.loads(done.stdout)["iter"] == 49


def test_a_log_deleted_between_the_check_and_the_read(tmp_path: Path, capsys, monkeypatch) -> None:
    from monitor.sources import logfile

    log = tmp_path / "gone.log"
    log.write_text(iter_line(0) + "\n")
    check = logfile.check_regular

    def check_then_delete(path: str) -> os.stat_result:
        st = check(path)
        if log.exists():
            log.unlink()  # the log rotated away just after it was looked at
        return st

    monkeypatch.setattr(logfile, "check_regular", check_then_delete)
    _assert_refused(log, capsys, "gone.log")
