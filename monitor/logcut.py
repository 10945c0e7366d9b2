"""A log that started over (truncated, rotated) while its run had steps: what the session keeps
to read its new lines again as a new run if they turn out not to go on with it.

Glue, beside session.py: imports the PURE core and the inbox's events; never textual.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from monitor.core.formats import evidence
from monitor.core.formats.common import OWN
from monitor.core.formats.prefix import Margin, Partials
from monitor.core.provisional import Before
from monitor.core.trainrun import Note, ResetCause
from monitor.inbox import BlockRead, LinesRead, PartialRead, SourceEvent, TimedBlockRead

#: A log that started over whose new lines show no step, no start-up line and no other family
#: within this many lines (or bytes) is read as a new run, as a log that starts over is.
UNDECIDED_LINES, UNDECIDED_BYTES = 10_000, 16 << 20
LINE_EVENTS = (LinesRead, BlockRead, TimedBlockRead, PartialRead)


@dataclass(slots=True)
class Cut:
    """A log that started over (truncated, rotated) while its run had steps. Its new lines are
    read as that run going on (a start-up header or the step counter going back splits off a
    new run there, as anywhere in a log) until they show whether they do; if they do not, the
    reading is put back as it stood at the cut (`before`) and they are read again as a new run."""

    cause: ResetCause
    before: Before
    margin: Margin
    partials: Partials
    #: runs and the current run's step rows at the cut
    runs: int
    rows: int
    family: str | None
    #: the run had ended (its trainer said so) or crashed: no step goes on with it, but lines that
    #: are no run's (a summary, a shell's noise) stay with it, as they would in a log never cut
    over: bool = False
    #: the note the source's word on the cut added ("… was truncated; reading it from the start"),
    #: which the note of the run going on replaces, in its place
    said: Note | None = None
    #: what came since, to be read again as a new run
    events: list[SourceEvent] = field(default_factory=list)
    lines: int = 0
    size: int = 0


def line_count(event: SourceEvent) -> int:
    """The lines a read event holds (a PartialRead's one line counts); the cut's UNDECIDED_LINES."""
    if isinstance(event, LinesRead):
        return len(event.lines)
    if isinstance(event, (BlockRead, TimedBlockRead)):
        return event.block.count(b"\n")
    return 1


def byte_count(event: SourceEvent) -> int:
    """The bytes a read event holds, newlines included (0 for a PartialRead); the cut's UNDECIDED_BYTES."""
    if isinstance(event, LinesRead):
        return sum(len(line) + 1 for _, line in event.lines)
    if isinstance(event, (BlockRead, TimedBlockRead)):
        return len(event.block)
    return 0


def other_family(event: SourceEvent, family: str | None) -> bool:
    """True when a line of the event speaks for a family other than `family` (a line only
    that family prints, or its step line): a new run of another trainer."""
    if family is None:
        return False
    if isinstance(event, LinesRead):
        raw = [line for _, line in event.lines]
    elif isinstance(event, (BlockRead, TimedBlockRead)):
        raw = event.block.split(b"\n")[:UNDECIDED_LINES]
    else:
        return False
    for line in raw:
        found = evidence(line.decode("utf-8", "replace"))
        if found is not None and found[0] != family and found[1] >= OWN:
            return True
    return False
