"""How fast the finish time follows a real change of speed: on each recorded run whose NVML trace
shows other processes arriving or leaving (benchmarks/eta_contention.py), the lines the estimate
takes, after each such change that moved the run's speed by 25% or more, to follow it.

Run: python benchmarks/eta_reaction.py [--markdown] [--test-set]

A change is a moment the count of other processes on the run's GPUs changes; the run's true speed
before and after it is the median printed step time (the steps' own clock) of the lines between it
and the changes on either side (at least MIN_LINES each; eval lines out). The onset of the move is
the first line from which the printed step times (a median of 5) have covered half of it (a process
NVML lists may compile or start up before it computes). Reaction, in lines and steps after the
onset: the first line at which the estimate has covered half of the move, in log units, from its
median over the lines before the change, for the current speed (`Estimate.step_time_s`) and for the
finish (the step time it implies for the steps left, `train_remaining_s / steps left`); 0 when it
already had (the change detector may see the move a line or two first); "–" when it never does
before the next change. Each change is replayed twice: with the NVML process list (as nanowatch
runs live beside a GPU it can read) and without it (the change detector alone).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.eta_accuracy import all_recorded_runs
from benchmarks.eta_contention import contention_readings, replayed
from benchmarks.tables import render
from monitor.core.estimate import estimate
from monitor.core.plan import make_plan
from monitor.core.telemetry import GpuSample

#: The smallest move followed (the issue's 25%), and the lines each side needs to measure it.
MOVE = math.log(1.25)
MIN_LINES = 10
#: A printed step time this many times the median is an eval or checkpoint step: left out.
SLOW_STEP = 3.0
#: Lines before the change at which the estimate may already follow it (NVML lists a process
#: that ended for up to a sample or two after its work stopped).
EARLY_LINES = 5
#: Lines whose median printed step time dates the true onset of a move (see `onset`).
ONSET_LINES = 5


@dataclass(frozen=True, slots=True)
class Trace:
    """One line of a replay: arrival (s), iteration, printed step time (s, NaN if none), the
    estimate's current step time and the step time its finish implies (s, NaN if none)."""

    t: float
    iter: int
    printed_s: float
    shown_s: float
    implied_s: float


@dataclass(frozen=True, slots=True)
class Reaction:
    run: str
    at_s: float  # the change, from the run's first line
    others: tuple[int, int]  # other processes before -> after
    move: float  # true speed after / before
    lines: int  # lines from the onset of the move until the next change
    late: int  # lines from NVML's change to the onset of the move (see `onset`)
    shown: tuple[int, int] | None  # (lines, steps) until the current speed covered half the move
    implied: tuple[int, int] | None  # the same for the finish's step time
    blind_shown: tuple[int, int] | None  # without the process list
    blind_implied: tuple[int, int] | None


def _replay(log: Path, times: Path, gpu: bool) -> list[Trace]:
    out: list[Trace] = []
    for t, session in replayed(log, times, gpu, live_clock=False):
        run = session.state.current
        plan = make_plan(run, session.format, None)
        last = run.last_iter
        if last is None or plan.final_iter is None or last >= plan.final_iter:
            continue
        contention = session.telemetry.contention if session.telemetry is not None else ()
        est = estimate(run, plan, t, contention=contention)
        left = plan.final_iter - last
        implied = est.train_remaining_s / left if est.train_remaining_s is not None and left > 0 else math.nan
        printed = float(run.step_time_s.values[-1])
        out.append(Trace(t, last, printed, est.step_time_s or math.nan, implied))
    return out


def changes(folder: Path) -> list[tuple[float, int, int]]:
    """(time, others before, others after) at each change of the most other processes on any of
    the run's GPUs, from its NVML trace."""
    per: dict[int, int] = {}
    out: list[tuple[float, int, int]] = []
    most = 0
    for t, reading in contention_readings(folder):
        if isinstance(reading, GpuSample):
            per[reading.index] = reading.other_processes or 0
            now = max(per.values())
            if now != most:
                out.append((t, most, now))
                most = now
    return out


def _speed(lines: list[Trace]) -> float | None:
    printed = [x.printed_s for x in lines if math.isfinite(x.printed_s) and x.printed_s > 0]
    if len(printed) < MIN_LINES:
        return None
    mid = statistics.median(printed)
    return statistics.median(p for p in printed if p < SLOW_STEP * mid)


def _reacted(trace: list[Trace], before: range, start: int, end: int, field: str,
             move: float) -> tuple[int, int] | None:
    """(lines, steps) after line `start` (the first after the change) until `field` covered half
    of `move` (log units) from its median over the lines `before`; (0, 0) when it had already
    (the CUSUM can see the move a line or two before NVML lists the change)."""
    values = [v for k in before if math.isfinite(v := getattr(trace[k], field)) and v > 0]
    if not values:
        return None
    ref = statistics.median(values)
    for k in range(max(0, start - EARLY_LINES), end):
        v = getattr(trace[k], field)
        if math.isfinite(v) and v > 0 and math.log(v / ref) / move >= 0.5:
            return max(0, k - start + 1), max(0, trace[k].iter - trace[start - 1].iter)
    return None


