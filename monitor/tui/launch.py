"""Start the TUI from the command line: a live log (file or pipe), a replay, or the bundled demo,
each with its line source and GPU source, all built through make_app.

UI ring (it starts the Textual app); the sources themselves are adapters from tail, gpu, player.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import os
import sys
import time
from collections.abc import Callable

from monitor.inbox import LineHooks, SourceChanged
from monitor.live import GpuSourceFactory, LineSourceFactory, check_source, gpu_feed, open_log
from monitor.session import Session
from monitor.sources.player import Player
from monitor.sources.replay import PackedLines, bundled_demo, timed_lines
from monitor.tui.app import make_app

#: glibc's mallopt parameter and the size from which blocks are mmapped (its initial default).
M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES = -3, 128 * 1024

#: Builds the session for the command line's options: (args, clock, source=None) -> Session.
SessionFactory = Callable[..., Session]


class NoTerminal(Exception):
    """The TUI was asked for without a terminal to draw on or read keys from."""


def gpu_factory(args: argparse.Namespace, clock: Callable[[], float], live: bool) -> GpuSourceFactory:
    """The GPU sampler the command line asks for (--no-gpu is said on the GPU panel)."""
    # A recorded trace is handed out as the clock passes its samples: keep up with a fast replay.
    interval_s = min(args.gpu_interval, 0.5) if args.gpu_log else args.gpu_interval
    return gpu_feed(args, interval_s, clock, live=live, off="turned off (--no-gpu)")


def return_freed_memory_promptly() -> None:
    """glibc raises its mmap threshold after a big block is freed, so later numpy temporaries
    (8 MB per column for a million steps) come from the heap and stay in RSS for good; a fixed
    threshold keeps them mmapped, returned to the system as soon as they are freed."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
    except (OSError, AttributeError):
        pass  # not glibc (no mallopt): that allocator keeps its own policy


def run_app(session: Session, lines: LineSourceFactory, gpu: GpuSourceFactory | None,
            on_pause: Callable[[bool], None] | None = None, bell: bool = False) -> int:
    if not sys.stdout.isatty():
        raise NoTerminal("stdout is not a terminal; use --jsonl or --once for a pipe")
    return_freed_memory_promptly()
    app = make_app(session, lines, gpu, on_pause=on_pause, bell=bell, freeze_gc=True)
    code = app.run()
    return int(code or 0)


def live(args: argparse.Namespace, session_factory: SessionFactory) -> int:
    """`nanowatch LOG` / `nanowatch -`: follow the log; keys come from the terminal."""
    from monitor.sources.stdin import detach_stdin

    session = session_factory(args, time.time)
    pipe_fd = None
    if args.log == "-":
        if sys.stdin.isatty():
            raise NoTerminal("'-' reads the log from a pipe: python train.py | nanowatch -")
        try:
            # Textual reads keys from fd 0: the pipe moves to another fd and the terminal takes its place.
            pipe_fd = detach_stdin()
        except OSError as e:
            raise NoTerminal(f"no terminal to read keys from ({e.strerror or e}); use --jsonl") from None
    else:
        check_source(args.log)  # a directory or an unreadable file: say so now, exit 2
        if not os.path.exists(args.log):
            session.ingest([SourceChanged("waiting")])  # said from the first frame on
    lines = open_log(args.log, poll=args.poll, stdin_fd=pipe_fd)
    return run_app(session, lines, gpu_factory(args, time.time, live=True), bell=getattr(args, "bell", False))


def replay(args: argparse.Namespace, session_factory: SessionFactory, log: str, times: str | None,
           speed: float, gpu_log: str | None = None, source_name: str | None = None) -> int:
    """`nanowatch replay LOG` (and the demo): play the log at `speed` on the recording's clock."""
    items = PackedLines(timed_lines(log, times, time.time(), args.format))
    holder: dict[str, Player] = {}

    def recording_clock() -> float:
        player = holder.get("player")
        return player.now() if player is not None else (items[0][0] if items else time.time())

    session = session_factory(args, recording_clock, source=source_name)

    def lines(hooks: LineHooks) -> Player:
        player = Player(items, speed, hooks.on_lines, hooks.on_error)
        holder["player"] = player
        return player

    def on_pause(paused: bool) -> None:
        if "player" in holder:
            holder["player"].set_paused(paused)

    if gpu_log is not None:
        args.gpu_log = gpu_log
    return run_app(session, lines, gpu_factory(args, recording_clock, live=False), on_pause,
                   bell=getattr(args, "bell", False))


def demo(args: argparse.Namespace, session_factory: SessionFactory) -> int:
    """`nanowatch demo`: the bundled H100 run (log, arrival times, GPU trace) in one to two minutes."""
    run = bundled_demo(args.speed)
    args.log = run.log
    return replay(args, session_factory, run.log, run.times, run.speed, gpu_log=run.gpu_log, source_name=run.name)
