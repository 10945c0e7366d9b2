"""What a new user reads first: `--help` says how to start, which keys the screen takes and what
the exit codes mean; replay's `--once` says it plays the whole log; counts read as English."""

from __future__ import annotations

import pytest
from conftest import SAMPLES

from monitor.cli import main


def _help(argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as done:
        main([*argv, "--help"])
    assert done.value.code == 0
    return capsys.readouterr().out


def test_the_main_help_shows_how_to_start_the_keys_and_the_exit_codes(capsys) -> None:
    text = _help([], capsys)
    assert "tee run.log" in text and "q quits, ? shows" in text
    assert "exit codes: 0 ok, 2 bad usage or unreadable input" in text and "130 Ctrl-C" in text
    assert max(len(line) for line in text.splitlines()) <= 80


@pytest.mark.parametrize("command", ["replay", "demo"])
def test_replay_once_says_it_plays_the_whole_log(command: str, capsys) -> None:
    assert "play the whole log at once, print its summary" in _help([command], capsys)


def test_one_eval_is_one_eval(capsys) -> None:
    assert main([str(SAMPLES / "field" / "j1_llama2c.log"), "--once", "--no-gpu"]) == 0
    assert "(1 eval)" in capsys.readouterr().out


def test_a_finished_run_without_step_times_is_not_waiting_for_them(capsys) -> None:
    assert main([str(SAMPLES / "nanochat" / "chirag9127_speedrun_d20.log"), "--once", "--no-gpu"]) == 0
    out = capsys.readouterr().out
    assert "status    finished" in out and "step time unknown (the run printed no step times)" in out
