"""Session.ingest, the one way in: every source event and what it does to the session, with a
fake clock (the live front ends only queue these events and drain them here)."""

from __future__ import annotations

from conftest import FakeClock
from logwriter import iter_line

from monitor.core.report import Options
from monitor.core.telemetry import GpuSample
from monitor.inbox import (
    BlockRead,
    FileTouched,
    GpuFailed,
    GpuSampled,
    GpuWatched,
    LinesRead,
    SourceChanged,
    SourceFailed,
    SourceReset,
)
from monitor.session import Session
from monitor.sources.problems import GpuLost, GpuUnavailable, LoopFailed

CONFIG = [b"Overriding: max_iters = 100", b"Overriding: log_interval = 10"]


def line(i: int) -> bytes:
    return iter_line(i).rstrip("\n").encode()


def session(clock: FakeClock) -> Session:
    return Session(Options(source="run.log"), clock)


def test_waiting_until_lines_or_the_file_come() -> None:
    s = session(FakeClock())
    assert s.ingest([SourceChanged("waiting")]) is True
    assert s.snapshot().status == "waiting"
    assert s.ingest([LinesRead([(None, b) for b in CONFIG])]) is True  # lines before "following"
    assert not s.waiting and s.snapshot().status == "starting"


def test_lines_and_blocks_fold_in_alike() -> None:
    clock = FakeClock(1000.0)
    a, b = session(clock), session(clock)
    lines = [*CONFIG, line(0), line(10)]
    assert a.ingest([LinesRead([(999.0, x) for x in lines])])
    assert b.ingest([BlockRead(999.0, b"\n".join(lines) + b"\n")])
    assert a.snapshot().record() == b.snapshot().record()


def test_a_deleted_file_is_a_warning_until_it_is_back_and_every_failure_is_an_event() -> None:
    s = session(FakeClock())
    s.ingest([LinesRead([(None, x) for x in (*CONFIG, line(0))])])
    gone = "run.log was deleted; keeping what was read, waiting for it to come back"
    assert s.ingest([SourceChanged("deleted"), SourceFailed(gone)]) is True
    assert gone in s.snapshot().warnings
    s.ingest([SourceChanged("following")])
    assert gone not in s.snapshot().warnings
    assert ("warning", gone) in [(kind, text) for _, kind, text in s.snapshot().notes]


def test_a_failing_reader_is_a_warning_until_lines_come_again() -> None:
    s = session(FakeClock())
    failed = LoopFailed("follower of run.log", "KeyError: 'x'")
    s.ingest([SourceChanged("following"), SourceFailed(failed)])
    assert "follower of run.log failed: KeyError: 'x'" in s.snapshot().warnings
    s.ingest([LinesRead([(None, line(0))])])
    assert str(failed) not in s.snapshot().warnings


def test_a_reset_starts_a_new_run_and_the_file_age_dates_old_lines() -> None:
    clock = FakeClock(2000.0)
    s = session(clock)
    s.ingest([LinesRead([(None, x) for x in (*CONFIG, line(0))]), FileTouched(1990.0)])
    assert s.snapshot().last_line_t == 1990.0
    assert s.ingest([SourceReset(), LinesRead([(1995.0, line(0))])]) is True
    assert s.run_count == 2 and s.snapshot().run_index == 1


def test_gpu_events() -> None:
    clock = FakeClock(100.0)
    s = session(clock)
    assert s.ingest([GpuWatched("gpu-log", "the GPU log has no readable sample")]) is False
    assert s.snapshot().gpu_status == "GPU telemetry unavailable: the GPU log has no readable sample"
    s = session(clock)
    s.ingest([GpuWatched("nvml")])
    sample = GpuSample(t=99.0, index=0, name="NVIDIA H100 80GB HBM3", power_w=300.0)
    assert s.ingest([GpuSampled([sample])]) is False  # samples alone: shown at the next tick
    assert s.snapshot().gpu_count == 1
    assert s.ingest([GpuFailed(GpuLost("GPU 1", "GPU is lost"))]) is True
    assert ("warning", "GPU 1: GPU is lost") in [(k, t) for _, k, t in s.snapshot().notes]
    broken = LoopFailed("GPU sampler", "RuntimeError: boom")
    s.ingest([GpuFailed(broken)])
    assert str(broken) in s.snapshot().warnings
    s.ingest([GpuSampled([GpuSample(t=100.0, index=0, power_w=301.0)])])
    assert str(broken) not in s.snapshot().warnings  # sampling is back
    s.ingest([GpuFailed(GpuUnavailable("the NVIDIA driver is not loaded"))])
    assert s.snapshot().gpu_status == "GPU telemetry unavailable: the NVIDIA driver is not loaded"


def test_one_unknown_line_is_counted_as_one_line() -> None:
    s = session(FakeClock())
    s.ingest([LinesRead([(None, b"hello")])])
    assert s.snapshot().warnings[0].startswith("1 line read, not recognised as a line of a training log")  # was "1 lines"
    s.ingest([LinesRead([(None, b"world")])])
    assert s.snapshot().warnings[0].startswith("2 lines read, none recognised")
