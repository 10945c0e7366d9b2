"""The one way in: typed events from every source (lines, blocks, source states and failures,
resets, GPU samples and GPU problems), queued by the sources' threads in one bounded Inbox and
drained by the consumer into `Session.ingest`, the one function that folds them in.

Glue: imports the PURE core and the sources' problem values; never textual.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from monitor.core.telemetry import Reading
from monitor.core.trainrun import ResetCause
from monitor.sources.problems import GpuProblem, LineProblem
from monitor.sources.writer import WriterEvent, WriterExited, WriterFound

if TYPE_CHECKING:
    import numpy as np

#: (arrival time, line without its newline); None for lines that were there before we came.
Line = tuple[float | None, bytes]
#: A line source's state: waiting (no file yet), following, deleted, unreadable, ended (stdin).
SourceState = Literal["waiting", "following", "deleted", "unreadable", "ended"]
#: A read smaller than this (a live log's new lines: a follower's first read of a wake is at
#: most 64 kB) never waits for room: a consumer that drains a few times a second delays no
#: read, so no line's arrival time is late. The bound is for the big reads of a cold start.
SMALL_READ_BYTES = 64 << 10


@dataclass(frozen=True, slots=True)
class LinesRead:
    """Lines in order, each with the time it was seen."""

    lines: Sequence[Line]


@dataclass(frozen=True, slots=True)
class BlockRead:
    """Whole lines in one buffer (split on `\\n`), all seen at `t`: the bulk form of LinesRead."""

    t: float | None
    block: bytes


@dataclass(frozen=True, slots=True)
class TimedBlockRead:
    """Whole lines in one buffer (split on `\\n`), line i seen at times[i] (float64, one time a
    line): a replay's block, each line at its recorded or paced time."""

    block: bytes
    times: np.ndarray


@dataclass(frozen=True, slots=True)
class PartialRead:
    """A last line without its newline yet, read as it stands once it settled (a finished
    log's last line, or a writer that flushed mid-line). The next line its source hands over
    completes it (or it grows: another PartialRead) and is read in its place."""

    t: float | None
    line: bytes


@dataclass(frozen=True, slots=True)
class SourceChanged:
    state: SourceState


@dataclass(frozen=True, slots=True)
class SourceFailed:
    """A notice about the log source (deleted, truncated, unreadable) or its thread's failure."""

    problem: LineProblem


@dataclass(frozen=True, slots=True)
class SourceReset:
    """The source started over: `cause` is "truncated" (the file got smaller), "rewritten"
    (bytes already read changed) or "replaced" (the path names another file: rotated). What
    follows is a new run, or the same run going on (Session decides from the lines)."""

    cause: ResetCause = "truncated"


@dataclass(frozen=True, slots=True)
class FileTouched:
    """The followed file's mtime (epoch s): the age of lines that were there before we came."""

    mtime: float


@dataclass(frozen=True, slots=True)
class GpuWatched:
    """GPU telemetry is on, from a source of `origin` ("nvml" | "gpu-log"); `unavailable`
    says why that source gives nothing (no driver, an empty GPU log, --no-gpu)."""

    origin: str
    unavailable: str | None = None


@dataclass(frozen=True, slots=True)
class GpuSampled:
    """Readings of the GPU sampler: GPU samples, the run's GPU choice, the host's CPU energy."""

    samples: Iterable[Reading]


@dataclass(frozen=True, slots=True)
class GpuFailed:
    """The GPU source is unavailable, one GPU or endpoint is lost, or the sampler failed."""

    problem: GpuProblem


SourceEvent = (
    LinesRead | BlockRead | TimedBlockRead | PartialRead | SourceChanged | SourceFailed | SourceReset | FileTouched
    | GpuWatched | GpuSampled | GpuFailed | WriterFound | WriterExited
)