def onset(trace: list[Trace], start: int, end: int, old: float, move: float) -> int | None:
    """The first line from EARLY_LINES before `start` at which the run's own printed step times
    (the median of it and the ONSET_LINES after it) have covered half of `move` from `old`: when
    the speed truly moved (a process NVML lists may compile or start up before it computes)."""
    for k in range(max(0, start - EARLY_LINES), end):
        ahead = [x.printed_s for x in trace[k:k + ONSET_LINES] if math.isfinite(x.printed_s) and x.printed_s > 0]
        if len(ahead) == ONSET_LINES and math.log(statistics.median(ahead) / old) / move >= 0.5:
            return k
    return None


def _merged(events: list[tuple[float, int, int]], line_t: list[float]) -> list[tuple[float, int, int]]:
    """Changes fewer than MIN_LINES lines apart are one (the processes of one job are listed a
    sample or two apart): the first one's time and count before, the last one's count after."""
    out: list[tuple[float, int, int]] = []
    for t, before, after in events:
        if out and sum(out[-1][0] < x <= t for x in line_t) < MIN_LINES:
            out[-1] = (out[-1][0], out[-1][1], after)
        else:
            out.append((t, before, after))
    return [e for e in out if e[1] != e[2]]


def reactions(name: str, log: Path, times: Path) -> list[Reaction]:
    events = changes(log.parent)
    if not events:
        return []
    seen, blind = _replay(log, times, True), _replay(log, times, False)
    if not seen or len(seen) != len(blind):
        return []
    events = _merged(events, [x.t for x in seen])
    t0 = seen[0].t
    bounds = [seen[0].t] + [t for t, _, _ in events] + [seen[-1].t + 1.0]
    out = []
    for j, (t, before, after) in enumerate(events, start=1):
        lo, hi = bounds[j - 1], bounds[j + 1]
        start = next((k for k, x in enumerate(seen) if x.t > t), len(seen))
        end = next((k for k, x in enumerate(seen) if x.t > hi), len(seen))
        old = _speed([x for x in seen if lo < x.t <= t])
        new = _speed(seen[start:end])
        if old is None or new is None or abs(math.log(new / old)) < MOVE or start == 0:
            continue
        move = math.log(new / old)
        moved = onset(seen, start, end, old, move)
        if moved is None:
            continue
        lag_lines = max(0, moved - start)  # the speed moved this many lines after NVML said
        start += lag_lines
        # the two replays read the same lines: the same indices
        was = range(next(k for k, x in enumerate(seen) if x.t > lo), max(0, start - EARLY_LINES))
        out.append(Reaction(
            name, t - t0, (before, after), new / old, end - start, lag_lines,
            _reacted(seen, was, start, end, "shown_s", move), _reacted(seen, was, start, end, "implied_s", move),
            _reacted(blind, was, start, end, "shown_s", move), _reacted(blind, was, start, end, "implied_s", move),
        ))
    return out


def _cell(x: tuple[int, int] | None) -> str:
    return "–" if x is None else f"{x[0]} ({x[1]} steps)"


def table(rows: list[Reaction], markdown: bool) -> str:
    head = ["run", "at", "others", "move", "onset after", "lines to next", "speed (NVML)", "finish (NVML)", "speed (blind)",
            "finish (blind)"]
    body = [[r.run, f"{r.at_s:.0f} s", f"{r.others[0]} → {r.others[1]}", f"{r.move:.2f}x", f"{r.late} lines", str(r.lines),
             _cell(r.shown), _cell(r.implied), _cell(r.blind_shown), _cell(r.blind_implied)] for r in rows]
    return render(head, body, markdown)


def summary(rows: list[Reaction]) -> str:
    def within(cells: list[tuple[int, int] | None]) -> str:
        ok = sum(c is not None and (c[0] <= 10 or c[1] <= 20) for c in cells)
        return f"{ok}/{len(cells)}"

    return (f"changes of >= 25%: {len(rows)}; within 10 lines or 20 steps: current speed "
            f"{within([r.shown for r in rows])} (NVML), {within([r.blind_shown for r in rows])} (blind); finish "
            f"{within([r.implied for r in rows])} (NVML), {within([r.blind_implied for r in rows])} (blind)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--test-set", action="store_true",
                    help="also the test set's runs (eta_accuracy.TEST_SET_PREFIXES), left out unless asked")
    args = ap.parse_args()
    runs = all_recorded_runs(test_set=args.test_set)
    rows: list[Reaction] = []
    for name, log, times, _ in runs:
        if times is not None:
            rows += reactions(name, log, times)
    print(table(rows, args.markdown))
    print(summary(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
