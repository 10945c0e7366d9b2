"""Several logs at once (`nanowatch LOG1 LOG2 …`): one Session per log, the row each shows in
the runs table, and the `--once` / `--jsonl` front ends for several logs.

Glue: follows files through monitor.live, writes to stdout; never imports textual.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import TextIO

from monitor.core.rows import short_names
from monitor.core.snapshot import Snapshot
from monitor.live import GpuSourceFactory, LiveFeed
from monitor.session import Session

EXIT_OK, EXIT_INTERRUPTED = 0, 130
MIN_INTERVAL_S = 0.01
# ------------------------------------------------------------------------- several logs, live


class Runs:
    """The logs being watched: a Session and a LiveFeed per log (its follower and, with
    `gpu_for`, its GPU sampler). `wake()` is called on a source's thread when something
    is queued; `on_notice` gets one-line notices, named by log, on the draining thread."""

    def __init__(
        self,
        paths: Sequence[str],
        session_for: Callable[[str], Session],
        *,
        gpu_for: Callable[[str], GpuSourceFactory] | None = None,
        poll: bool = False,
        clock: Callable[[], float] = time.time,
        wake: Callable[[], None] | None = None,
        on_notice: Callable[[str], None] | None = None,
    ) -> None:
        self.paths = list(paths)
        self.names = short_names(self.paths)
        self.sessions = [session_for(p) for p in self.paths]
        self.clock = clock
        self._notice = on_notice
        self.feeds = [
            LiveFeed.follow(session, path, poll=poll, clock=clock, gpu=None if gpu_for is None else gpu_for(path),
                            wake=wake, on_notice=self._notice_for(name, path))
            for session, path, name in zip(self.sessions, self.paths, self.names)
        ]

    def _notice_for(self, name: str, path: str) -> Callable[[str], None]:
        def notice(message: str) -> None:
            if self._notice is not None:  # a notice that names its log already is not named twice
                self._notice(message if path in message else f"{name}: {message}")
        return notice

    def start(self) -> None:
        for feed in self.feeds:
            feed.start()

    def stop(self) -> None:
        for feed in self.feeds:
            feed.stop()

    def drain(self) -> list[bool]:
        """Hand what every feed queued to its session; which runs changed."""
        return [feed.drain() for feed in self.feeds]

    def drain_log(self, index: int) -> bool:
        """Hand what log `index`'s feed queued to its session; True when its run changed."""
        return self.feeds[index].drain()

    def history_read(self, index: int) -> bool:
        """Log `index`'s session holds what the log held when it was first read (its source
        said so after handing it over, or said it is not there yet or cannot be read)."""
        return self.feeds[index].state is not None

    def newest_first(self) -> list[int]:
        """The logs' indices, the most recently written first (one not there yet: last)."""
        return sorted(range(len(self.paths)), key=lambda i: -_mtime(self.paths[i]))


def _mtime(path: str) -> float:
    """The file's mtime (s), or -inf when it cannot be read (not there yet)."""
    try:
        return os.stat(path).st_mtime
    except OSError:
        return -math.inf


def follow_many_jsonl(
    runs: Runs,
    wake: threading.Event,
    *,
    interval_s: float = 1.0,
    out: TextIO | None = None,
    publish: Callable[[Snapshot], None] | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Records for several logs on one stream (each names its log in `source`): one after
    a log changes and at least every `interval_s` per log, until Ctrl-C (or `stop`)."""
    out = sys.stdout if out is None else out
    interval_s = max(interval_s, MIN_INTERVAL_S)
    last_write = [-math.inf] * len(runs.feeds)
    order = runs.newest_first()
    runs.start()
    try:
        while stop is None or not stop.is_set():
            wake.clear()  # before draining: a line queued after the drain wakes the wait below
            for i in order:
                # log by log, the most recently written first, each record out as soon as it is
                # made: it does not wait for every other log's history to be read (200 logs: seconds)
                feed = runs.feeds[i]
                changed = feed.drain()
                now = runs.clock()
                if (changed and not feed.pending()) or now - last_write[i] >= interval_s:
                    snap = runs.sessions[i].snapshot(now)
                    out.write(snap.to_json() + "\n")
                    out.flush()
                    if publish is not None:
                        publish(snap)
                    last_write[i] = now
            wake.wait(max(0.0, min(last_write) + interval_s - runs.clock()))
        return EXIT_OK
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, out.fileno())  # keep Python's exit flush quiet too
        return EXIT_OK
    finally:
        runs.stop()