class Inbox:
    """A thread-safe queue of source events. Big reads (LinesRead, BlockRead of at least
    SMALL_READ_BYTES) are bounded: a source reading a huge file waits for the consumer
    instead of queueing all of it.
    `wake()` is called on the source's thread after each event is queued (GPU samples
    excepted when `samples_wake` is False: they wait for the consumer's next look)."""

    def __init__(self, max_reads: int, wake: Callable[[], None] | None = None, samples_wake: bool = True) -> None:
        self._items: deque[SourceEvent] = deque()
        self._samples_wake = samples_wake
        self._reads = 0
        self._big_reads = 0
        self._max_reads = max_reads
        self._wake = wake
        self._cond = threading.Condition()
        self._closed = False

    def put(self, event: SourceEvent) -> None:
        """Queue `event` (from any thread); a big read waits while `max_reads` big reads are queued."""
        read = isinstance(event, (LinesRead, BlockRead, TimedBlockRead, PartialRead))
        big = isinstance(event, (LinesRead, BlockRead, TimedBlockRead)) and _read_bytes(event) >= SMALL_READ_BYTES
        with self._cond:
            while big and self._big_reads >= self._max_reads and not self._closed:
                self._cond.wait()
            if self._closed:
                return
            self._items.append(event)
            self._reads += read
            self._big_reads += big
            self._cond.notify_all()
        if self._wake is not None and (self._samples_wake or not isinstance(event, GpuSampled)):
            self._wake()

    def take_all(self) -> list[SourceEvent]:
        with self._cond:
            items = list(self._items)
            self._items.clear()
            self._reads = self._big_reads = 0
            self._cond.notify_all()
        return items

    def wait(self, timeout_s: float) -> bool:
        """Block until something is queued or `timeout_s` passes; True when something is."""
        with self._cond:
            if not self._items and not self._closed:
                self._cond.wait(timeout_s)
            return bool(self._items)

    def has_reads(self) -> bool:
        with self._cond:
            return self._reads > 0

    def has_big_reads(self) -> bool:
        """True when a big read is queued (its source may be waiting for room)."""
        with self._cond:
            return self._big_reads > 0

    def close(self) -> None:
        """No more events are taken; a source waiting for room goes on (and its events are dropped)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()


def _read_bytes(event: LinesRead | BlockRead | TimedBlockRead) -> int:
    if isinstance(event, (BlockRead, TimedBlockRead)):
        return len(event.block)
    return sum(len(line) + 1 for _, line in event.lines)


@dataclass(frozen=True, slots=True)
class LineHooks:
    """The callbacks a line source (Follower, StdinReader, Player, a test double) is built
    with; each queues a typed event in the inbox, from the source's thread."""

    on_lines: Callable[[list[Line]], None]
    on_error: Callable[[LineProblem], None]
    on_state: Callable[[str], None]
    #: the source started over, and why (SourceReset.cause)
    on_reset: Callable[[ResetCause], None]
    #: whole lines in one buffer (each ending in a newline), all seen at one time: the bulk form
    on_block: Callable[[float | None, bytes], None]
    #: a last line without its newline yet, read as it stands (PartialRead)
    on_partial: Callable[[float | None, bytes], None]

    @classmethod
    def into(cls, inbox: Inbox) -> LineHooks:
        return cls(
            on_lines=lambda lines: inbox.put(LinesRead(lines)),
            on_error=lambda problem: inbox.put(SourceFailed(problem)),
            on_state=lambda state: inbox.put(SourceChanged(state)),  # type: ignore[arg-type]
            on_reset=lambda cause: inbox.put(SourceReset(cause)),
            on_block=lambda t, block: inbox.put(BlockRead(t, block)),
            on_partial=lambda t, line: inbox.put(PartialRead(t, line)),
        )


@dataclass(frozen=True, slots=True)
class GpuHooks:
    """The callbacks a GPU sampler is built with; each queues a typed event in the inbox."""

    on_watched: Callable[[str, str | None], None]
    on_samples: Callable[[list[Reading]], None]
    on_error: Callable[[GpuProblem], None]
    #: the log's writer process found or exited (sources.writer)
    on_writer: Callable[[WriterEvent], None] = lambda event: None

    @classmethod
    def into(cls, inbox: Inbox) -> GpuHooks:
        return cls(
            on_watched=lambda origin, unavailable: inbox.put(GpuWatched(origin, unavailable)),
            on_samples=lambda samples: inbox.put(GpuSampled(samples)),
            on_error=lambda problem: inbox.put(GpuFailed(problem)),
            on_writer=inbox.put,
        )
