"""Session: one log source and its GPU telemetry, folded into Snapshots on demand.

Glue between the rings: imports the PURE core, never textual. The clock is injected.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from monitor.formats import AutoParser
from monitor.lines import decode, segments
from monitor.report import Options, build
from monitor.run import RunState
from monitor.snapshot import Snapshot


class Session:
    def __init__(self, options: Options, clock: Callable[[], float]) -> None:
        self.options = options
        self.clock = clock
        self.parser = AutoParser(options.fmt)
        self.state = RunState()
        self.file_mtime: float | None = None
        self.waiting = False

    @property
    def format(self) -> str | None:
        return self.parser.name

    def feed(self, line: bytes | str, t: float | None = None) -> bool:
        """One log line (without its newline) seen at `t`; True when the run changed."""
        text = decode(line) if isinstance(line, bytes) else line
        self.state.line_seen(t)
        changed = False
        for segment in segments(text):
            for event_t, event in self.parser.feed(t, segment):
                changed = self.state.apply(event, event_t) or changed
        return changed

    def feed_many(self, lines: Iterable[bytes | str], t: float | None = None) -> bool:
        changed = False
        for line in lines:
            changed = self.feed(line, t) or changed
        return changed

    def snapshot(self, now: float | None = None, charts: bool = False) -> Snapshot:
        return build(
            self.state,
            self.format,
            self.options,
            self.clock() if now is None else now,
            file_mtime=self.file_mtime,
            waiting=self.waiting,
            charts=charts,
        )
