"""stdout that fails: a pipe closed after one line (`| head -1`) ends every mode quietly with 0,
a full disk (/dev/full) is said in one line with exit 2, in every mode, --help and --version too."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import ROOT, SAMPLES

LOG = SAMPLES / "recorded" / "compiled" / "run.log"
OTHER = SAMPLES / "recorded" / "interrupted" / "run.log"
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}

MODES = {
    "live --jsonl": [str(LOG), "--jsonl", "--no-gpu", "--interval", "0.01"],
    "several --jsonl": [str(LOG), str(OTHER), "--jsonl", "--no-gpu", "--interval", "0.01"],
    "several --once": [str(LOG), str(OTHER), "--once", "--no-gpu"],
    "replay --jsonl": ["replay", str(LOG), "--jsonl", "--speed", "0", "--no-gpu"],
    "demo --jsonl": ["demo", "--jsonl", "--speed", "0"],
    "--help": ["--help"],
    "replay --help": ["replay", "--help"],
}


@pytest.mark.parametrize("mode", list(MODES))
def test_a_pipe_closed_after_one_line_ends_quietly(mode: str) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "monitor", *MODES[mode]], cwd=ROOT, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()  # as `| head -1` does
    assert proc.wait(timeout=60) == 0
    assert proc.stderr.read() == b""


@pytest.mark.parametrize("mode", [*MODES, "--version", "--once"])
def test_a_full_disk_is_said_in_one_line(mode: str) -> None:
    args = {"--version": ["--version"], "--once": [str(LOG), "--once", "--no-gpu"]}.get(mode) or MODES[mode]
    with open("/dev/full", "wb") as full:
        proc = subprocess.run([sys.executable, "-m", "monitor", *args], cwd=ROOT, env=ENV, stdout=full,
                              stderr=subprocess.PIPE, timeout=60, check=False)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == b"nanowatch: error: No space left on device\n"
