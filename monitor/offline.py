"""The text front ends that need no thread: `--once` (a summary or one JSON record of the log as it
is now) and `replay`/`demo` with `--jsonl` or `--once`, the session fed directly, line by line.

Glue ring (beside cli.py): no textual.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from monitor.arguments import EXIT_OK, UsageError
from monitor.core.sanitise import unicode_safe
from monitor.sources.logfile import check_regular, dataset_tokens, read_blocks, read_stream_blocks, rotated_copy
from monitor.sources.player import LONGEST_WAIT_S

if TYPE_CHECKING:
    from monitor.core.report import Options
    from monitor.session import Session
    from monitor.sources.gpu import GpuSource


def options_from(args: argparse.Namespace, source: str) -> Options:
    from monitor.core.report import Options

    return Options(
        source=source,
        fmt=args.format,
        max_iters=args.max_iters,
        price_per_kwh=args.price,
        currency=args.currency,
        pue=args.pue,
        dataset_tokens=args.dataset_tokens,
        rotated=rotated_copy(args.log),
    )


def new_session(args: argparse.Namespace, clock: Callable[[], float], source: str | None = None) -> Session:
    """The session for the command line's options (`source` names the log in records)."""
    from monitor.alerting import watch_alerts
    from monitor.session import Session

    lookup = None if args.log == "-" else partial(dataset_tokens, args.log)
    # the demo names itself: a replay of a recording, at what speed
    source = source or getattr(args, "source_name", None)
    board = getattr(args, "metrics_board", None)
    # a name with bytes that are not UTF-8 is valid text in every record and label
    session = Session(options_from(args, unicode_safe(source or args.log)), clock, dataset_lookup=lookup,
                      on_snapshot=None if board is None else board.publish)
    watch_alerts(session, args)
    return session


def once(args: argparse.Namespace, clock: Callable[[], float] = time.time) -> int:
    """`--once`: what the log holds now (stdin to its end for `-`) and one GPU reading, printed."""
    from monitor.inbox import BlockRead, FileTouched, GpuFailed, GpuSampled, GpuWatched, SourceChanged, SourceFailed
    from monitor.live import open_gpus
    from monitor.sources.gpulog import CsvSource
    from monitor.sources.logfile import LogError
    from monitor.sources.problems import GpuProblem, GpuUnavailable

    session = new_session(args, clock)
    mtime = None
    if args.log == "-":  # stdin to its end: `cat run.log | nanowatch - --once`
        if sys.stdin.isatty():
            raise UsageError("'-' reads the log from a pipe: cat run.log | nanowatch - --once")
        blocks = read_stream_blocks(sys.stdin.buffer, "stdin")
    else:
        mtime = check_regular(args.log).st_mtime
        blocks = read_blocks(args.log)
    failed: LogError | None = None
    read = 0
    try:
        for block in blocks:
            read += len(block)
            session.ingest([BlockRead(None, block)])
    except LogError as e:
        if not read:
            raise
        # EIO half-way (a failing disk, a network file system): what was read is summarised,
        # with where reading stopped; the one-line reason and exit 2 follow it
        failed = e
        session.ingest([SourceChanged("unreadable"),
                        SourceFailed(f"{e} after {read:,} bytes: this is what came before")])
    if mtime is not None:
        session.ingest([FileTouched(mtime)])
    problems: list[GpuProblem] = []
    source = open_gpus(args, live=True, on_error=problems.append)
    if source is not None:
        session.ingest([GpuWatched(source.origin, source.status)])
        now = clock()  # one NVML sample, or the whole CSV, streamed (a GPU log may be hundreds of MB)
        samples = source.stream(now) if isinstance(source, CsvSource) else source.poll(now)
        # every --gpu-source endpoint failed: the GPU line says why
        session.ingest([*(GpuFailed(GpuUnavailable(str(p))) for p in problems), GpuSampled(samples)])
        source.close()
    _print_final(session, args)
    if failed is not None:
        raise failed
    return EXIT_OK


