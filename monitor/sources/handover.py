"""How a line source hands what it read to its consumer: complete lines stamped with their
arrival time (as a batch or a block), and a partial last line once it has settled. Shared by the
file follower (tail.py) and the stdin reader (stdin.py).

ADAPTER ring: no I/O of its own, no textual.
"""

from __future__ import annotations

from collections.abc import Callable

from monitor.core.lines import LineSplitter
from monitor.sources.problems import LineProblem

#: A partial last line unchanged this long is read as it stands (wandb's output.log ends without
#: a newline); if it grows or is completed later, the longer line follows and replaces it.
PARTIAL_SETTLE_S = 1.0

#: (arrival time, line without newline); None for lines that were in the file at start.
Batch = list[tuple[float | None, bytes]]
OnLines = Callable[[Batch], None]
#: (arrival time, complete lines each ending in `\n`): the bulk form, for Session.feed_block.
OnBlock = Callable[[float | None, bytes], None]
OnText = Callable[[str], None]
#: (arrival time, a last line without its newline yet): see inbox.PartialRead.
OnPartial = Callable[[float | None, bytes], None]
#: A notice about the file (deleted, truncated, unreadable), or the thread's LoopFailed.
OnProblem = Callable[[LineProblem], None]


def hand_over(
    splitter: LineSplitter,
    data: bytes,
    clock: Callable[[], float] | None,
    on_lines: OnLines,
    on_block: OnBlock | None,
) -> None:
    """The complete lines of `data` to the consumer, stamped now (None without a clock)."""
    if on_block is not None:
        block = splitter.feed_block(data)
        if block:
            on_block(None if clock is None else clock(), block)
        return
    lines = splitter.feed(data)
    if lines:
        t = None if clock is None else clock()
        on_lines([(t, line) for line in lines])


class PartialLine:
    """The partial last line of a stream (a line without its newline yet), handed over as a
    line once it has not changed for `settle_s` (PARTIAL_SETTLE_S): wandb's output.log ends
    without a newline. If it grows later, the longer line is due again."""

    def __init__(self, settle_s: float, monotonic: Callable[[], float]) -> None:
        self.settle_s, self._monotonic = settle_s, monotonic
        self.pending = b""  # the partial last line as last seen,
        self._since = 0.0  # since when (monotonic),
        self.given = b""  # and what of it was handed over as a line

    def note(self, pending: bytes) -> None:
        """The splitter's partial line after a read."""
        if pending != self.pending:
            self.pending, self._since = pending, self._monotonic()

    def due_in_s(self) -> float | None:
        """Seconds until the partial line settles (<= 0: now); None with nothing to hand over."""
        if not self.pending or self.pending == self.given:
            return None
        return self._since + self.settle_s - self._monotonic()

    def take(self) -> bytes:
        """The settled line, marked as handed over."""
        self.given = self.pending
        return self.pending

    def reset(self) -> None:
        self.pending = self.given = b""


def give_partial(line: bytes, t: float | None, on_lines: OnLines, on_block: OnBlock | None,
                 on_partial: OnPartial | None) -> None:
    """A settled partial last line to the consumer: as provisional where it takes that (a
    writer that flushed mid-line completes it later: the cut line must not stand), else as a line."""
    if on_partial is not None:
        on_partial(t, line)
    else:
        give_line(line, t, on_lines, on_block)


def give_line(line: bytes, t: float | None, on_lines: OnLines, on_block: OnBlock | None) -> None:
    """One line (without its ending) to the consumer, as a block or as a batch of one."""
    if on_block is not None:
        on_block(t, line + b"\n")
    else:
        on_lines([(t, line)])
