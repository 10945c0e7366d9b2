"""The runs table's rows: one log as plain strings (run, status, progress, finish, kWh, cost),
and the totals line over several runs.

PURE ring: takes Snapshots, returns text; no I/O, no textual/watchdog/pynvml imports.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from monitor.core import textfmt as fmt
from monitor.core.sanitise import clean, clean_name
from monitor.core.snapshot import Snapshot

COLUMNS = ("run", "status", "progress", "finish", "kWh", "cost")


@dataclass(frozen=True, slots=True)
class RunRow:
    """One log as the runs table shows it: plain strings, '?' where unknown."""

    run: str
    status: str
    progress: str
    finish: str
    kwh: str
    cost: str

    def cells(self) -> tuple[str, ...]:
        """The cells as a terminal may show them (a log's name passes the sanitiser)."""
        rest = (self.status, self.progress, self.finish, self.kwh, self.cost)
        return (clean_name(self.run), *(clean(c) for c in rest))


def short_names(paths: Sequence[str]) -> list[str]:
    """The fewest trailing path parts that tell the logs apart: `a/run.log`, `b/run.log`."""
    parts = [os.path.normpath(os.path.abspath(p)).split(os.sep) if p != "-" else ["stdin"] for p in paths]
    depth = [1] * len(paths)
    for _ in range(max((len(p) for p in parts), default=1)):
        names = ["/".join(p[-d:]) for p, d in zip(parts, depth)]
        clashing = {n for n in names if names.count(n) > 1}
        if not clashing:
            return names
        depth = [d + 1 if n in clashing and d < len(p) else d for p, d, n in zip(parts, depth, names)]
    return ["/".join(p[-d:]) for p, d in zip(parts, depth)]


#: The status of a log whose history is still being read (the table is drawn before it is).
READING = "reading…"


def reading_row(name: str) -> RunRow:
    """The row of a log whose history is not read yet: its name, `reading…`, nothing else."""
    return RunRow(name, READING, "", "", "", "")


def run_row(name: str, snap: Snapshot) -> RunRow:
    return RunRow(name, _status(snap), _progress(snap), _finish(snap), _kwh(snap), _cost(snap))


def _status(s: Snapshot) -> str:
    nan = " · loss NaN" if s.loss_is_nan else ""  # a diverged run says so in the table too
    return fmt.status_words(s) + (f" (run {s.run_index + 1:,})" if s.run_count > 1 else "") + nan


# Cells stay short so that six columns fit 80 terminal columns; the run's own screen has the rest.


def _progress(s: Snapshot) -> str:
    if s.progress is not None:
        return fmt.pct(s.progress)
    return fmt.UNKNOWN if s.iter is None else f"iter {s.iter:,}"


def _finish(s: Snapshot) -> str:
    if s.status == "finished":
        return f"done {fmt.clock(s.last_line_t, s.t)}" if s.last_line_t is not None else "done"
    return fmt.clock(s.eta_finish, s.t)


def _kwh(s: Snapshot) -> str:
    if s.energy_j is None:
        return fmt.UNKNOWN
    so_far = fmt.kwh_number(s.energy_j)
    return so_far if s.energy_final_j is None else f"{so_far}→{fmt.kwh_number(s.energy_final_j)}"


def _cost(s: Snapshot) -> str:
    """In the currency the top line names (the table's header says it once)."""
    if s.cost is None:
        return fmt.UNKNOWN
    text = fmt.money(s.cost, None)
    return text if s.cost_final is None else f"{text}→{fmt.money(s.cost_final, None)}"


def totals(snaps: Sequence[Snapshot]) -> str:
    """`3 runs · 2 training · 1.234 kWh → 5.678 kWh · 0.19 → 0.85 USD` over the runs that say."""
    training = sum(1 for s in snaps if s.status in ("training", "evaluating"))
    parts = [fmt.counted(len(snaps), "run"), f"{training:,} training"]
    known = [s for s in snaps if s.energy_j is not None]
    if known:
        energy = sum(s.energy_j or 0.0 for s in known)
        final = [s.energy_final_j if s.energy_final_j is not None else s.energy_j for s in known]
        parts.append(f"{fmt.kwh(energy)} → {fmt.kwh(sum(x or 0.0 for x in final))}")
        currencies = {s.currency for s in known}
        if len(currencies) == 1:
            cost = sum(s.cost or 0.0 for s in known)
            cost_final = sum((s.cost_final if s.cost_final is not None else s.cost) or 0.0 for s in known)
            parts.append(f"{fmt.money(cost, None)} → {fmt.money(cost_final, currencies.pop())}")
    return clean(" · ".join(parts))
