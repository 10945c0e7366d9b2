"""The log's writer process: found and its exit seen (an injected process table and clock),
and a run whose writer exited without a finish line or traceback reads "interrupted" within
seconds, checked on a real SIGTERM-killed run replayed (sample_logs/recorded/h200b_sigterm_midway)."""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path

import pytest
from conftest import SAMPLES

from monitor.core.report import WRITER_SETTLE_S, Options
from monitor.live import Sources, watch_gpus
from monitor.session import Session
from monitor.sources.writer import (
    SCAN_FIRST_S,
    SCAN_MAX_S,
    WatchLoop,
    WriterExited,
    WriterFound,
    WriterWatch,
    process_alive,
)

SIGTERM_RUN = SAMPLES / "recorded" / "h200b_sigterm_midway"


class Table:
    """A process table: which PIDs write the log, which are alive; every look counted."""

    def __init__(self) -> None:
        self.writers: set[int] = set()
        self.alive: set[int] = set()
        self.scans = 0

    def find(self) -> set[int]:
        self.scans += 1
        return set(self.writers)

    def is_alive(self, pid: int) -> bool:
        return pid in self.alive


def watch(table: Table, now: list[float]) -> tuple[WriterWatch, list[object]]:
    events: list[object] = []
    return WriterWatch(table.find, table.is_alive, lambda: now[0], events.append, events.append), events


def test_the_writer_is_found_and_its_exit_told_once() -> None:
    table, now = Table(), [100.0]
    w, events = watch(table, now)
    table.writers = table.alive = {41, 40}
    w.tick()
    assert events == [WriterFound((40, 41), 100.0)]
    table.writers = {40}  # 41 closed the log but lives on: not an exit
    for t in (101.0, 102.0):
        now[0] = t
        w.tick()
    assert len(events) == 1
    table.alive = {41}
    now[0] = 103.0
    w.tick()
    assert len(events) == 1  # one of them still runs
    table.alive = set()
    now[0] = 104.0
    w.tick()
    now[0] = 105.0
    w.tick()
    assert events[1:] == [WriterExited(40, 104.0)]


def test_until_a_writer_is_found_proc_is_scanned_less_and_less_often() -> None:
    table, now = Table(), [0.0]
    w, events = watch(table, now)
    scans_at = []
    for step in range(400):
        now[0] = step * 0.5
        before = table.scans
        w.tick()
        if table.scans > before:
            scans_at.append(now[0])
    gaps = [b - a for a, b in itertools.pairwise(scans_at)]
    assert gaps[0] == SCAN_FIRST_S and gaps == sorted(gaps) and max(gaps) == SCAN_MAX_S
    table.writers = table.alive = {7}
    now[0] = 1000.0
    w.tick()
    assert events == [WriterFound((7,), 1000.0)]


def test_a_writer_that_came_back_after_an_exit_is_found_again() -> None:
    table, now = Table(), [0.0]
    w, events = watch(table, now)
    table.writers = table.alive = {5}
    w.tick()
    table.writers = table.alive = set()
    now[0] = 1.0
    w.tick()
    table.writers = table.alive = {6}  # the run resumed, appending to the same log
    now[0] = 1.0 + SCAN_FIRST_S
    w.tick()
    assert events == [WriterFound((5,), 0.0), WriterExited(5, 1.0), WriterFound((6,), 1.0 + SCAN_FIRST_S)]


def test_process_alive_reads_the_state_and_a_zombie_has_exited(tmp_path: Path) -> None:
    for pid, state in ((10, "S"), (11, "Z"), (12, "R")):
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "stat").write_text(f"{pid} (python3 (x) y) {state} 1 1 1 0 -1\n")
    assert [process_alive(p, str(tmp_path)) for p in (10, 11, 12, 13)] == [True, False, True, False]


# -- the status of a run whose writer exited ----------------------------------------------

def _replayed(lines: list[str], times: list[float]) -> tuple[Session, list[float]]:
    now = [times[0]]
    session = Session(Options(source="run.log"), clock=lambda: now[0])
    for line, t in zip(lines, times, strict=True):
        now[0] = t
        session.feed(line, t)
    return session, now


