"""A log whose reads fail mid-way (EIO from a failing disk or a network file system): the follower
says so once, the log reads `unreadable` with a lasting warning (in the record's `warnings`, not only
a note) until a read gets through, and then goes on where it was: no line lost, none read twice."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from conftest import FakeClock
from logwriter import Collector, iter_line

from monitor.core.report import Options
from monitor.inbox import SourceChanged, SourceFailed
from monitor.session import Session
from monitor.sources import tail
from monitor.sources.tail import FOLLOWING, UNREADABLE, Follower


def test_reads_that_fail_then_get_through_lose_no_line(tmp_path: Path, monkeypatch) -> None:
    log = tmp_path / "run.log"
    log.write_text("".join(iter_line(i) for i in range(5)))
    got = Collector()
    f = Follower(str(log), got.lines, got.error, FakeClock(), on_state=got.state)
    real = os.pread
    failing = [False]

    def pread(fd: int, n: int, at: int) -> bytes:
        if failing[0]:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return real(fd, n, at)

    monkeypatch.setattr(tail.os, "pread", pread)
    f.check(at_start=True)
    failing[0] = True
    with log.open("a") as out:
        out.write("".join(iter_line(i) for i in range(5, 10)))
    for _ in range(3):  # every check tries again; said once
        f.check()
    assert got.of("state") == [FOLLOWING, UNREADABLE]
    assert got.of("error") == [f"{log}: read failed: {os.strerror(errno.EIO)}"]
    failing[0] = False
    f.check()
    assert got.of("state") == [FOLLOWING, UNREADABLE, FOLLOWING]
    assert got.texts() == [iter_line(i).rstrip("\n").encode() for i in range(10)]


def test_a_log_that_fails_from_its_first_read_is_not_following(tmp_path: Path, monkeypatch) -> None:
    log = tmp_path / "run.log"
    log.write_text(iter_line(0))
    got = Collector()
    f = Follower(str(log), got.lines, got.error, FakeClock(), on_state=got.state)
    monkeypatch.setattr(tail.os, "pread", lambda fd, n, at: (_ for _ in ()).throw(OSError(errno.EIO, "Input/output error")))
    f.check(at_start=True)
    f.check()
    assert got.of("state") == [UNREADABLE]


def test_an_unreadable_log_is_a_warning_in_the_record_until_it_reads_again() -> None:
    s = Session(Options(source="run.log"), FakeClock())
    said = "run.log: read failed: Input/output error"
    s.ingest([SourceChanged("following"), SourceChanged("unreadable"), SourceFailed(said)])
    assert said in s.snapshot().warnings
    s.ingest([SourceChanged("following")])
    assert said not in s.snapshot().warnings


def test_once_keeps_what_was_read_before_a_read_failed(tmp_path: Path, monkeypatch, capsys) -> None:
    import json

    from monitor import offline
    from monitor.cli import main
    from monitor.sources.logfile import LogError

    log = tmp_path / "run.log"
    good = "".join(iter_line(i) for i in range(20)).encode()
    log.write_bytes(good)

    def failing(path: str):
        yield good
        raise LogError(f"{path}: Input/output error")

    monkeypatch.setattr(offline, "read_blocks", failing)
    assert main([str(log), "--once", "--json", "--no-gpu"]) == 2
    out, err = capsys.readouterr()
    record = json.loads(out)
    assert record["iter"] == 19  # every good step kept
    said = f"{log}: Input/output error after {len(good):,} bytes: this is what came before"
    assert said in record["warnings"]
    assert err == f"nanowatch: {log}: Input/output error\n"

    def at_once(path: str):
        raise LogError(f"{path}: Input/output error")
        yield b""

    monkeypatch.setattr(offline, "read_blocks", at_once)
    assert main([str(log), "--once", "--no-gpu"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == f"nanowatch: {log}: Input/output error\n"
