"""Log families and their detection: one module per family, one `Family` record each.

PURE ring: no I/O, no textual/watchdog/pynvml imports.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from monitor.core.events import Crash, Event, PyWarning, TracebackStarted
from monitor.core.formats import bulk, llama2c, llmc, modded, nanochat, nanogpt
from monitor.core.formats.common import PythonErrors, glued_end
from monitor.core.formats.scan import IterationColumns

#: What a parser makes of one line: nothing, one event, or several (a modded-nanogpt
#: validation line is both a progress mark and an eval; a new nanochat stage starts a run).
Parsed = Event | tuple[Event, ...] | None


class LineParser(Protocol):
    name: str

    def parse(self, line: str) -> Parsed: ...


@dataclass(frozen=True, slots=True)
class Family:
    name: str
    make_parser: Callable[[], LineParser]
    sniff: Callable[[str], bool]
    #: settings in force when the log does not print them
    defaults: dict[str, object] = field(default_factory=dict)
    #: the last step number the log prints, from (max_iters, log_interval); a parser may
    #: override it for one run with ConfigValue("final_iter_offset", k): last = max_iters - k
    final_iter: Callable[[int, int], int] = lambda max_iters, _interval: max_iters
    #: True when step numbers start at 0 (nanoGPT: steps 0..max_iters, max_iters+1 of them);
    #: a parser may override it for one run with ConfigValue("zero_based", bool)
    zero_based: bool = False
    #: True when the printed per-step time includes the eval/checkpoint pause done at that
    #: step (nanoGPT); False when the family's clock leaves evals out (they show only as
    #: gaps between line arrival times)
    eval_in_step_time: bool = False
    #: optional bulk reader of plain iteration lines (formats/bulk.py): (buffer, line starts,
    #: line ends: consecutive lines as lines.line_bounds gives them) -> IterationColumns,
    #: exactly what the parser gives for those lines; the family's parser then has plain():
    #: True when such a line would not change it
    scan_iterations: Callable[[bytes, np.ndarray, np.ndarray], IterationColumns] | None = None


FAMILIES: dict[str, Family] = {
    "nanogpt": Family(
        name="nanogpt",
        make_parser=nanogpt.Parser,
        sniff=nanogpt.sniff,
        defaults=nanogpt.DEFAULTS,
        final_iter=nanogpt.final_iter,
        zero_based=True,
        eval_in_step_time=True,
        scan_iterations=bulk.nanogpt,
    ),
    # nanochat's `dt`, llm.c's `ms` and modded-nanogpt's `train_time` all leave evals out.
    "nanochat": Family(
        name="nanochat",
        make_parser=nanochat.Parser,
        sniff=nanochat.sniff,
        defaults=nanochat.DEFAULTS,
        final_iter=nanochat.final_iter,
        zero_based=True,
        eval_in_step_time=False,
        scan_iterations=bulk.nanochat,
    ),
    "llmc": Family(
        name="llmc",
        make_parser=llmc.Parser,
        sniff=llmc.sniff,
        defaults=llmc.DEFAULTS,
        final_iter=llmc.final_iter,
        zero_based=False,
        eval_in_step_time=False,
        scan_iterations=bulk.llmc,
    ),
    "modded": Family(
        name="modded",
        make_parser=modded.Parser,
        sniff=modded.sniff,
        defaults=modded.DEFAULTS,
        zero_based=False,
        eval_in_step_time=False,
        scan_iterations=bulk.modded,
    ),
    # llama2.c's train.py is nanoGPT's with its own step line: the same config dump, eval
    # and checkpoint lines, and a step time that includes the eval of its step.
    "llama2c": Family(
        name="llama2c",
        make_parser=llama2c.Parser,
        sniff=llama2c.sniff,
        defaults=llama2c.DEFAULTS,
        final_iter=nanogpt.final_iter,
        zero_based=True,
        eval_in_step_time=True,
    ),
}

FORMAT_NAMES = ("auto", *FAMILIES)
#: A family whose lines another family prints too, and the family that a line of its own
#: then shows the log to be (a llama2.c log opens with nanoGPT's start-up and eval lines).
REFINES = {"nanogpt": "llama2c"}
#: Events any Python process prints, read before the family is known (a run that dies
#: before its first family line has crashed, with its reason).
_GENERIC = (Crash, TracebackStarted, PyWarning)

#: Lines kept while the family is still unknown; replayed once it is detected.
MAX_UNDETECTED_LINES = 50_000


def detect(line: str) -> str | None:
    """The family a line belongs to, if the line is one only that family prints."""
    for family in FAMILIES.values():
        if family.sniff(line):
            return family.name
    return None


class AutoParser:
    """Parses lines with a fixed family, or detects it from the first telling line.

    Until detection, lines wait (with their times) and are replayed through the
    detected family's parser, so nothing printed before the first step is lost.
    """

    def __init__(self, fmt: str = "auto") -> None:
        self.family: Family | None = FAMILIES.get(fmt)
        self._auto = self.family is None
        self._parser: LineParser | None = self.family.make_parser() if self.family else None
        self._waiting: deque[tuple[float | None, str]] = deque(maxlen=MAX_UNDETECTED_LINES)
        self._errors = PythonErrors()

    @property
    def name(self) -> str | None:
        return self.family.name if self.family else None

    @property
    def scan_iterations(self) -> Callable[[bytes, np.ndarray, np.ndarray], IterationColumns] | None:
        """The family's bulk reader of iteration lines, once the family is known."""
        return self.family.scan_iterations if self.family is not None and self._parser is not None else None

    def plain(self) -> bool:
        """True when a line the bulk reader accepts may skip parse() (see Family)."""
        plain = getattr(self._parser, "plain", None)
        return plain is not None and plain()

    def absorb(self, cols: IterationColumns, first: int, end: int) -> None:
        """Rows first..end-1 of `cols`, read in bulk, pass the parser as parse() would pass
        them: its state moves on, and fields it derives from earlier lines are filled in."""
        absorb = getattr(self._parser, "absorb", None)
        if absorb is not None and first < end:
            absorb(cols, first, end)

    def feed(self, t: float | None, line: str) -> list[tuple[float | None, Event]]:
        glued = glued_end(line)
        if glued > 0:  # a scheduler killed the job mid-line: its message is a line of its own
            return self.feed(t, line[:glued]) + self.feed(t, line[glued:])
        if self._parser is not None:
            refined = REFINES.get(self.family.name) if self._auto else None  # type: ignore[union-attr]
            if refined is not None and FAMILIES[refined].sniff(line):
                self.family = FAMILIES[refined]
                self._parser = self.family.make_parser()
            return _timed(t, self._parser.parse(line))
        name = detect(line)
        if name is None:
            self._waiting.append((t, line))
            # Tracebacks and warnings now, not once a family line comes (it may never).
            return _timed(t, self._errors.parse(line))
        self.family = FAMILIES[name]
        self._parser = self.family.make_parser()
        waiting, self._waiting = self._waiting, deque(maxlen=MAX_UNDETECTED_LINES)
        out: list[tuple[float | None, Event]] = []
        for wt, wline in waiting:  # their errors were given already
            out.extend(pair for pair in _timed(wt, self._parser.parse(wline)) if not isinstance(pair[1], _GENERIC))
        out.extend(_timed(t, self._parser.parse(line)))
        return out


def _timed(t: float | None, parsed: Parsed) -> list[tuple[float | None, Event]]:
    if parsed is None:
        return []
    if isinstance(parsed, tuple):
        return [(t, event) for event in parsed]
    return [(t, parsed)]