@pytest.fixture(scope="module")
def sigterm_run() -> tuple[list[str], list[float], dict]:
    lines = (SIGTERM_RUN / "run.log").read_text().splitlines()
    times = [float(x) for x in (SIGTERM_RUN / "run.times").read_text().split()]
    return lines, times, json.loads((SIGTERM_RUN / "meta.json").read_text())


def test_a_run_killed_by_sigterm_reads_interrupted_seconds_after_its_writer_exited(sigterm_run) -> None:
    lines, times, meta = sigterm_run
    session, _ = _replayed(lines, times)
    exit_t = meta["process_end_epoch"]  # SIGTERM: no traceback, the log stops at iter 2540
    pid = meta["child_pid"]
    session.ingest([WriterFound((pid,), times[0])])
    assert session.snapshot(exit_t).status == "training"
    assert session.ingest([WriterExited(pid, exit_t)])
    soon = session.snapshot(exit_t + 1.0)
    assert soon.status == "training"  # its last lines may still be on their way
    snap = session.snapshot(exit_t + WRITER_SETTLE_S)
    assert snap.status == "interrupted" and snap.iter == 2540 and snap.error is None
    assert snap.eta_finish is None and snap.eta_remaining_s is None
    said = [w for w in snap.warnings if f"(PID {pid}) exited" in w]
    assert len(said) == 1 and "no traceback" in said[0] and "not known" not in said[0]
    # without the writer's exit, the stall rule is what tells, a minute later
    alone, _ = _replayed(lines, times)
    assert alone.snapshot(exit_t + WRITER_SETTLE_S).status == "training"
    assert alone.snapshot(times[-1] + 61.0).status == "stalled"


def test_a_run_that_reached_its_end_is_finished_when_its_writer_exits() -> None:
    lines = ["Overriding: max_iters = 20", "Overriding: log_interval = 10",
             "iter 0: loss 4.0, time 100.00ms, mfu 30.00%", "iter 10: loss 3.0, time 100.00ms, mfu 30.00%",
             "iter 20: loss 2.0, time 100.00ms, mfu 30.00%"]
    session, _ = _replayed(lines, [0.0, 0.0, 1.0, 2.0, 3.0])
    session.ingest([WriterExited(9, 3.5)])
    snap = session.snapshot(10.0)
    assert snap.status == "finished" and not any("exited" in w for w in snap.warnings)


def test_a_run_of_unknown_length_says_its_writer_exited_without_calling_it_interrupted() -> None:
    lines = [f"iter {i}: loss 3.0, time 100.00ms, mfu 30.00%" for i in range(0, 50, 10)]
    session, _ = _replayed(lines, [1.0, 2.0, 3.0, 4.0, 5.0])
    session.ingest([WriterExited(9, 5.5)])
    snap = session.snapshot(10.0)
    assert snap.status == "training"
    assert any("(PID 9) exited" in w and "not known" in w for w in snap.warnings)


def test_lines_after_the_exit_or_a_new_writer_undo_it() -> None:
    lines = ["Overriding: max_iters = 100", "Overriding: log_interval = 10",
             "iter 0: loss 4.0, time 100.00ms, mfu 30.00%", "iter 10: loss 3.0, time 100.00ms, mfu 30.00%"]
    session, _ = _replayed(lines, [0.0, 0.0, 1.0, 2.0])
    session.ingest([WriterExited(9, 2.5)])
    assert session.snapshot(2.5 + WRITER_SETTLE_S).status == "interrupted"
    session.feed("iter 20: loss 2.0, time 100.00ms, mfu 30.00%", 2.5 + WRITER_SETTLE_S + 1.0)  # someone writes
    assert session.snapshot(20.0).status == "training"
    session.ingest([WriterExited(9, 21.0)])
    assert session.snapshot(21.0 + WRITER_SETTLE_S).status == "interrupted"
    session.ingest([WriterFound((12,), 22.0)])
    assert session.snapshot(25.0).status == "training"


