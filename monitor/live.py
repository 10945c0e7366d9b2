"""Live following: a LiveFeed connects a Session to its line source (Follower, StdinReader,
Player) and GPU sampler through one Inbox; the `--jsonl` loop writes a record after each
change and at least every `--interval` seconds.

Glue: threads, stdout and stderr; no textual. The TUIs drain their sessions through LiveFeed too.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
import time
from collections.abc import Callable
from typing import Any, Protocol, TextIO

from monitor.core.sanitise import clean_name
from monitor.inbox import FileTouched, GpuFailed, GpuHooks, Inbox, LineHooks, SourceChanged, SourceEvent, SourceFailed
from monitor.session import Session
from monitor.sources.gpu import CpuEnergySource, GpuSampler, GpuSource, open_cpu_energy, open_source
from monitor.sources.logfile import check_followable
from monitor.sources.problems import GpuProblem
from monitor.sources.stdin import StdinReader
from monitor.sources.tail import Follower
from monitor.sources.writer import WriterWatch

EXIT_OK, EXIT_INTERRUPTED = 0, 130
#: Reads (each at most tail.CHUNK_BYTES) queued between the source's thread and the session
#: before the source waits: a cold start of a huge file streams through in bounded memory.
MAX_QUEUED_READS = 16
#: The shortest period between records when `--interval` asks for less.
MIN_INTERVAL_S = 0.01


class Source(Protocol):
    """A line or GPU source: started and stopped by its feed, reporting through its hooks."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


class LineSource(Source, Protocol):
    #: mtime of the followed file (None for a pipe or a replay): the age of lines read at start.
    mtime: float | None


#: Builds a line source (Follower, StdinReader, Player, a test double) with the feed's hooks.
LineSourceFactory = Callable[[LineHooks], LineSource]
#: Builds a GPU sampler with the feed's hooks (None: nothing to sample).
GpuSourceFactory = Callable[[GpuHooks], "Source | None"]


def open_log(path: str, *, poll: bool = False, clock: Callable[[], float] = time.time,
             stdin_fd: int | None = None) -> LineSourceFactory:
    """The line source for `path`: a Follower, or a StdinReader for "-" (on `stdin_fd`)."""

    def make(hooks: LineHooks) -> LineSource:
        if path == "-":
            return StdinReader(hooks.on_lines, hooks.on_error, clock, fd=stdin_fd, on_state=hooks.on_state,
                               on_block=hooks.on_block, on_partial=hooks.on_partial)
        return Follower(path, hooks.on_lines, hooks.on_error, clock, poll, on_state=hooks.on_state,
                        on_reset=hooks.on_reset, on_block=hooks.on_block, on_partial=hooks.on_partial)

    return make


def watch_gpus(open_gpu: Callable[[Callable[[GpuProblem], None]], GpuSource | None], interval_s: float,
               clock: Callable[[], float], *, off: str | None = None,
               open_cpu: Callable[[], CpuEnergySource | None] | None = None,
               writer_of: str | None = None) -> GpuSourceFactory:
    """The GPU side of a feed: opens the source (its `on_error` given at construction),
    tells the session what it is (or, with `off`, that GPU telemetry is turned off), and
    samples it on a thread, with the host's CPU energy counter from `open_cpu`, while
    either has anything to give; and, for a live log `writer_of` on this host, watches the
    process writing it (sources.writer), GPUs or not."""

    def make(hooks: GpuHooks) -> Source | None:
        writer = None if writer_of is None else WriterWatch.of(writer_of, clock, hooks.on_writer, hooks.on_error)
        sampler = gpus(hooks)
        return sampler if writer is None else writer if sampler is None else Sources((sampler, writer))

    def gpus(hooks: GpuHooks) -> GpuSampler | None:
        source = open_gpu(hooks.on_error)
        if source is None:
            if off is not None:
                hooks.on_watched("nvml", off)
            return None
        hooks.on_watched(source.origin, source.status)
        cpu = None if open_cpu is None else open_cpu()
        if source.status is not None and (cpu is None or cpu.status is not None):
            source.close()
            return None
        return GpuSampler(source, interval_s, clock, hooks.on_samples, hooks.on_error, cpu=cpu)

    return make


class Sources:
    """Several sources started and stopped as one."""

    def __init__(self, sources: tuple[Source, ...]) -> None:
        self.sources = sources

    def start(self) -> None:
        for source in self.sources:
            source.start()

    def stop(self) -> None:
        for source in self.sources:
            source.stop()


def open_gpus(args: argparse.Namespace, live: bool, on_error: Callable[[GpuProblem], None] | None = None,
              span: tuple[float, float] | None = None) -> GpuSource | None:
    """The GPU source the command line asks for: the --gpu-source endpoints (DCGM or
    Prometheus, live only; each failing endpoint reported through `on_error`), else
    --no-gpu / --gpu-log / NVML (see sources.gpu.open_source)."""
    if getattr(args, "gpu_source", None) and live:
        from monitor.sources.dcgm import open_dcgm

        return open_dcgm(args.gpu_source, args.gpus, on_error=on_error)
    return open_source(no_gpu=args.no_gpu, gpu_log=args.gpu_log, gpus=args.gpus,
                       log_path=getattr(args, "log", None), live=live, span=span)


def gpu_feed(args: argparse.Namespace, interval_s: float, clock: Callable[[], float], *, live: bool,
             off: str | None = None) -> GpuSourceFactory:
    """The GPU side of a feed for the command line's GPU options (see watch_gpus); a live
    run's host CPU energy (RAPL) is read beside its GPUs, unless they come from --gpu-log, and a
    live log's writer process is watched (not stdin)."""
    log = getattr(args, "log", None)
    return watch_gpus(lambda on_error: open_gpus(args, live, on_error), interval_s, clock, off=off,
                      open_cpu=lambda: open_cpu_energy(live=live and not args.gpu_log),
                      writer_of=log if live and isinstance(log, str) and log != "-" else None)


