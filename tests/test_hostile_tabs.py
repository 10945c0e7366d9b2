"""A tab in a file name is written out (`\\x09`) wherever the name reaches a terminal — the
`--once` head, stderr's one-line errors, the TUI header, the runs table, metrics labels — as
any other control character; `--jsonl` keeps the name raw, JSON-escaped (`\\t`). Log text
keeps its tabs: a fork's table lays out its columns with them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, SAMPLES, FakeClock
from test_app import sync, text_of
from tui_fakes import recorded, session_at, utc

from monitor.cli import main
from monitor.core.report import Options
from monitor.core.rows import run_row
from monitor.core.sanitise import clean, clean_name
from monitor.session import Session
from monitor.sources.metrics import render
from monitor.tui.app import make_app

LOG = SAMPLES / "recorded" / "compiled" / "run.log"


@pytest.fixture
def log(tmp_path: Path) -> Path:
    path = tmp_path / "a\tb.log"
    path.write_bytes(LOG.read_bytes())
    return path


def test_a_name_has_its_tab_written_out_and_log_text_keeps_it() -> None:
    assert clean_name("a\tb\x1b.log") == "a\\x09b\\x1b.log"
    assert clean("col1\tcol2") == "col1\tcol2"


def test_once_head_writes_the_tab_out(log: Path, capsys) -> None:
    assert main([str(log), "--once", "--no-gpu"]) == 0
    head = capsys.readouterr().out.splitlines()[0]
    assert head.endswith("a\\x09b.log · nanogpt") and "\t" not in head


def test_once_of_several_logs_writes_every_tab_out(log: Path, capsys) -> None:
    assert main([str(log), str(LOG), "--once", "--no-gpu"]) == 0
    out = capsys.readouterr().out
    assert "a\\x09b.log · nanogpt" in out and "\t" not in out


def test_an_error_about_a_name_writes_the_tab_out(tmp_path: Path, capsys) -> None:
    assert main([str(tmp_path / "no\tdir" / "run.log"), "--once"]) == 2
    err = capsys.readouterr().err
    assert err == f"nanowatch: {tmp_path}/no\\x09dir/run.log: no such file\n"


def test_jsonl_keeps_the_name_raw_and_json_escaped(log: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "monitor", str(log), "--jsonl", "--no-gpu"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    proc.kill()
    proc.communicate(timeout=30)
    assert b'a\\tb.log"' in line and json.loads(line)["source"] == str(log)


def test_the_runs_table_and_metrics_label_write_the_tab_out() -> None:
    snap = Session(Options(source="/x/a\tb.log"), lambda: 1_800_000_000.0).snapshot()
    assert run_row("a\tb.log", snap).cells()[0] == "a\\x09b.log"
    assert 'log="/x/a\\\\x09b.log"' in render([snap])


@sync
async def test_the_tui_header_writes_the_tab_out() -> None:
    with utc():
        app = make_app(session_at(recorded("compiled"), FakeClock(), source="/x/a\tb.log", gpus=None),
                       handle_signals=False)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            header = text_of(app.header_view)
            assert "/x/a\\x09b.log · nanogpt" in header and "\t" not in header
