"""A name that is not a log says what to type instead: a directory names its newest log, a quoted
shell pattern the files it matches (refused at once, not waited for as a literal name). (`--once`
calls stdin `stdin`, as the TUI does: tests/test_first_use.py.)"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import SAMPLES

from monitor.cli import main
from monitor.sources.logfile import LogError, check_followable, check_readable

LOG = SAMPLES / "recorded" / "compiled" / "run.log"


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    for i, name in enumerate(["old.log", "notes.md", "slurm-42.out", "newest.txt"]):
        path = tmp_path / name
        path.write_bytes(LOG.read_bytes())
        os.utime(path, (1_700_000_000 + i, 1_700_000_000 + i))
    (tmp_path / "sub.log").mkdir(0o755)  # a directory named like a log is not one
    os.utime(tmp_path / "sub.log", (1_800_000_000, 1_800_000_000))
    return tmp_path


@pytest.mark.parametrize("extra", [[], ["--once"]])
def test_a_directory_names_its_newest_log(runs: Path, extra: list[str], capsys) -> None:
    assert main([str(runs), *extra]) == 2
    assert capsys.readouterr().err == (f"nanowatch: {runs}: is a directory, not a log file; "
                                       f"its newest log: nanowatch {runs}/newest.txt\n")


def test_a_directory_without_logs_says_only_what_it_is(tmp_path: Path, capsys) -> None:
    assert main([str(tmp_path), "--once"]) == 2
    assert capsys.readouterr().err == f"nanowatch: {tmp_path}: is a directory, not a log file\n"


@pytest.mark.parametrize("extra", [[], ["--once"], ["--jsonl"]])
def test_a_quoted_pattern_names_its_files_and_is_not_waited_for(runs: Path, extra: list[str], capsys) -> None:
    assert main([f"{runs}/*.log", *extra]) == 2
    assert capsys.readouterr().err == (f"nanowatch: {runs}/*.log: no such file; as a pattern it matches "
                                       f"{runs}/old.log: leave out the quotes and the shell passes them\n")


def test_a_pattern_that_matches_nothing_is_a_name_to_wait_for(tmp_path: Path) -> None:
    check_followable(str(tmp_path / "run-[0-9].log"))  # no error: a log may be called that
    with pytest.raises(LogError, match="no such file$"):
        check_readable(str(tmp_path / "run-[0-9].log"))



@pytest.mark.parametrize(("second", "said"), [("{d}/old.log", "{d}/old.log"),
                                              ("{d}/../{n}/old.log", "{d}/old.log (and as {d}/../{n}/old.log)")])
def test_a_log_given_twice_is_named(runs: Path, second: str, said: str, capsys) -> None:
    d, n = str(runs), runs.name
    assert main([f"{d}/old.log", second.format(d=d, n=n), "--once"]) == 2
    assert capsys.readouterr().err == f"nanowatch: error: a log is given twice: {said.format(d=d, n=n)}\n"


@pytest.fixture
def dashed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "-run.log").write_bytes(LOG.read_bytes())
    (tmp_path / "b.log").write_bytes(LOG.read_bytes())
    monkeypatch.chdir(tmp_path)
    return "-run.log"


def test_a_name_that_starts_with_a_dash_says_how_to_give_it(dashed: str, capsys) -> None:
    assert main([dashed, "--once"]) == 2
    assert capsys.readouterr().err == ("nanowatch: error: -run.log reads as an option: give the log as ./-run.log, "
                                       "or after --: nanowatch -- -run.log\n")


@pytest.mark.parametrize("argv", [["--once", "--no-gpu", "--", "-run.log"],
                                  ["b.log", "--once", "--no-gpu", "--", "-run.log"],
                                  ["./-run.log", "--once", "--no-gpu"]])
def test_after_a_double_dash_every_word_is_a_log(dashed: str, argv: list[str], capsys) -> None:
    assert main(argv) == 0
    heads = [line for line in capsys.readouterr().out.splitlines() if line.startswith("nanowatch · ")]
    assert heads[-1].startswith(f"nanowatch · {'./' if argv[0] == './-run.log' else ''}-run.log · nanogpt")
    assert len(heads) == argv.count("b.log") + 1
