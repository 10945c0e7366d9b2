"""The file follower and the stdin reader, against real writer processes in tmp_path.

Waits have a generous timeout so a broken follower fails instead of hanging; no test
asserts how fast anything happens (benchmarks/latency.py does).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from logwriter import Collector, Writer, iter_line, wait_for

from monitor.sources.problems import LoopFailed
from monitor.sources.stdin import StdinReader
from monitor.sources.tail import DELETED, ENDED, FOLLOWING, UNREADABLE, WAITING, Follower

#: "events": only inotify (sources.watch) wakes the reader (the safety poll is an hour);
#: "poll": only watchdog's polling observer does.
MODES = {
    "events": {"poll": False, "safety_poll_s": 3600.0},
    "poll": {"poll": True, "poll_interval_s": 0.05, "safety_poll_s": 3600.0},
}


class CountingClock:
    """A thread-safe fake clock: 1, 2, 3, … per call."""

    def __init__(self) -> None:
        self.n = 0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            self.n += 1
            return float(self.n)


def lines(*iters: int, step_ms: float = 100.0) -> list[bytes]:
    return [iter_line(i, step_ms).rstrip("\n").encode() for i in iters]


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[Writer]:
    w = Writer(tmp_path / "run.log")
    yield w
    w.close()


@pytest.fixture(params=sorted(MODES))
def follow(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator:
    started: list[Follower] = []

    def start(path: Path | None = None, **overrides: object) -> tuple[Follower, Collector]:
        got = Collector()
        options = {**MODES[request.param], **overrides}
        f = Follower(
            str(path or tmp_path / "run.log"), got.lines, got.error, CountingClock(),
            on_state=got.state, on_reset=got.reset, **options,  # type: ignore[arg-type]
        )
        f.start()
        started.append(f)
        wait_for(lambda: got.of("state"), what="the follower's first look at the file")
        return f, got

    yield start
    for f in started:
        f.stop()


def test_lines_already_there_have_no_time_appended_ones_do(follow, writer, tmp_path: Path) -> None:
    (tmp_path / "run.log").write_text(iter_line(0) + iter_line(10) + iter_line(20)[:9])
    _, got = follow()
    wait_for(lambda: len(got.texts()) == 2, what="the lines already in the file")
    writer("open")
    writer("write", iter_line(20)[9:] + iter_line(30))
    wait_for(lambda: len(got.texts()) == 4, what="the appended lines")
    assert got.texts() == lines(0, 10, 20, 30)
    times = got.times()
    assert times[:2] == [None, None]
    assert None not in times[2:]  # the partial line completed after start: it has arrived now
    assert got.of("state") == [FOLLOWING]
    assert got.of("reset") == [] and got.of("error") == []


def test_slow_writer(follow, writer) -> None:
    writer("open")
    _, got = follow()
    writer("lines", [iter_line(i) for i in range(0, 100, 10)], 0.02)
    wait_for(lambda: len(got.texts()) == 10, what="ten lines")
    assert got.texts() == lines(*range(0, 100, 10))
    assert None not in got.times()


def test_partial_line_waits_for_its_newline(follow, writer, tmp_path: Path) -> None:
    writer("open")
    f, got = follow(partial_settle_s=3600.0)
    writer("write", iter_line(0) + "iter 10: loss 4.99")
    size = (tmp_path / "run.log").stat().st_size
    wait_for(lambda: f.position == size, what="the follower to read the partial line")
    assert got.texts() == lines(0)
    writer("write", iter_line(10)[len("iter 10: loss 4.99"):])
    wait_for(lambda: len(got.texts()) == 2, what="the completed line")
    assert got.texts() == lines(0, 10)


def test_truncation_starts_over(follow, writer) -> None:
    writer("open")
    writer("lines", [iter_line(i) for i in (0, 10, 20, 30)])
    _, got = follow()
    wait_for(lambda: len(got.texts()) == 4, what="the first run")
    writer("rewrite")
    writer("write", iter_line(0))
    wait_for(lambda: len(got.texts()) == 5, what="the new run")
    writer("write", iter_line(10))
    wait_for(lambda: len(got.texts()) == 6, what="the new run's second line")
    assert got.texts() == lines(0, 10, 20, 30, 0, 10)
    assert got.kinds() == ["lines", "reset", "lines"]
    assert any("truncated" in str(m) for m in got.of("error"))


def test_rotation_reads_the_old_file_to_its_end_then_the_new_one(follow, writer, tmp_path: Path) -> None:
    writer("open")
    writer("write", iter_line(0))
    _, got = follow()
    wait_for(lambda: len(got.texts()) == 1, what="the first line")
    writer("write", iter_line(10))
    writer("rotate")
    writer("write", iter_line(0, 50.0))
    wait_for(lambda: len(got.texts()) == 3, what="the new file's line")
    assert got.texts() == lines(0, 10) + lines(0, step_ms=50.0)
    assert got.kinds() == ["lines", "reset", "lines"]
    assert (tmp_path / "run.log.1").read_bytes() == (iter_line(0) + iter_line(10)).encode()


def test_deleted_then_recreated_with_a_new_run(follow, writer) -> None:
    writer("open")
    writer("lines", [iter_line(0), iter_line(10)])
    _, got = follow()
    wait_for(lambda: len(got.texts()) == 2, what="the first lines")
    writer("delete")
    wait_for(lambda: DELETED in got.of("state"), what="the deletion")
    assert any("was deleted" in str(m) for m in got.of("error"))
    writer("open")
    writer("write", iter_line(0, 200.0) + iter_line(10, 200.0))
    wait_for(lambda: len(got.texts()) == 4, what="the recreated file")
    assert got.texts() == lines(0, 10) + lines(0, 10, step_ms=200.0)  # what was read is kept
    assert got.of("state") == [FOLLOWING, DELETED, FOLLOWING]
    assert got.kinds() == ["lines", "reset", "lines"]


def test_deleted_then_recreated_with_the_same_start_goes_on(follow, writer) -> None:
    writer("open")
    writer("lines", [iter_line(0), iter_line(10)])
    _, got = follow()
    wait_for(lambda: len(got.texts()) == 2, what="the first lines")
    writer("delete")
    wait_for(lambda: DELETED in got.of("state"), what="the deletion")
    writer("open")
    writer("write", iter_line(0) + iter_line(10) + iter_line(20))
    wait_for(lambda: len(got.texts()) == 3, what="the recreated file's new line")
    assert got.texts() == lines(0, 10, 20)
    assert got.of("reset") == []


def test_replaced_by_a_longer_copy_goes_on_where_it_was(follow, writer, tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    log.write_text(iter_line(0) + iter_line(10))
    _, got = follow()
    wait_for(lambda: len(got.texts()) == 2, what="the first lines")
    copy = tmp_path / "run.log.tmp"  # as rsync does: a new file renamed over the old one
    copy.write_text(iter_line(0) + iter_line(10) + iter_line(20))
    os.replace(copy, log)
    wait_for(lambda: len(got.texts()) == 3, what="the new line")
    assert got.texts() == lines(0, 10, 20)
    assert got.of("reset") == []


def test_replaced_by_a_new_run_that_starts_alike(follow, writer, tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    log.write_text(iter_line(0) + iter_line(10))
    _, got = follow()
    wait_for(lambda: len(got.texts()) == 2, what="the first lines")
    copy = tmp_path / "run.log.tmp"
    copy.write_text(iter_line(0))  # so far, the new file could still be a copy of the old one
    os.replace(copy, log)
    writer("open")
    writer("write", iter_line(10, 50.0))
    wait_for(lambda: len(got.texts()) == 4, what="the new run")
    assert got.texts() == lines(0, 10) + lines(0) + lines(10, step_ms=50.0)
    assert got.kinds() == ["lines", "reset", "lines"]


def test_replaced_by_a_new_run_that_starts_alike_and_goes_quiet(tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    log.write_text(iter_line(0) + iter_line(10))
    got = Collector()
    f = Follower(str(log), got.lines, got.error, CountingClock(), on_reset=got.reset, safety_poll_s=3600.0)
    f.start()
    try:
        wait_for(lambda: len(got.texts()) == 2, what="the first lines")
        copy = tmp_path / "run.log.tmp"
        copy.write_text(iter_line(0))
        os.replace(copy, log)
        wait_for(lambda: len(got.texts()) == 3, what="the new run, after the grace period")
    finally:
        f.stop()
    assert got.texts() == lines(0, 10, 0)
    assert got.kinds() == ["lines", "reset", "lines"]


def test_file_appearing_later(follow, writer) -> None:
    _, got = follow()
    wait_for(lambda: got.of("state") == [WAITING], what="the waiting state")
    writer("open")
    writer("lines", [iter_line(0), iter_line(10)])
    wait_for(lambda: len(got.texts()) == 2 and FOLLOWING in got.of("state"), what="the lines of the new file")
    assert got.texts() == lines(0, 10)
    assert None not in got.times()  # written after we started: they have arrival times
    assert got.of("state") == [WAITING, FOLLOWING]


def test_burst_is_batched_not_dropped(follow, writer) -> None:
    writer("open")
    _, got = follow()
    n = 20_000
    writer("lines", [iter_line(i) for i in range(n)])
    wait_for(lambda: len(got.texts()) == n, what=f"{n} lines")
    assert got.texts() == lines(*range(n))
    assert len(got.batches()) < n


def test_huge_start_is_read_in_chunks(tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    log.write_text("".join(iter_line(i) for i in range(1000)))
    got = Collector()
    f = Follower(str(log), got.lines, got.error, CountingClock(), chunk_bytes=4096)
    f.start()
    try:
        wait_for(lambda: len(got.texts()) == 1000, what="the whole file")
    finally:
        f.stop()
    assert got.texts() == lines(*range(1000))
    assert set(got.times()) == {None}
    assert len(got.batches()) > 10


def test_safety_poll_reads_what_no_event_reports(writer, tmp_path: Path) -> None:
    """A writer that keeps appending to a deleted file: no directory event, only the poll."""
    writer("open")
    writer("write", iter_line(0))
    got = Collector()
    f = Follower(str(tmp_path / "run.log"), got.lines, got.error, CountingClock(), on_state=got.state,
                 poll=True, poll_interval_s=3600.0, safety_poll_s=0.02)
    f.start()
    try:
        wait_for(lambda: len(got.texts()) == 1, what="the first line")
        writer("unlink")
        writer("write", iter_line(10))
        wait_for(lambda: len(got.texts()) == 2, what="the line written to the unlinked file")
    finally:
        f.stop()
    assert got.texts() == lines(0, 10)
    assert got.of("state") == [FOLLOWING, DELETED]


def test_a_directory_is_unreadable(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    got = Collector()
    f = Follower(str(tmp_path / "logs"), got.lines, got.error, CountingClock(), on_state=got.state)
    f.start()
    try:
        wait_for(lambda: got.of("error"), what="the error")
    finally:
        f.stop()
    assert got.of("state") == [UNREADABLE]
    assert got.of("error") == [f"{tmp_path / 'logs'}: is a directory, not a log file"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_permission_denied_is_said_once(tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    log.write_text(iter_line(0))
    log.chmod(0)
    got = Collector()
    f = Follower(str(log), got.lines, got.error, CountingClock(), on_state=got.state, safety_poll_s=0.01)
    f.start()
    try:
        wait_for(lambda: got.of("error"), what="the error")
        log.chmod(0o644)
        wait_for(lambda: got.texts() == lines(0), what="the line once readable")
    finally:
        f.stop()
    assert got.of("error") == [f"{log}: Permission denied"]


def test_stdin_pipe_lines_have_arrival_times_and_the_end_flushes_the_last_line() -> None:
    got = Collector()
    read_fd, write_fd = os.pipe()
    script = (
        "import os, sys, time\n"
        "for part in sys.argv[1:]:\n"
        "    os.write(1, part.encode()); time.sleep(0.01)\n"
    )
    parts = [iter_line(0), iter_line(10)[:5], iter_line(10)[5:], iter_line(20).rstrip("\n")]
    reader = StdinReader(got.lines, got.error, CountingClock(), fd=read_fd, on_state=got.state)
    reader.start()
    subprocess.run([sys.executable, "-c", script, *parts], stdout=write_fd, check=True)
    os.close(write_fd)
    wait_for(lambda: ENDED in got.of("state"), what="the end of input")
    os.close(read_fd)
    assert got.texts() == lines(0, 10, 20)
    assert None not in got.times()
    assert got.of("state") == [FOLLOWING, ENDED]


def test_stdin_pipe_partial_last_line_is_read_when_it_settles() -> None:
    """A piped writer that leaves its last line without a newline (field kind K): the line is
    read once it has not changed for the settle time, once, and the end of input adds nothing."""
    got = Collector()
    read_fd, write_fd = os.pipe()
    reader = StdinReader(got.lines, got.error, CountingClock(), fd=read_fd, on_state=got.state, partial_settle_s=0.1)
    reader.start()
    os.write(write_fd, (iter_line(0) + iter_line(10).rstrip("\n")).encode())
    wait_for(lambda: len(got.texts()) == 2, what="the settled last line")
    assert got.texts() == lines(0, 10)
    os.write(write_fd, b", more")  # it grows after all: the longer line follows when it settles
    wait_for(lambda: len(got.texts()) == 3, what="the grown last line")
    os.close(write_fd)
    wait_for(lambda: ENDED in got.of("state"), what="the end of input")
    os.close(read_fd)
    assert got.texts()[2] == iter_line(10).rstrip("\n").encode() + b", more"
    assert len(got.texts()) == 3
    assert None not in got.times()


def test_stdin_redirected_from_a_file_is_all_already_there(tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    log.write_text(iter_line(0) + iter_line(10))
    got = Collector()
    fd = os.open(log, os.O_RDONLY)
    reader = StdinReader(got.lines, got.error, CountingClock(), fd=fd, on_state=got.state)
    reader.start()
    wait_for(lambda: ENDED in got.of("state"), what="the end of input")
    os.close(fd)
    assert got.texts() == lines(0, 10)
    assert got.times() == [None, None]


def test_blocks_instead_of_batches(writer, tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    log.write_text("".join(iter_line(i) for i in range(1000)) + "iter 1000: lo")
    blocks: list[tuple[float | None, bytes]] = []
    lock = threading.Lock()

    def on_block(t: float | None, block: bytes) -> None:
        with lock:
            blocks.append((t, block))

    def text() -> bytes:
        with lock:
            return b"".join(b for _, b in blocks)

    got = Collector()
    f = Follower(str(log), got.lines, got.error, CountingClock(), on_state=got.state, on_block=on_block,
                 chunk_bytes=4096)
    f.start()
    try:
        wait_for(lambda: got.of("state") == [FOLLOWING], what="the file's content")
        assert text() == "".join(iter_line(i) for i in range(1000)).encode()
        assert {t for t, _ in blocks} == {None} and len(blocks) > 10
        writer("open")
        writer("write", iter_line(1000)[len("iter 1000: lo"):])
        wait_for(lambda: text().endswith(iter_line(1000).encode()), what="the completed line")
    finally:
        f.stop()
    assert blocks[-1] == (1.0, iter_line(1000).encode())
    assert got.batches() == []


def test_polls_when_file_system_events_are_unavailable(monkeypatch, writer, tmp_path: Path) -> None:
    import monitor.sources.watch

    def no_inotify() -> None:
        raise OSError(24, "Too many open files")

    monkeypatch.setattr(monitor.sources.watch, "INotify", no_inotify)
    monkeypatch.setattr(monitor.sources.watch, "Observer", no_inotify)
    monkeypatch.setattr(monitor.sources.watch, "_shared", [])  # none made yet: the shared one cannot be either
    got = Collector()
    f = Follower(str(tmp_path / "run.log"), got.lines, got.error, CountingClock(), on_state=got.state,
                 poll_interval_s=0.05, safety_poll_s=3600.0)
    f.start()
    try:
        wait_for(lambda: got.of("state"), what="the first look")
        writer("open")
        writer("lines", [iter_line(0), iter_line(10)])
        wait_for(lambda: len(got.texts()) == 2, what="the lines, by polling")
    finally:
        f.stop()
    assert got.texts() == lines(0, 10)
    assert got.of("error") == [f"no file-system events (Too many open files): polling {tmp_path / 'run.log'} instead"]


def test_an_unexpected_error_in_the_follower_is_said_once_and_following_goes_on(
        monkeypatch, writer, tmp_path: Path) -> None:
    """A bug in one pass of the reader thread reaches on_error as a LoopFailed (once, however
    often it repeats) and the next pass reads on: the thread never dies silently."""
    failures = {"left": 3}
    check = Follower.check

    def flaky_check(self: Follower, at_start: bool = False) -> None:
        if failures["left"]:
            failures["left"] -= 1
            raise KeyError("surprise")
        check(self, at_start)

    monkeypatch.setattr(Follower, "check", flaky_check)
    (tmp_path / "run.log").write_text(iter_line(0))
    got = Collector()
    f = Follower(str(tmp_path / "run.log"), got.lines, got.error, CountingClock(), safety_poll_s=0.02)
    f.start()
    try:
        wait_for(lambda: got.texts() == lines(0), what="the line, read once the passes stop failing")
        assert got.times() == [None]  # still a line that was there before the follower came
        writer("open")
        writer("write", iter_line(10))
        wait_for(lambda: got.texts() == lines(0, 10), what="an appended line")
    finally:
        f.stop()
    assert got.of("error") == [LoopFailed(f"follower of {tmp_path / 'run.log'}", "KeyError: 'surprise'")]


def test_an_unexpected_error_in_the_stdin_reader_is_said_and_reading_goes_on() -> None:
    read_fd, write_fd = os.pipe()
    got = Collector()
    calls = {"n": 0}

    def on_lines(batch: list[tuple[float | None, bytes]]) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise ValueError("a consumer bug")
        got.lines(batch)

    reader = StdinReader(on_lines, got.error, CountingClock(), fd=read_fd, on_state=got.state)
    reader.start()
    try:
        os.write(write_fd, iter_line(0).encode())
        wait_for(lambda: got.of("error"), what="the failure")
        os.write(write_fd, iter_line(10).encode())
        wait_for(lambda: got.texts() == lines(10), what="the next line")
    finally:
        os.close(write_fd)
    wait_for(lambda: got.of("state")[-1:] == [ENDED], what="the end of the input")
    os.close(read_fd)
    assert got.of("error") == [LoopFailed("stdin reader", "ValueError: a consumer bug")]


def test_the_watch_wakes_for_its_file_only(tmp_path: Path, monkeypatch) -> None:
    """inotify queues an event at the write itself, so `wait(0)` answers without timing: a
    checkpoint written beside the log wakes nobody; the log, a symlink's target, the directory
    removed and made again do."""
    from monitor.sources import watch as watch_module
    from monitor.sources.watch import DirWatch

    monkeypatch.setattr(watch_module, "OWN_INOTIFY_MAX", 1 << 30)  # an instance of its own, read by wait()

    (tmp_path / "runs").mkdir()
    target = tmp_path / "runs" / "real.log"
    log = tmp_path / "run.log"
    log.symlink_to(target)
    watch = DirWatch(str(log), lambda message: None, poll=False, poll_interval_s=1.0, safety_poll_s=3600.0)
    assert watch.start() is None
    try:
        watch.ensure()
        assert not watch.wait(0)
        (tmp_path / "ckpt.pt").write_bytes(b"x" * 100)
        (tmp_path / "runs" / "ckpt.pt").write_bytes(b"x" * 100)
        assert not watch.wait(0)
        target.write_text("iter 0: loss 1.0\n")
        assert watch.wait(0)
        assert not watch.wait(0)
        watch.wake()
        assert watch.wait(0)
        target.unlink()
        (tmp_path / "runs" / "ckpt.pt").unlink()
        (tmp_path / "runs").rmdir()
        assert watch.wait(0)  # its file, then the directory, gone
        (tmp_path / "runs").mkdir()
        watch.ensure()
        target.write_text("iter 0: loss 1.0\n")
        assert watch.wait(0)
        (tmp_path / "runs").rename(tmp_path / "runs.old")  # moved away: the file there is no longer ours
        assert watch.wait(0)
        (tmp_path / "runs.old" / "real.log").write_text("iter 1: loss 1.0\n")
        assert not watch.wait(0)
        (tmp_path / "runs").mkdir()
        watch.ensure()
        target.write_text("iter 0: loss 1.0\n")
        assert watch.wait(0)
    finally:
        watch.stop()


@pytest.mark.skipif(sys.platform != "linux", reason="inotify")
def test_a_watch_stopped_under_a_wait_ends_the_wait_instead_of_raising(tmp_path: Path, monkeypatch) -> None:
    """stop() closes the inotify instance when the follower's join timed out (a loaded machine, a
    process exiting on an error): the wait it was in returns instead of a thread traceback."""
    import select as select_module

    from monitor.sources import watch as watch_module
    from monitor.sources.watch import DirWatch

    log = tmp_path / "run.log"
    log.write_text("")
    monkeypatch.setattr(watch_module, "OWN_INOTIFY_MAX", 1 << 30)  # an instance of its own, read by wait()
    watch = DirWatch(str(log), lambda message: None, poll=False, poll_interval_s=1.0, safety_poll_s=3600.0)
    assert watch.start() is None
    watch.ensure()
    real_select = select_module.select

    def stopped_first(*args: object):
        watch.stop()  # as the main thread does, between the wait's look at the instance and its select
        return real_select(*args)

    monkeypatch.setattr(watch_module.select, "select", stopped_first)
    assert watch.wait(5.0) is True


@pytest.mark.skipif(sys.platform != "linux", reason="inotify")
def test_a_watch_whose_wake_pipe_cannot_open_polls_instead(tmp_path: Path, monkeypatch) -> None:
    """An inotify instance opened but no descriptor left for its wake pipe (EMFILE, many logs
    under a low `ulimit -n`): the watch polls, and its waits do not select on a pipe never made."""
    import errno

    from monitor.sources import watch as watch_module
    from monitor.sources.watch import DirWatch

    def no_descriptor(_flags: int) -> tuple[int, int]:
        raise OSError(errno.EMFILE, "Too many open files")

    log = tmp_path / "run.log"
    log.write_text("")
    monkeypatch.setattr(watch_module, "OWN_INOTIFY_MAX", 1 << 30)  # an instance of its own, with its pipe
    monkeypatch.setattr(watch_module.os, "pipe2", no_descriptor)
    watch = DirWatch(str(log), lambda message: None, poll=False, poll_interval_s=1.0, safety_poll_s=3600.0)
    notice = watch.start()
    try:
        assert notice is not None and "polling" in notice and "Too many open files" in notice
        watch.ensure()
        assert watch.wait(0) is False
        watch.wake()
        assert watch.wait(0) is True
    finally:
        watch.stop()


@pytest.mark.skipif(sys.platform != "linux", reason="inotify")
def test_watches_beyond_the_first_few_share_one_inotify_instance(tmp_path: Path, monkeypatch) -> None:
    """Many logs (200 took every inotify instance of the user, and the rest polled) share one
    instance, read on its own thread: a write wakes the watch of its file and no other, a
    directory gone and back is watched again, and the last watch out removes the watch."""
    from monitor.sources import watch as watch_module
    from monitor.sources.watch import DirWatch

    monkeypatch.setattr(watch_module, "OWN_INOTIFY_MAX", 0)
    (tmp_path / "runs").mkdir()
    logs = [tmp_path / "runs" / f"run{i}.log" for i in range(3)]
    watches = [DirWatch(str(log), lambda message: None, poll=False, poll_interval_s=1.0, safety_poll_s=3600.0)
               for log in logs]
    try:
        for watch in watches:
            assert watch.start() is None
            watch.ensure()
        shared = watch_module.shared_inotify()
        assert all(w._shared is shared and w._inotify is None for w in watches)
        assert len({wd for w in watches for wd in w._shared_wds.values()}) == 1  # one watch for the directory
        logs[1].write_text("iter 0: loss 1.0\n")
        assert watches[1].wait(5.0)
        assert not watches[0].wait(0) and not watches[2].wait(0)
        for log in logs:
            log.unlink(missing_ok=True)
        (tmp_path / "runs").rmdir()
        wait_for(lambda: all(not w._shared_wds for w in watches), what="each watch told its directory went")
        assert all(w.wait(0) for w in watches)
        (tmp_path / "runs").mkdir()
        for watch in watches:
            watch.ensure()
        logs[2].write_text("iter 0: loss 1.0\n")
        assert watches[2].wait(5.0)
    finally:
        for watch in watches:
            watch.stop()
    assert all(not subs for subs in shared._subs.values())


def test_the_shared_instance_wakes_only_the_watches_an_event_concerns() -> None:
    """SharedINotify's routing, event by event: a name in a watched directory wakes the watches
    of that file; a directory gone tells each of its watches; an overflow wakes every watch."""
    pytest.importorskip("inotify_simple")
    from inotify_simple import flags

    from monitor.sources.watch import SharedINotify

    class Watch:
        def __init__(self) -> None:
            self.woken, self.gone = 0, []

        def wake(self) -> None:
            self.woken += 1

        def dir_gone(self, wd: int) -> None:
            self.gone.append(wd)

    shared = SharedINotify.__new__(SharedINotify)  # its routing only: no instance, no thread
    shared._lock = threading.Lock()
    a, b, c = Watch(), Watch(), Watch()
    shared._subs = {1: {a: frozenset({"a.log"}), b: frozenset({"b.log"})}, 2: {c: frozenset({"a.log"})}}
    shared._dispatch([(1, flags.MODIFY, 0, "a.log"), (1, flags.MODIFY, 0, "ckpt.pt")])
    assert (a.woken, b.woken, c.woken) == (1, 0, 0)
    shared._dispatch([(2, flags.DELETE_SELF, 0, "")])
    assert (c.gone, c.woken, 2 in shared._subs) == ([2], 1, False)
    shared._dispatch([(0, flags.Q_OVERFLOW, 0, "")])
    assert (a.woken, b.woken, c.woken) == (2, 1, 1)


#: A copytruncate'd log's hole (the writer kept its offset): block-aligned, so no NULs precede its lines.
HOLE_BYTES = 64 << 20


def test_a_hole_left_by_copytruncate_is_passed_over_and_rewrites_are_still_seen(tmp_path: Path, monkeypatch) -> None:
    from monitor.sources.logfile import next_data

    log = tmp_path / "run.log"
    log.write_text("".join(iter_line(i) for i in range(3)))
    got = Collector()
    follower = Follower(str(log), got.lines, got.error, CountingClock(), on_reset=got.reset)
    follower.check(at_start=True)
    assert got.texts() == lines(0, 1, 2)
    with open(log, "r+b") as w:  # copytruncate: emptied, then written on at the writer's offset
        w.truncate(0)
        w.seek(HOLE_BYTES)
        w.write("".join(iter_line(i) for i in (3, 4)).encode())
    with open(log, "rb") as r:
        if next_data(r.fileno(), 0) == 0:
            pytest.skip("this file system does not say where a file's holes are")
    read: list[int] = []
    pread = os.pread

    def counted(fd: int, n: int, pos: int) -> bytes:
        data = pread(fd, n, pos)
        read.append(len(data))
        return data

    monkeypatch.setattr(os, "pread", counted)
    follower.check()
    assert got.kinds() == ["lines", "reset", "lines"]
    assert got.texts() == lines(0, 1, 2, 3, 4)
    assert sum(read) < 1 << 20  # the lines after the hole, not its 64 MiB of NULs
    with open(log, "ab") as w:  # the writer goes on: appended, not rewritten
        w.write(iter_line(5).encode())
    follower.check()
    assert got.texts() == lines(*range(6)) and len(got.of("reset")) == 1
    end = log.stat().st_size
    with open(log, "r+b") as w:  # the last line rewritten in place: a new run
        w.seek(end - len(iter_line(5)))
        w.write(iter_line(9).encode())
    os.utime(log, ns=(log.stat().st_atime_ns, log.stat().st_mtime_ns + 1_000_000))
    follower.check()
    assert len(got.of("reset")) == 2
