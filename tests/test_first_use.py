"""First use, as a new user tries it: every command does what its help says (stdin with
--once, the demo's text front ends, help for every option, readable value errors, Ctrl-C)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import pytest
from conftest import SAMPLES
from test_app import RECORDED_LOG, Terminal, sync
from tui_fakes import utc

from monitor.cli import build_parsers
from monitor.core.snapshot import RECORD_KEYS

COMPILED = SAMPLES / "recorded/compiled/run.log"


def run_cli(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "monitor", *args], input=stdin, capture_output=True,
                          check=False, env={"TZ": "UTC", "PATH": "/usr/bin:/bin"})


# --- commands -------------------------------------------------------------------------------


def test_once_reads_stdin_to_its_end() -> None:
    proc = run_cli("-", "--once", "--no-gpu", stdin=COMPILED.read_bytes())
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.decode()
    assert out.startswith("nanowatch · stdin · nanogpt")  # as the TUI header names it
    assert "iter 5,000 / 5,000" in out and "finished" in out
    proc = run_cli("-", "--once", "--json", "--no-gpu", stdin=COMPILED.read_bytes())
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    assert list(record) == list(RECORD_KEYS)
    assert (record["source"], record["status"], record["iter"]) == ("-", "finished", 5000)


def test_once_from_stdin_matches_once_from_the_file() -> None:
    from_pipe = json.loads(run_cli("-", "--once", "--json", "--no-gpu", stdin=COMPILED.read_bytes()).stdout)
    from_file = json.loads(run_cli(str(COMPILED), "--once", "--json", "--no-gpu").stdout)
    same = {k for k in RECORD_KEYS if k not in ("t", "source")}
    assert {k: from_pipe[k] for k in same} == {k: from_file[k] for k in same}


def test_demo_once_and_jsonl_need_no_terminal() -> None:
    proc = run_cli("demo", "--once")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.decode()
    # a recording, not now; read whole, not played at a pace (it named one: "replay at 1.9×")
    assert "demo: H100 run recorded 2026-11-24" in out and "replay at" not in out
    assert "finished" in out and "iter 5,000 / 5,000" in out
    assert "gpu-log" in out  # the bundled GPU trace is read
    proc = run_cli("demo", "--jsonl", "--speed", "0", "--no-gpu")
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(records) > 100
    assert records[-1]["status"] == "finished" and records[-1]["gpu_count"] is None


def test_demo_name_says_replay_speed_and_clock() -> None:
    from monitor.sources.replay import bundled_demo

    with utc():
        demo = bundled_demo(4)
    assert demo.name == "demo: replay at 4×, H100 run recorded 2026-11-24"
    assert bundled_demo().speed == 1.9  # the 178 s run in about 90 s
    assert "replay at full speed" in bundled_demo(0).name
    assert bundled_demo(4, paced=False).name == "demo: H100 run recorded 2026-11-24"


def test_top_level_help_mentions_replay_and_demo() -> None:
    proc = run_cli("--help")
    assert proc.returncode == 0
    out = proc.stdout.decode()
    assert "nanowatch replay LOG" in out and "nanowatch demo" in out


@pytest.mark.parametrize("which", range(3), ids=["main", "replay", "demo"])
def test_every_option_has_help_text(which: int) -> None:
    parser = build_parsers()[which]
    missing = [a.dest for a in parser._actions if not a.help and not isinstance(a, argparse._HelpAction)]
    assert missing == []


@pytest.mark.parametrize("args", [["--price", "abc"], ["--pue", "x"], ["--gpu-interval", "1s"]])
def test_a_bad_number_says_so_without_internal_names(args: list[str]) -> None:
    proc = run_cli(str(COMPILED), "--once", *args)
    assert proc.returncode == 2 and proc.stdout == b""
    line = proc.stderr.decode().strip()
    assert "\n" not in line
    assert f"argument {args[0]}: expected a number: '{args[1]}'" in line
    assert "_positive_float" not in line and "invalid" not in line


def test_demo_speed_must_be_a_number() -> None:
    proc = run_cli("demo", "--speed", "fast")
    assert proc.returncode == 2
    assert "argument --speed: expected a number: 'fast'" in proc.stderr.decode()


# --- Ctrl-C ---------------------------------------------------------------------------------


@sync
async def test_ctrl_c_quits_the_tui_with_130() -> None:
    from conftest import FakeClock
    from tui_fakes import recorded, session_at

    from monitor.tui.app import make_app

    app = make_app(session_at(recorded("compiled")[:300], FakeClock()), handle_signals=False)
    async with app.run_test() as pilot:
        await pilot.press("question_mark")  # from the help screen too
        await pilot.press("ctrl+c")
        await pilot.pause()
    assert app.return_value == 130 and app.return_code == 130
    assert not app._notifications  # no "press ctrl+q to quit" toast


@sync
async def test_ctrl_c_quits_the_runs_table_with_130() -> None:
    from test_multi import _static_runs

    from monitor.tui.multi_app import make_multi_app

    app = make_multi_app(lambda wake, notice: _static_runs())  # type: ignore[arg-type,return-value]
    async with app.run_test() as pilot:
        await pilot.press("enter")  # from one run's screen too
        await pilot.press("ctrl+c")
        await pilot.pause()
    assert app.return_value == 130


def test_ctrl_c_in_a_terminal_exits_130() -> None:
    term = Terminal([str(RECORDED_LOG), "--no-gpu"])
    try:
        term.read_until(b"nanogpt")
        import os

        os.write(term.master, b"\x03")  # what the terminal sends for Ctrl-C in raw mode
        assert term.finish() == 130
        assert b"ctrl+q" not in term.output
    finally:
        term.close()