def test_the_writer_is_watched_for_a_live_log_only() -> None:
    from monitor.inbox import GpuHooks

    hooks = GpuHooks(lambda *a: None, lambda s: None, lambda p: None)
    nothing = watch_gpus(lambda on_error: None, 1.0, lambda: 0.0)
    assert nothing(hooks) is None  # stdin, a replay: no writer to watch
    live = watch_gpus(lambda on_error: None, 1.0, lambda: 0.0, writer_of="run.log")
    assert isinstance(live(hooks), WriterWatch)
    assert not isinstance(live(hooks), Sources)


def test_the_watch_sleeps_on_the_writers_exit_descriptors_and_wakes_when_one_exits(tmp_path: Path) -> None:
    # A real process: the thread waits on its pidfd (where the system has them) or looks every
    # WATCH_S; either way its exit is told, and stop() ends the thread.
    import subprocess
    import threading

    from monitor.sources.writer import exit_fd

    child = subprocess.Popen(["sleep", "60"])
    exited = threading.Event()
    events: list[object] = []

    def on_event(event: object) -> None:
        events.append(event)
        if isinstance(event, WriterExited):
            exited.set()

    loop = WatchLoop()
    w = WriterWatch(lambda: {child.pid}, process_alive, lambda: 100.0, on_event, events.append, exit_fd=exit_fd,
                    loop=loop)
    w.start()
    thread = loop.thread
    try:
        child.kill()
        child.wait()  # reaped: gone from /proc
        assert exited.wait(30), events
        assert events == [WriterFound((child.pid,), 100.0), WriterExited(child.pid, 100.0)]
    finally:
        w.stop()
    assert thread is not None
    thread.join(30)
    assert not thread.is_alive() and loop.thread is None  # the loop's thread ends with its last watch


def test_a_writer_whose_descriptor_woke_the_watch_but_lives_is_polled_instead() -> None:
    # A descriptor that reads as exited while /proc says alive would wake the thread at once,
    # again and again: it is dropped and that writer looked at every WATCH_S.
    import os

    table, now = Table(), [100.0]
    r, wr = os.pipe()
    os.write(wr, b"x")  # "exited"
    opened: list[int] = []
    w = WriterWatch(table.find, table.is_alive, lambda: now[0], lambda e: None, lambda e: None,
                    exit_fd=lambda pid: opened.append(pid) or r)
    table.writers = table.alive = {40}
    w._look()
    assert w._fds == [r] and opened == [40]
    w._exited({r})
    w._look()  # 40 still alive
    assert w._fds == [] and opened == [40]  # not opened again: polled
    os.close(wr)


def test_the_writers_of_many_logs_come_from_one_scan_of_proc(tmp_path: Path, monkeypatch) -> None:
    """WriterScan: the watches of several logs share /proc scans (200 logs each scanning took a
    quarter of a core); a scan answers for the logs it looked for while it is fresh, a log it
    did not look for is scanned for at once, and a stale scan is done again."""
    import os

    from test_gpu import fake_proc

    import monitor.sources.writer as writer_module
    from monitor.sources.writer import SCAN_FRESH_S, WriterScan

    logs = [tmp_path / f"run{i}.log" for i in range(3)]
    for log in logs:
        log.write_text("")
    write, read = os.O_WRONLY | os.O_APPEND, os.O_RDONLY
    proc = fake_proc(tmp_path, logs[0], {100: (1, {1: (str(logs[0]), write)}),
                                         200: (1, {1: (str(logs[1]), write), 3: (str(logs[0]), read)})})
    scans = []
    real = writer_module.writers_of
    monkeypatch.setattr(writer_module, "writers_of", lambda targets, root: scans.append(set(targets)) or real(targets, root))
    now = [0.0]
    scan = WriterScan(proc, clock=lambda: now[0])
    assert scan.writers(str(logs[0])) == {100}
    assert scan.writers(str(logs[1])) == {200}  # not looked for yet: a scan now, for both
    assert scan.writers(str(logs[0])) == {100} and scan.writers(str(logs[1])) == {200}
    assert len(scans) == 2 and scans[-1] == {str(logs[0]), str(logs[1])}
    now[0] += SCAN_FRESH_S
    assert scan.writers(str(logs[2])) == set()
    assert scan.writers(str(logs[0])) == {100} and scan.writers(str(logs[1])) == {200}
    assert len(scans) == 3  # one scan for all three


