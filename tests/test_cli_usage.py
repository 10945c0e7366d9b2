"""What a new user types first: a missing LOG, a replay option given to the live command, and
several logs one of which can never be read; each is one line for a person and exit 2, said
before anything is printed or followed."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import SAMPLES

from monitor.cli import main
from monitor.core.report import Options
from monitor.multi import Runs
from monitor.session import Session

LOG = SAMPLES / "recorded" / "compiled" / "run.log"


@pytest.mark.parametrize(("argv", "said"), [
    ([], "which log? nanowatch LOG (nanowatch demo replays a bundled run; nanowatch --help)"),
    (["--once", "--no-gpu"], "which log? nanowatch LOG"),
    (["replay"], "which log? nanowatch replay LOG (nanowatch replay --help)"),
    (["replay", "--once"], "which log? nanowatch replay LOG"),
    ([str(LOG), "--speed", "2"], "unrecognized arguments: --speed 2 (--speed goes with nanowatch replay LOG)"),
    ([str(LOG), "--times=t", "--speed=0"], "(--times and --speed go with nanowatch replay LOG)"),
])
def test_usage_mistakes_say_what_to_type(capsys, argv: list[str], said: str) -> None:
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert said in err
    assert "LOG2" not in err  # the optional list of more logs is never called required


def _fifo(tmp_path: Path) -> Path:
    path = tmp_path / "pipe"
    os.mkfifo(path)
    return path


MODES = [["--once"], ["--once", "--json"], ["--jsonl"], []]


@pytest.mark.parametrize(("kind", "mode"), [*((k, m) for k in ("directory", "fifo") for m in MODES),
                                            ("missing", ["--once"]), ("missing", ["--once", "--json"])])
def test_several_logs_refuse_an_unreadable_one_before_anything(tmp_path: Path, capsys, mode: list[str],
                                                               kind: str) -> None:
    """The good log before it is neither summarised nor followed: nothing half-done, exit 2.
    A missing log is waited for when followed, refused by --once."""
    bad = {"directory": tmp_path, "fifo": _fifo(tmp_path), "missing": tmp_path / "later.log"}[kind]
    assert main([str(LOG), str(bad), *mode, "--no-gpu"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.startswith(f"nanowatch: {bad}: ")


def test_a_notice_of_several_logs_names_its_log_once(tmp_path: Path) -> None:
    """A follower's notice already names its file: the table's short name is not put before it
    (`a/run.log: /tmp/…/a/run.log: is a directory` said the path twice)."""
    later = tmp_path / "a" / "run.log"
    later.parent.mkdir()
    notices: list[str] = []
    woke = threading.Event()
    runs = Runs([str(later), str(LOG)], lambda p: Session(Options(source=p), time.time), wake=woke.set,
                on_notice=notices.append, poll=True)
    runs.start()
    try:
        later.mkdir()  # the awaited log turns out to be a directory
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any("is a directory" in n for n in notices):
            woke.wait(0.2)
            woke.clear()
            runs.drain()
    finally:
        runs.stop()
    said = next(n for n in notices if "is a directory" in n)
    assert said == f"{later}: is a directory, not a log file"


def test_a_library_that_is_not_there_is_said_missing_not_a_memory_limit(tmp_path: Path) -> None:
    """numpy missing (an install that is incomplete, or a site-packages this user cannot read)
    was said as "is ulimit -v too low?"."""
    fake = tmp_path / "numpy"
    fake.mkdir()
    (fake / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'numpy'\", name='numpy')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(Path(__file__).parent.parent)])}
    proc = subprocess.run([sys.executable, "-m", "monitor", str(LOG), "--once", "--no-gpu"], capture_output=True,
                          text=True, env=env, check=False)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("nanowatch: error: cannot load numpy: not installed")
    assert "ulimit" not in proc.stderr


def test_a_library_that_cannot_map_still_points_at_ulimit() -> None:
    from monitor.__main__ import load_failure

    try:
        raise ImportError("numpy failed") from OSError("libopenblas.so: failed to map segment from shared object")
    except ImportError as e:
        assert load_failure(e) == "cannot load (libopenblas.so: failed to map segment from shared object); " \
                                  "is ulimit -v too low?"
    assert load_failure(ModuleNotFoundError("No module named 'textual'", name="textual")).startswith(
        "cannot load textual: not installed for ")


def _never_a_log(tmp_path: Path, kind: str) -> str:
    (tmp_path / "file").write_text("")
    loop = tmp_path / "loop"
    if kind == "loop":
        os.symlink(tmp_path / "loop2", loop)
        os.symlink(loop, tmp_path / "loop2")
    return {"empty": "", "too long": str(tmp_path / ("a" * 300)), "through a file": str(tmp_path / "file" / "run.log"),
            "loop": str(loop)}[kind]


@pytest.mark.parametrize("mode", [["--once"], ["--jsonl"], []])
@pytest.mark.parametrize("kind", ["empty", "too long", "through a file", "loop"])
def test_a_name_no_log_can_ever_have_is_refused_not_waited_for(tmp_path: Path, capsys, kind: str,
                                                               mode: list[str]) -> None:
    """`--jsonl` and the TUI waited for ever for '', a 300-character name, a path through a file."""
    path = _never_a_log(tmp_path, kind)
    if mode:
        assert main([path, *mode, "--no-gpu"]) == 2
        out, err = capsys.readouterr()
    else:  # the TUI, in a process of its own (it takes SIGHUP): refused before it asks for a terminal
        proc = subprocess.run([sys.executable, "-m", "monitor", path, "--no-gpu"], capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)}, check=False)
        assert proc.returncode == 2
        out, err = proc.stdout, proc.stderr
    assert out == "" and err.count("\n") == 1
    said = {"empty": "the file name is empty" if mode == ["--once"] else "the log's name is empty",
            "too long": "File name too long", "through a file": "Not a directory",
            "loop": "Too many levels of symbolic links"}[kind]
    assert said in err


def test_a_log_not_there_yet_is_waited_for_even_behind_a_link(tmp_path: Path) -> None:
    from monitor.sources.logfile import check_followable

    os.symlink(tmp_path / "run-42.log", tmp_path / "latest.log")
    for path in ("-", str(tmp_path / "later.log"), str(tmp_path / "latest.log"), str(tmp_path / "new" / "run.log")):
        check_followable(path)  # no error: waited for


@pytest.mark.parametrize("command", ["replay", "demo"])
def test_replay_help_lists_only_what_a_replay_uses(capsys, command: str) -> None:
    """--gpu-source (refused by a replay) and --interval (a replay writes a record per line)
    are left out of its help, and still accepted so that a script passing them keeps working."""
    with pytest.raises(SystemExit) as e:
        main([command, "--help"])
    assert e.value.code == 0
    shown = capsys.readouterr().out
    assert "--gpu-source" not in shown and "--interval" not in shown and "--gpu-log" in shown
    assert main(["replay", str(LOG), "--once", "--no-gpu", "--speed", "0", "--interval", "2"]) == 0
    assert "finished" in capsys.readouterr().out
    assert main(["replay", str(LOG), "--once", "--gpu-source", "http://node:9400/metrics"]) == 2
    assert "a replay takes its GPU trace from --gpu-log" in capsys.readouterr().err


@pytest.mark.parametrize("mode", [["--once"], ["--jsonl"], []])
def test_a_replay_of_stdin_says_what_to_use(capsys, mode: list[str]) -> None:
    """It said `-: no such file`."""
    assert main(["replay", "-", *mode]) == 2
    assert capsys.readouterr().err == \
        "nanowatch: error: a replay plays a finished file, not stdin: nanowatch - follows a pipe\n"


@pytest.mark.parametrize("command", [[str(LOG), "--once"], [str(LOG), "--jsonl"], ["replay", str(LOG), "--once"],
                                     ["demo", "--once"]])
def test_gpu_log_and_no_gpu_together_are_refused(capsys, command: list[str]) -> None:
    """--no-gpu won silently: the GPU log given was never read."""
    assert main([*command, "--no-gpu", "--gpu-log", str(LOG)]) == 2
    assert capsys.readouterr().err == "nanowatch: error: --gpu-log goes without --no-gpu (which one?)\n"
