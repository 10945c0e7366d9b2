"""The state of a reading as it stood before a provisional line (a last line without its
newline yet, read once it settled), put back when that line is completed or grows.

PURE ring: no I/O, no textual/watchdog/pynvml imports.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from monitor.core.formats import AutoParser
from monitor.core.formats.prefix import PrintedClock
from monitor.core.run import RunState


@dataclass(frozen=True, slots=True)
class Before:
    """Copies of what reading one line can change: the run state's current run and line
    count, the parser (its family, config dump or traceback in progress) and the printed
    clock. Earlier runs are shared, not copied: one line only changes the current run (or
    starts the next one), so the copy costs the current run's kept rows (a few MB at most)
    however long the log is."""

    state: RunState
    parser: AutoParser
    printed_clock: PrintedClock


def save(state: RunState, parser: AutoParser, printed_clock: PrintedClock) -> Before:
    """Copies of `state`, `parser` and `printed_clock` as they are now (see Before)."""
    memo: dict[int, object] = {id(run): run for run in state.runs[:-1]}
    return Before(copy.deepcopy(state, memo), copy.deepcopy(parser), copy.deepcopy(printed_clock))