def test_one_thread_watches_the_writers_of_many_logs() -> None:
    """The watches of 40 logs are looked at by one thread (WatchLoop), each told its own
    writer's finding and exit; it ends when the last one stops."""
    import threading

    loop = WatchLoop()
    tables = [Table() for _ in range(40)]
    told: list[list[object]] = [[] for _ in tables]
    seen = [threading.Event() for _ in tables]

    def on_event(i: int):
        return lambda event: (told[i].append(event), seen[i].set())

    watches = [WriterWatch(table.find, table.is_alive, lambda: 100.0, on_event(i), told[i].append, loop=loop)
               for i, table in enumerate(tables)]
    for i, table in enumerate(tables):
        table.writers = table.alive = {1000 + i}
    threads_before = {t.ident for t in threading.enumerate()}
    for w in watches:
        w.start()
    try:
        assert all(event.wait(30) for event in seen)
        assert told == [[WriterFound((1000 + i,), 100.0)] for i in range(40)]
        new_threads = [t for t in threading.enumerate() if t.ident not in threads_before]
        assert [t.name for t in new_threads] == ["nanowatch-writers"]
        seen[7].clear()
        tables[7].alive = set()  # log 7's writer exits: its watch says so at its next look
        assert seen[7].wait(30)
        assert told[7] == [WriterFound((1007,), 100.0), WriterExited(1007, 100.0)]
        assert all(len(t) == 1 for i, t in enumerate(told) if i != 7)
    finally:
        thread = loop.thread
        for w in watches:
            w.stop()
    assert thread is not None
    thread.join(30)
    assert not thread.is_alive()


def test_a_stopped_watch_has_its_descriptors_closed_and_the_others_go_on() -> None:
    """Stopping one log's watch closes the exit descriptors the loop waits on for it (before
    stop returns); another log's writer exiting is still told."""
    import os
    import threading

    loop = WatchLoop()
    pipes = [os.pipe(), os.pipe()]
    tables, told, exited = [Table(), Table()], [[], []], threading.Event()
    for i, table in enumerate(tables):
        table.writers = table.alive = {50 + i}

    def on_event(i: int):
        def told_(event: object) -> None:
            told[i].append(event)
            if isinstance(event, WriterExited):
                exited.set()
        return told_

    watches = [WriterWatch(t.find, t.is_alive, lambda: 5.0, on_event(i), told[i].append,
                           exit_fd=lambda pid: pipes[pid - 50][0], loop=loop) for i, t in enumerate(tables)]
    for w in watches:
        w.start()
    try:
        for _ in range(3000):  # until both are found and waited on by their descriptors
            if all(w._fds for w in watches):
                break
            threading.Event().wait(0.01)
        watches[0].stop()
        with pytest.raises(OSError):
            os.fstat(pipes[0][0])  # closed by the loop
        tables[1].alive = set()
        os.write(pipes[1][1], b"x")  # writer 51's descriptor turns readable: it exited
        assert exited.wait(30)
        assert told == [[WriterFound((50,), 5.0)], [WriterFound((51,), 5.0), WriterExited(51, 5.0)]]
    finally:
        watches[1].stop()
        for _, write_end in pipes:
            os.close(write_end)


def test_an_exit_descriptor_numbered_past_fd_setsize_is_seen() -> None:
    # select(2) raised ValueError for a descriptor >= 1024: with hundreds of logs followed, the
    # writers' exits were never told (the loop slept and tried the same wait again)
    import resource

    from monitor.sources.writer import readable

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    high = 1500
    if hard != resource.RLIM_INFINITY and hard <= high:
        pytest.skip(f"the open-file limit ({hard}) leaves no descriptor numbered {high}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, high + 1), hard))
    r, w = os.pipe()
    try:
        os.dup2(r, high)
        assert readable([high], 0.0) == set()
        os.write(w, b"x")
        assert readable([high], 5.0) == {high}
        os.close(w)
        w = -1
        os.read(high, 1)
        assert readable([high], 5.0) == {high}  # hung up: its writer is gone
    finally:
        for fd in (r, w, high):
            if fd >= 0:
                os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