def _print_final(session: Session, args: argparse.Namespace, now: float | None = None) -> None:
    from monitor.core.summary import summary

    session.release_held()  # the log ended: no line comes for what the parser holds
    snap = session.snapshot(now)
    print(snap.to_json() if args.json else summary(snap), flush=True)


def replay(args: argparse.Namespace, clock: Callable[[], float] = time.time,
           sleep: Callable[[float], None] = time.sleep) -> int:
    """`replay --jsonl` / `replay --once`: the lines in order, each on the recording's clock."""
    from monitor.inbox import GpuSampled, GpuWatched, LinesRead, SourceEvent, TimedBlockRead
    from monitor.live import open_gpus
    from monitor.sources.replay import timed_lines

    start = clock()
    timeline = timed_lines(args.log, args.times, start, args.format)
    items = iter(timeline)  # streamed: a replay holds one block of the log, never the log
    first = next(items, None)
    if first is None:
        _print_final(new_session(args, clock), args)
        return EXIT_OK
    t0 = first[0]
    virtual_now = t0
    session = new_session(args, lambda: virtual_now)
    # nvidia-smi prints local time, without a zone: a recorded trace is aligned to the times given
    source = open_gpus(args, live=False, span=timeline.span)
    if source is not None:
        session.ingest([GpuWatched(source.origin, source.status)])
    if args.once and not args.jsonl:  # only the end is shown: the lines go in by the block, each at its time
        for block, times in timeline.blocks():
            virtual_now = float(times[-1])
            events: list[SourceEvent] = [TimedBlockRead(block, times)]
            if source is not None:
                events.insert(0, GpuSampled(source.poll(virtual_now)))
            session.ingest(events)
        _read_end(session, source, virtual_now)
        _print_final(session, args, virtual_now)
        return EXIT_OK
    last = None  # the newest --jsonl record written
    for t, line in itertools.chain([first], items):
        if args.speed > 0 and not args.once:  # --once shows only the end: no need to wait for it
            delay = start + (t - t0) / args.speed - clock()
            while delay > 0:  # by the day: one sleep cannot take a gap of centuries (OverflowError)
                sleep(min(delay, LONGEST_WAIT_S))
                delay -= LONGEST_WAIT_S
        virtual_now = t
        events = [LinesRead([(t, line)])]
        if source is not None:
            events.insert(0, GpuSampled(source.poll(t)))
        changed = session.ingest(events)
        if args.jsonl and changed:
            last = session.snapshot(t).to_json()
            print(last, flush=True)
    if args.jsonl and not args.once:
        if session.release_held():  # the log ended on a held line
            last = session.snapshot(virtual_now).to_json()
            print(last, flush=True)
        if source is not None:  # the energy up to the last line, measured by the samples after it, as --once
            _read_end(session, source, virtual_now)
            final = session.snapshot(virtual_now).to_json()
            if final != last:
                print(final, flush=True)
    if args.once or not args.jsonl:
        _read_end(session, source, virtual_now)
        _print_final(session, args, virtual_now)
    return EXIT_OK


def _read_end(session: Session, source: GpuSource | None, t: float) -> None:
    """The GPU samples just after the log's last line: energy is not extrapolated past the newest
    sample, so the window that ends at that line is measured by the samples that follow it."""
    from monitor.core.telemetry import END_READ_S
    from monitor.inbox import GpuSampled

    if source is not None:
        session.ingest([GpuSampled(source.poll(t + END_READ_S))])


def demo_records(args: argparse.Namespace) -> int:
    """`nanowatch demo --once` / `--jsonl`: the bundled run through the replay's text front ends."""
    from monitor.sources.replay import bundled_demo

    run = bundled_demo(args.speed, paced=not args.once)  # --once reads it whole: no pace to name
    args.log, args.times, args.speed, args.source_name = run.log, run.times, run.speed, run.name
    if not args.no_gpu and args.gpu_log is None:
        args.gpu_log = run.gpu_log
    return replay(args)