class LiveFeed:
    """Connects a Session to its sources (a line source, a GPU sampler) through one Inbox.
    The sources' threads only queue typed events; `drain()`, called on the consumer's thread,
    hands everything queued to `Session.ingest`.

    `wake()` (optional) is called on a source's thread after each queued event (GPU samples
    excepted unless `samples_wake`), e.g. to post a message to an app; `on_notice` receives
    one-line messages about the sources (truncated, deleted, unreadable, a GPU lost, a thread
    failing) on the consumer's thread.
    """

    def __init__(
        self,
        session: Session,
        lines: LineSourceFactory | None,
        gpu: GpuSourceFactory | None = None,
        *,
        name: str = "the log",
        wake: Callable[[], None] | None = None,
        samples_wake: bool = True,
        on_notice: Callable[[str], None] | None = None,
        max_queued_reads: int = MAX_QUEUED_READS,
    ) -> None:
        self.session = session
        self.name = name
        self.on_notice = on_notice
        self.ended = False
        #: the line source's last reported state (waiting, following, deleted, unreadable, ended)
        self.state: str | None = None
        self._inbox = Inbox(max_queued_reads, wake, samples_wake)
        self.source = None if lines is None else lines(LineHooks.into(self._inbox))
        self.sampler = None if gpu is None else gpu(GpuHooks.into(self._inbox))
        self._mtime: float | None = None

    @classmethod
    def follow(cls, session: Session, path: str, *, poll: bool = False, clock: Callable[[], float] = time.time,
               stdin_fd: int | None = None, gpu: GpuSourceFactory | None = None, **kwargs: Any) -> LiveFeed:
        """A feed that follows the log at `path` (stdin for "-")."""
        return cls(session, open_log(path, poll=poll, clock=clock, stdin_fd=stdin_fd), gpu, name=path, **kwargs)

    def start(self) -> None:
        for source in (self.source, self.sampler):
            if source is not None:
                source.start()

    def stop(self) -> None:
        self._inbox.close()  # a reader waiting for room must not block the stop
        for source in (self.source, self.sampler):
            if source is not None:
                source.stop()

    def wait(self, timeout_s: float) -> bool:
        """Block until something is queued or `timeout_s` passes; True when something is."""
        return self._inbox.wait(timeout_s)

    def pending(self) -> bool:
        """True when lines are already queued (a drain now would give a newer record)."""
        return self._inbox.has_reads()

    def backlogged(self) -> bool:
        """True when a big read is queued: the source may be waiting for a drain (a cold start)."""
        return self._inbox.has_big_reads()

    def drain(self) -> bool:
        """Hand everything queued to the session; True when the run changed."""
        events = self._inbox.take_all()
        mtime = None if self.source is None else self.source.mtime
        if mtime is not None and mtime != self._mtime:
            self._mtime = mtime
            events.append(FileTouched(mtime))
        for event in events:
            self._notice(event)
        return self.session.ingest(events)

    def _notice(self, event: SourceEvent) -> None:
        if isinstance(event, SourceChanged):
            self.state = event.state
            self.ended = self.ended or event.state == "ended"
        if self.on_notice is None:
            return
        if isinstance(event, (SourceFailed, GpuFailed)):
            self.on_notice(str(event.problem))
        elif isinstance(event, SourceChanged) and event.state == "waiting":
            self.on_notice(f"waiting for {self.name} to appear")


def check_source(path: str) -> None:
    """Refuse at startup a log that can never be followed (exit 2 with a reason); a log that
    does not exist yet is waited for (sources.logfile.check_followable)."""
    check_followable(path)


def follow_jsonl(
    session: Session,
    path: str,
    *,
    interval_s: float = 1.0,
    poll: bool = False,
    out: TextIO | None = None,
    err: TextIO | None = None,
    clock: Callable[[], float] = time.time,
    stdin_fd: int | None = None,
    gpu: GpuSourceFactory | None = None,
) -> int:
    """Follow `path` (or stdin for "-") and write JSON records to `out` until Ctrl-C,
    or until stdin ends; `gpu` samples the run's GPUs into the same session. Returns the
    exit code."""
    check_source(path)
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err

    def notice(message: str) -> None:
        print(f"nanowatch: {clean_name(message)}", file=err, flush=True)

    interval_s = max(interval_s, MIN_INTERVAL_S)
    feed = LiveFeed.follow(session, path, poll=poll, clock=clock, stdin_fd=stdin_fd, gpu=gpu, on_notice=notice)
    feed.start()
    last_write = -math.inf
    dirty = False
    try:
        while feed.state is None:  # the first record says whether the log is there at all
            feed.wait(0.1)
            dirty = feed.drain() or dirty
        while True:
            dirty = feed.drain() or dirty
            now = clock()
            # When more lines are already queued, the next drain gives a newer record:
            # coalescing keeps a burst (or a cold start) from writing stale ones.
            if (dirty and not feed.pending()) or now - last_write >= interval_s:
                out.write(session.snapshot(now).to_json() + "\n")
                out.flush()
                last_write, dirty = now, False
            if feed.ended and not feed.pending():
                return EXIT_OK
            feed.wait(max(0.0, last_write + interval_s - clock()))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, and keep Python's exit flush quiet too.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())
        return EXIT_OK
    finally:
        feed.stop()
