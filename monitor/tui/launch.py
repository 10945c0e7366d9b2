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
from dataclasses import replace

from monitor.core.telemetry import Telemetry
from monitor.session import Session
from monitor.sources.dcgm import DcgmSource, open_dcgm
from monitor.sources.gpu import GpuSampler, GpuSource, open_cpu_energy, open_source, telemetry_for
from monitor.sources.player import Player
from monitor.sources.replay import bundled_demo, timed_lines
from monitor.tui.app import make_app
from monitor.tui.messages import GpuSourceFactory, LineHooks, LineSourceFactory, OnError, OnSamples

#: glibc's mallopt parameter and the size from which blocks are mmapped (its initial default).
M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES = -3, 128 * 1024


class NoTerminal(Exception):
    """The TUI was asked for without a terminal to draw on or read keys from."""


def gpu_factory(
    args: argparse.Namespace, session: Session, clock: Callable[[], float], log_path: str | None, live: bool
) -> GpuSourceFactory | None:
    """Open the GPU source the command line asks for (--no-gpu, --gpu-log CSV, NVML for a live
    log), label the session's telemetry for it, and return the sampler factory the app starts."""
    source: GpuSource | None
    if getattr(args, "gpu_source", None) and live:
        source = open_dcgm(args.gpu_source, args.gpus)  # dcgm-exporter or Prometheus (--gpu-source)
    else:
        source = open_source(no_gpu=args.no_gpu, gpu_log=args.gpu_log, gpus=args.gpus, log_path=log_path, live=live)
    session.telemetry = telemetry_for(source)
    if source is None:
        session.telemetry = Telemetry()
        session.telemetry.unavailable("turned off (--no-gpu)")
        return None
    # A recorded trace is handed out as the clock passes its samples: keep up with a fast replay.
    interval_s = min(args.gpu_interval, 0.5) if args.gpu_log else args.gpu_interval

    cpu = open_cpu_energy(live=live and not args.gpu_log)

    def make(on_samples: OnSamples, on_error: OnError) -> GpuSampler:
        if isinstance(source, DcgmSource):
            source.on_error = on_error  # a failing endpoint is said; the others go on
        return GpuSampler(source, interval_s, clock, on_samples, on_error, cpu=cpu)

    return make


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
    app = make_app(session, lines, gpu, on_pause=on_pause, bell=bell)
    code = app.run()
    return int(code or 0)


def live(args: argparse.Namespace, session_factory: Callable[..., Session]) -> int:
    """`nanowatch LOG` / `nanowatch -`: follow the log; keys come from the terminal."""
    from monitor.live import check_source
    from monitor.sources.stdin import StdinReader, detach_stdin
    from monitor.sources.tail import Follower

    session = session_factory(args, time.time)
    lines: LineSourceFactory
    if args.log == "-":
        if sys.stdin.isatty():
            raise NoTerminal("'-' reads the log from a pipe: python train.py | nanowatch -")
        try:
            # Textual reads keys from fd 0: the pipe moves to another fd and the terminal takes its place.
            pipe_fd = detach_stdin()
        except OSError as e:
            raise NoTerminal(f"no terminal to read keys from ({e.strerror or e}); use --jsonl") from None

        def lines(hooks: LineHooks) -> StdinReader:
            return StdinReader(hooks.on_lines, hooks.on_error, time.time, fd=pipe_fd, on_state=hooks.on_state,
                               on_block=hooks.on_block)

        log_path = "-"
    else:
        check_source(args.log)  # a directory or an unreadable file: say so now, exit 2
        session.waiting = not os.path.exists(args.log)

        def lines(hooks: LineHooks) -> Follower:
            return Follower(args.log, hooks.on_lines, hooks.on_error, time.time, poll=args.poll,
                            on_state=hooks.on_state, on_reset=hooks.on_reset, on_block=hooks.on_block)

        log_path = args.log
    return run_app(session, lines, gpu_factory(args, session, time.time, log_path, live=True), bell=getattr(args, "bell", False))


def replay(args: argparse.Namespace, session_factory: Callable[..., Session], log: str, times: str | None,
           speed: float, gpu_log: str | None = None, source_name: str | None = None) -> int:
    """`nanowatch replay LOG` (and the demo): play the log at `speed` on the recording's clock."""
    items = list(timed_lines(log, times, time.time(), args.format))
    holder: dict[str, Player] = {}

    def recording_clock() -> float:
        player = holder.get("player")
        return player.now() if player is not None else (items[0][0] if items else time.time())

    session = session_factory(args, recording_clock)

    def lines(hooks: LineHooks) -> Player:
        player = Player(items, speed, hooks.on_lines)
        holder["player"] = player
        return player

    def on_pause(paused: bool) -> None:
        if "player" in holder:
            holder["player"].set_paused(paused)

    if gpu_log is not None:
        args.gpu_log = gpu_log
    gpu = gpu_factory(args, session, recording_clock, log, live=False)
    if source_name is not None:
        session.options = replace(session.options, source=source_name)
    return run_app(session, lines, gpu, on_pause, bell=getattr(args, "bell", False))


def demo(args: argparse.Namespace, session_factory: Callable[..., Session]) -> int:
    """`nanowatch demo`: the bundled H100 run (log, arrival times, GPU trace) in one to two minutes."""
    run = bundled_demo(args.speed)
    args.log = run.log
    return replay(args, session_factory, run.log, run.times, run.speed, gpu_log=run.gpu_log, source_name=run.name)
