"""File names no UTF-8 decoder accepts (bytes 0xff, 0xfe, and 0x9b, a one-byte CSI) and files
that are not files (/dev/zero, /dev/null, a socket): every front end shows the name written
out (`\\xff`), JSON stays valid UTF-8, the metrics page is served, and a device is refused at
once with one line and exit 2 instead of being read for ever."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, SAMPLES

from monitor.cli import main
from monitor.core.report import Options
from monitor.core.sanitise import clean, unicode_safe
from monitor.session import Session
from monitor.sources.metrics import render

LOG = SAMPLES / "recorded" / "h200_gpt2_124M" / "run.log"
#: A name as the file system holds it: not UTF-8, with a C1 CSI byte and an ESC.
RAW_NAME = b"run\xff\xfe\x9b2J\x1b[31m.log"
#: The same name as Python hands it over (PEP 383: each undecodable byte a lone surrogate).
NAME = os.fsdecode(RAW_NAME)
SHOWN = "run\\xff\\xfe\\x9b2J\\x1b[31m.log"

pytestmark = pytest.mark.skipif(sys.getfilesystemencoding().lower() != "utf-8", reason="needs a UTF-8 file system")


@pytest.fixture
def log(tmp_path: Path) -> str:
    path = os.path.join(os.fsencode(tmp_path), RAW_NAME)
    with open(path, "wb") as f:
        f.write(LOG.read_bytes())
    return os.fsdecode(path)


def test_an_undecodable_byte_is_written_out_as_the_byte() -> None:
    assert clean(NAME) == SHOWN
    assert unicode_safe(NAME) == "run\\xff\\xfe\\x9b2J\x1b[31m.log"  # valid text; controls are JSON's to escape
    unicode_safe(NAME).encode("utf-8")  # no lone surrogate left
    assert clean("\ud800") == "\\ud800"  # a surrogate no decoder made is written out too


def test_once_summary_shows_the_name_written_out(log: str, capsysbinary) -> None:
    assert main([log, "--once"]) == 0
    out = capsysbinary.readouterr().out
    first = out.decode("utf-8").splitlines()[0]  # strict: raw 0xff or 0x9b would not decode
    assert first.endswith(f"{SHOWN} · nanogpt") and b"\x1b" not in out


def test_once_json_is_valid_utf8_with_the_name_written_out(log: str, capsysbinary) -> None:
    assert main([log, "--once", "--json"]) == 0
    out = capsysbinary.readouterr().out
    record = json.loads(out.decode("utf-8"))
    record_text = json.dumps(record, ensure_ascii=False)
    record_text.encode("utf-8")  # a lone surrogate (\udcff) would raise here: strict JSON readers refuse it
    assert record["source"].endswith("run\\xff\\xfe\\x9b2J\x1b[31m.log") and record["iter"] == 300


def test_jsonl_is_valid_utf8(log: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "monitor", log, "--jsonl", "--no-gpu"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    proc.kill()
    proc.communicate(timeout=30)
    record = json.loads(line.decode("utf-8"))
    json.dumps(record, ensure_ascii=False).encode("utf-8")
    assert record["iter"] == 300


def test_the_metrics_page_renders_an_undecodable_name() -> None:
    snap = Session(Options(source=NAME), lambda: 1_800_000_000.0).snapshot()
    page = render([snap])  # prometheus-client encodes UTF-8 strictly: a lone surrogate raised here
    assert f'log="{SHOWN.replace(chr(92), chr(92) * 2)}"' in page


def test_several_logs_with_undecodable_names(log: str, tmp_path: Path, capsysbinary) -> None:
    other = os.path.join(os.fsencode(tmp_path), b"b\xff.log")
    with open(other, "wb") as f:
        f.write(LOG.read_bytes())
    assert main([log, os.fsdecode(other), "--once", "--json"]) == 0
    records = [json.loads(line) for line in capsysbinary.readouterr().out.decode("utf-8").splitlines()]
    assert [r["source"].rsplit("/", 1)[-1] for r in records] == ["run\\xff\\xfe\\x9b2J\x1b[31m.log", "b\\xff.log"]


# --- not a file ----------------------------------------------------------------------------------


def _refused(argv: list[str]) -> str:
    """Run nanowatch in a child (a regression would read /dev/zero for ever: the timeout is only
    a guard) and return its one line on stderr."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "monitor", *argv], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 2 and done.stdout == "", (done.returncode, done.stderr[-500:])
    assert done.stderr.count("\n") == 1
    return done.stderr


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null", "/dev/urandom"])
def test_a_device_as_the_log_is_refused(device: str) -> None:
    if not os.path.exists(device):
        pytest.skip(f"no {device} here")
    assert _refused([device, "--once"]) == f"nanowatch: {device}: not a regular file; read it as stdin instead: " \
                                           f"nanowatch - < {device}\n"
    assert "not a regular file" in _refused(["replay", device, "--once"])


def test_a_device_as_the_gpu_log_or_the_times_is_refused_without_a_stdin_hint() -> None:
    err = _refused([str(LOG), "--once", "--gpu-log", "/dev/zero"])
    assert err == "nanowatch: error: argument --gpu-log: /dev/zero: not a regular file\n"
    err = _refused(["replay", str(LOG), "--once", "--times", "/dev/zero"])
    assert err == "nanowatch: /dev/zero: not a regular file\n"


def test_a_socket_as_the_log_is_refused(tmp_path: Path, capsys) -> None:
    path = tmp_path / "log.sock"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))
        assert main([str(path), "--once"]) == 2
    assert "not a regular file" in capsys.readouterr().err


def test_the_followers_notices_about_an_undecodable_name_are_valid_text(log: str) -> None:
    from monitor.sources.tail import Follower

    notices: list[str] = []
    follower = Follower(log, lambda *a: None, notices.append, lambda: 1e9)
    follower.check(at_start=True)
    os.remove(log)
    follower.check()  # deleted: said once, with the name written out
    assert notices and all(unicode_safe(NAME) in n for n in notices)
    for n in notices:
        n.encode("utf-8")  # a lone surrogate would raise: JSON warnings must be valid UTF-8
