"""`-` with the keyboard on stdin (no pipe: `nanowatch - --jsonl` typed alone) is refused in one
line with the pipe to write, by every front end, instead of waiting on the keyboard."""

from __future__ import annotations

import os
import pty
import subprocess
import sys

import pytest
from conftest import ROOT


@pytest.mark.parametrize(("extra", "said"), [
    (["--jsonl"], "python train.py | nanowatch - --jsonl"),
    (["--once"], "cat run.log | nanowatch - --once"),
])
def test_a_terminal_on_stdin_is_refused_with_the_pipe_to_write(extra: list[str], said: str) -> None:
    leader, follower = pty.openpty()
    try:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        done = subprocess.run([sys.executable, "-m", "monitor", "-", "--no-gpu", *extra], stdin=follower,
                              capture_output=True, text=True, env=env, timeout=60, check=False)
    finally:
        os.close(leader)
        os.close(follower)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == f"nanowatch: error: '-' reads the log from a pipe: {said}\n"
