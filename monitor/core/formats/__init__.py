"""Log families and their detection: one module per family, one `Family` record each.

Detection weighs what a line says (common.SHARED, OWN, STEP): a start-up line gives a guess,
a line only one family prints a better one, and the first step line decides.

PURE ring: no I/O, no textual/watchdog/pynvml imports.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from monitor.core.events import Crash, Event, Iteration, PyWarning, TracebackStarted
from monitor.core.formats import bulk, llama2c, llmc, modded, nanochat, nanogpt
from monitor.core.formats.common import STEP, PythonErrors, glued_end
from monitor.core.formats.scan import IterationColumns
from monitor.core.formats.skim import Backlog

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
    #: what a line says of the family: 0 (not its line), common.SHARED, OWN or STEP
    sniff: Callable[[str], int]
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
#: Events any Python process prints, read before the family is known (a run that dies
#: before its first family line has crashed, with its reason).
_GENERIC = (Crash, TracebackStarted, PyWarning)

#: Lines kept while the family is not decided; read again by the family a later line decides.
MAX_UNDETECTED_LINES = 50_000
#: ... within about this many bytes of text (a log of huge lines keeps fewer).
MAX_UNDETECTED_BYTES = 64 << 20


def evidence(line: str) -> tuple[str, int] | None:
    """The family the line speaks for most strongly, and how strongly (common.SHARED, OWN,
    STEP); None for a line of no family. Of equals, the first family in FAMILIES."""
    best: tuple[str, int] | None = None
    for family in FAMILIES.values():
        strength = family.sniff(line)
        if strength and (best is None or strength > best[1]):
            best = (family.name, strength)
    return best


def detect(line: str) -> str | None:
    """The family a line belongs to, if it is any family's."""
    found = evidence(line)
    return None if found is None else found[0]


class AutoParser:
    """Parses lines with a fixed family, or detects it from what the lines say.

    A start-up line names a family provisionally: nanoGPT's `using fused AdamW:` is printed by
    llama2.c, llm.c's train_gpt2.py and build-nanogpt too. A line that speaks for another family
    more strongly takes over (a line only that family prints, or a step line), and the first
    step line decides for good. Until then every line is kept, with the events it gave; the
    family that takes over reads them again, and only what it reads anew is given (the
    settings already read stay: they are the run's, printed by it).
    """

    def __init__(self, fmt: str = "auto") -> None:
        self.family: Family | None = FAMILIES.get(fmt)
        self._auto = self.family is None
        self._parser: LineParser | None = self.family.make_parser() if self.family else None
        #: how strongly the lines so far named the family (STEP: decided, or fixed by the user)
        self._strength = 0 if self._auto else STEP
        #: lines read before the family was decided: (time, line, the events they gave)
        self._held = Backlog(MAX_UNDETECTED_LINES, MAX_UNDETECTED_BYTES)
        self._errors = PythonErrors()

    @property
    def name(self) -> str | None:
        return self.family.name if self.family else None

    @property
    def decided(self) -> bool:
        """True once a step line decided the family (or the user named it)."""
        return self._strength >= STEP

    @property
    def scan_iterations(self) -> Callable[[bytes, np.ndarray, np.ndarray], IterationColumns] | None:
        """The family's bulk reader of iteration lines, once a step line decided the family
        (a guess may still change, and the bulk reader reads one family's lines only)."""
        return self.family.scan_iterations if self.family is not None and self.decided else None

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

    def holds(self) -> bool:
        """True while the family's parser holds a line's events for a line to come."""
        holds = getattr(self._parser, "holds", None)
        return holds is not None and holds()

    def release(self, t: float | None) -> list[tuple[float | None, Event]]:
        """What the parser holds for a line that has not come (the log ended, or has been
        quiet), at `t`; [] when it holds nothing."""
        release = getattr(self._parser, "release", None)
        if release is None:
            return []
        out = _timed(t, release())
        if out:
            self._hold(t, "", out)
        return out

    @property
    def skimming(self) -> bool:
        """True while a line that skim.marked_lines leaves unmarked changes nothing here
        but the lines kept for replay: no family yet, and no error being read."""
        return self._parser is None and self._errors.idle

    def skim(self, t: float | None, data: bytes, starts: np.ndarray, ends: np.ndarray,
             cut: Callable[[str], str]) -> None:
        """Lines data[starts[i]:ends[i]] that skim.marked_lines left unmarked, seen at `t`:
        kept for the replay at detection (each piece through `cut`, the log's margin, as read)."""
        self._held.add_skimmed(t, data, starts, ends, cut)

    def feed(self, t: float | None, line: str) -> list[tuple[float | None, Event]]:
        glued = glued_end(line)
        if glued > 0:  # a scheduler killed the job mid-line: its message is a line of its own
            return self.feed(t, line[:glued]) + self.feed(t, line[glued:])
        if self.decided:
            return _timed(t, self._parser.parse(line))  # type: ignore[union-attr]
        found = evidence(line)
        if found is not None and found[1] > self._strength:
            if self.family is None or found[0] != self.family.name:
                return self._take_over(FAMILIES[found[0]], found[1], t, line)
            self._strength = found[1]
        if self._parser is None:
            self._held.add(t, line, [])
            # Tracebacks and warnings now, not once a family line comes (it may never).
            return _timed(t, self._errors.parse(line))
        out = _timed(t, self._parser.parse(line))
        self._hold(t, line, out)
        return out

    def _take_over(self, family: Family, strength: int, t: float | None, line: str) -> list[tuple[float | None, Event]]:
        """`family` reads the kept lines again, then `line`: the events it gives that the
        lines did not give already."""
        self.family, self._parser, self._strength = family, family.make_parser(), strength
        held, self._held = self._held, Backlog(MAX_UNDETECTED_LINES, MAX_UNDETECTED_BYTES)
        out: list[tuple[float | None, Event]] = []
        for ht, hline, given in held:
            new = _new_events(_timed(ht, self._parser.parse(hline)), given)
            out.extend(new)
            self._hold(ht, hline, new, given)
        line_out = _timed(t, self._parser.parse(line))
        out.extend(line_out)
        self._hold(t, line, line_out)
        return out

    def _hold(self, t: float | None, line: str, events: list[tuple[float | None, Event]],
              given: list[Event] | None = None) -> None:
        """Keep the line until the family is decided; a step line decides it."""
        if any(isinstance(e, Iteration) for _, e in events):
            self._strength = STEP
        if self.decided:
            self._held.clear()
            return
        self._held.add(t, line, [*(given or []), *(e for _, e in events)])


def _new_events(events: list[tuple[float | None, Event]], given: list[Event]) -> list[tuple[float | None, Event]]:
    """The events a line gave on a second reading that its first did not (errors and warnings
    were given as the line came, whoever read it)."""
    left = list(given)
    out = []
    for pair in events:
        event = pair[1]
        if isinstance(event, _GENERIC):
            continue
        if event in left:
            left.remove(event)
            continue
        out.append(pair)
    return out


def _timed(t: float | None, parsed: Parsed) -> list[tuple[float | None, Event]]:
    if parsed is None:
        return []
    if isinstance(parsed, tuple):
        return [(t, event) for event in parsed]
    return [(t, parsed)]
