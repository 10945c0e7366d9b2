"""What the app hears from its sources: the source protocols, the callbacks handed to them,
and the Messages those callbacks post to the app (post_message is thread-safe).

UI ring: the Messages are Textual's; the sources themselves (tail, gpu, player) import no textual.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from textual.message import Message

from monitor.core.telemetry import Reading

Line = tuple[float | None, bytes]
OnLines = Callable[[list[Line]], None]
OnSamples = Callable[[list[Reading]], None]
OnError = Callable[[str], None]


class Source(Protocol):
    """A line or GPU source: started and stopped by the app, reporting through its callbacks."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


class LineSource(Source, Protocol):
    #: mtime of the followed file (None for a pipe or a replay): the age of lines read at start.
    mtime: float | None


@dataclass(frozen=True, slots=True)
class LineHooks:
    """The app's thread-safe callbacks, handed to a line-source factory."""

    on_lines: OnLines
    on_error: OnError
    on_state: OnError
    on_reset: Callable[[], None]
    #: whole lines in one buffer (each ending in a newline), all seen at one time: the bulk form
    on_block: Callable[[float | None, bytes], None]


LineSourceFactory = Callable[[LineHooks], LineSource]
GpuSourceFactory = Callable[[OnSamples, OnError], Source]


class LinesArrived(Message):
    def __init__(self, lines: list[Line]) -> None:
        super().__init__()
        self.lines = lines


class BlockArrived(Message):
    def __init__(self, t: float | None, block: bytes) -> None:
        super().__init__()
        self.t = t
        self.block = block


class SourceFailed(Message):
    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


class SourceChanged(Message):
    """The follower's state: waiting, following, deleted, unreadable, ended."""

    def __init__(self, state: str) -> None:
        super().__init__()
        self.state = state


class SourceRestarted(Message):
    """The file started over (truncated or replaced): what follows is a new run."""


class GpuSampled(Message):
    def __init__(self, samples: list[Reading]) -> None:
        super().__init__()
        self.samples = samples


class GpuFailed(Message):
    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason
