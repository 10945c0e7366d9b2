"""Finish-time accuracy: replay recorded runs with their real line times and compare
nanowatch's estimate with naive baselines at fixed fractions of the iterations.

Run: python benchmarks/eta_accuracy.py [--markdown] [--paced] [--timing] [--loo] [--score PREFIX] [--jobs N] [--test-set]
(--loo: the leave-one-run-out summary and the unfitted runs' scores only, the quick check of a
change to the estimator; --score heldout/h200k_: only the runs so named, scored with the tables as
shipped, as a new test set is scored before and after a change; --jobs: replay that many runs at once;
--test-set: the full report also scores the test set, TEST_SET_PREFIXES, which is otherwise left out)

Error at a point = |predicted finish - actual finish| / run duration, where the actual
finish is the time of the log's last line and the duration is the last line's time minus
the first line's. A point is the first line at which the run has done that fraction of its
iterations (counted from its first, for a run resumed from a checkpoint). Coverage: the truth lies inside [eta_low, eta_high].
A recorded run's NVML process lists are replayed beside its lines (benchmarks/eta_contention.py).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.eta_band import LOO_NOTE, leave_one_out, loo_report, loo_summary, loo_table, test_set_report
from benchmarks.eta_contention import contention_readings, fed
from benchmarks.tables import render
from monitor.core.estimate import estimate
from monitor.core.eta_calibration import BANDS
from monitor.core.plan import Plan, make_plan
from monitor.core.report import Options
from monitor.core.run import Run
from monitor.session import Session
from monitor.sources.replay import timed_lines

RECORDED = ROOT / "sample_logs" / "recorded"
HELDOUT = ROOT / "sample_logs" / "heldout"
#: The test set: real runs recorded after the tables were last fitted, kept out of every fit
#: (calibrate_band.py) and out of the leave-one-run-out table, and scored with the tables as shipped,
#: so any change to the estimator can be judged on runs it never saw. A folder name starting so.
TEST_SET_PREFIXES = ("heldout/h200h_",)
#: Runs looked at while the estimator changed (earlier test sets: each scored once, then studied)
#: but kept out of the tables' fit: their mid-run competitors would widen every run's band
#: (BENCHMARKS.md, "Fourteen more runs"). Scored apart with the tables as shipped. h200m and h200n, the
#: newest sets (sample_logs/heldout/README.md), are here from their recording on, so that no table is fitted on them.
UNFITTED_PREFIXES = ("heldout/h200f_", "heldout/h200g_", "heldout/h200i_", "heldout/h200j_", "heldout/h200k_",
                     "heldout/h200l_", "heldout/h200m_", "heldout/h200n_")


def in_test_set(name: str) -> bool:
    """Whether the run named `name` (as replay() names it) belongs to the test set."""
    return name.startswith(TEST_SET_PREFIXES)


def fitted_on(name: str) -> bool:
    """Whether the tables are fitted on the run named `name`: neither test set nor UNFITTED_PREFIXES."""
    return not in_test_set(name) and not name.startswith(UNFITTED_PREFIXES)


REAL = ROOT / "sample_logs" / "nanogpt"
FACTS = ROOT / "sample_logs" / "facts.json"
POINTS = (0.02, 0.05, 0.10, 0.25, 0.50, 0.75, 0.90)
TARGET_AT_5 = 0.05
TARGET_FROM_10 = 0.03
COVERAGE_TARGET = 0.90
#: tqdm's default smoothing factor (tqdm.std.EMA, `smoothing=0.3`).
TQDM_ALPHA = 0.3

Baseline = Callable[[Run, Plan, float], "float | None"]
_Job = TypeVar("_Job")
_Out = TypeVar("_Out")


def _steps_left(run: Run, plan: Plan) -> int | None:
    if plan.final_iter is None or run.last_iter is None:
        return None
    return max(0, plan.final_iter - run.last_iter)


def _printed(run: Run) -> np.ndarray:
    times = run.step_time_s.values
    return times[np.isfinite(times)]


def mean_printed(run: Run, plan: Plan, now: float) -> float | None:
    """Steps left x the mean of every printed step time so far."""
    left, times = _steps_left(run, plan), _printed(run)
    return None if left is None or not len(times) else now + left * float(np.mean(times))


def median_printed(run: Run, plan: Plan, now: float) -> float | None:
    """Steps left x the median of every printed step time so far."""
    left, times = _steps_left(run, plan), _printed(run)
    return None if left is None or not len(times) else now + left * float(np.median(times))


def tqdm_ema(run: Run, plan: Plan, now: float) -> float | None:
    """tqdm's smoothed rate: EMA (alpha 0.3, bias-corrected as tqdm.std.EMA) of the
    wall-clock gap and of the steps between consecutive log lines."""
    left = _steps_left(run, plan)
    iters, t = run.iters.values, run.t.values
    if left is None or len(iters) < 2:
        return None
    beta = 1.0 - TQDM_ALPHA
    ema_dt = ema_dn = 0.0
    for k in range(1, len(iters)):
        ema_dt = TQDM_ALPHA * (t[k] - t[k - 1]) + beta * ema_dt
        ema_dn = TQDM_ALPHA * (iters[k] - iters[k - 1]) + beta * ema_dn
    if not ema_dn > 0:
        return None
    return now + left * ema_dt / ema_dn  # the bias corrections cancel in the ratio


def wallclock_rate(run: Run, plan: Plan, now: float) -> float | None:
    """Steps left x (wall-clock time since the first iteration line / steps since)."""
    left, iters, t = _steps_left(run, plan), run.iters.values, run.t.values
    if left is None or len(iters) < 2 or iters[-1] <= iters[0]:
        return None
    return now + left * (t[-1] - t[0]) / (iters[-1] - iters[0])


BASELINES: dict[str, Baseline] = {
    "mean": mean_printed,
    "tqdm_ema": tqdm_ema,
    "median": median_printed,
    "wallclock": wallclock_rate,
}


@dataclass(frozen=True, slots=True)
class Point:
    fraction: float
    iter: int
    errors: dict[str, float | None]  # method -> |pred - truth| / duration
    covered: bool | None
    band_width: float | None  # (high - low) / duration
    line: int | None = None  # index of this point's estimate in Result.lines


@dataclass(frozen=True, slots=True)
class Line:
    """The estimate at one iteration line, with the model's own band (no calibration, not
    joined with the finish) and what it takes to blend the methods again (eta_band.reblend)."""

    fraction: float
    samples: int
    now: float
    finish: float  # as the newest line says (Estimate.read_finish): the band's centre
    model_low: float
    model_high: float
    scale_s: float  # predicted time to come, the unit of the band's relative errors
    methods: tuple[tuple[str, float], ...] = ()  # the finish each method alone predicts
    announced: bool = False  # the model alone (a change the log announced)
    next_line_s: float = 0.0  # the least the band's unit can be
    sped_up: bool = False  # the blend's weights after a speed-up
    others: int = 0  # other processes NVML listed on the run's GPUs at this line
    plain: float = math.nan  # the finish the plain wall-clock rate predicts (wallclock_rate)
    lag_s: float = 0.0  # how far the run may be ahead of the newest line (Estimate.lag_s)
    shared: bool = False  # the band's class: shared GPU, the run not shown to run as fast (Estimate.gpu_shared)
    eval_s: float = 0.0  # evals still to come (s): evals left x the eval pause (Estimate.eval_share's numerator)

    @property
    def eval_share(self) -> float:
        """The share of the band's unit (scale_s, after any reblend) that is evals still to come."""
        return min(1.0, self.eval_s / self.scale_s) if self.scale_s > 0 else 0.0


@dataclass(frozen=True, slots=True)
class Result:
    name: str
    duration_s: float
    final_iter: int
    points: list[Point]
    lines_covered: int  # iteration lines from 2% on whose band held the truth
    lines_scored: int
    worst_line: dict[str, float]  # method -> worst error over every iteration line from 10% on
    truth: float = math.nan
    lines: tuple[Line, ...] = ()


def _fed(log: Path, items: list[tuple[float, bytes]], max_iters: int | None = None) -> Session:
    """A session that has read every line of the log at its (recorded or paced) time."""
    session = Session(Options(source=str(log), max_iters=max_iters), lambda: items[-1][0])
    for t, line in items:
        session.feed(line, t)
    return session


def replay(
    name: str, log: Path, times: Path | None, max_iters: int | None = None, run_index: int | None = None,
    gpu_processes: bool = True,
) -> Result | str:
    """Replay one log and score the run `run_index` of it, by default its last, from that run's
    first line to its last; a string says why it cannot be scored. `gpu_processes`: also replay
    the other processes NVML saw on the run's GPUs, where the run's folder has them
    (benchmarks/eta_contention.py)."""
    items = list(timed_lines(str(log), None if times is None else str(times), 0.0))
    gpu = contention_readings(log.parent) if times is not None and gpu_processes else []
    clock_now = [items[0][0]]
    session = Session(Options(source=str(log), max_iters=max_iters), lambda: clock_now[0])
    first_t, truth = items[0][0], items[-1][0]
    runs = _fed(log, items, max_iters).state.runs if run_index is None else None
    if runs is not None and len(runs) > 1:
        # a file holding several processes (a run resumed into the same log): the last one
        # is scored, from its own first line (the earlier ones end where it starts)
        run_index = len(runs) - 1
    if run_index is not None:
        target = (runs or _fed(log, items, max_iters).state.runs)[run_index]
        if target.first_t is None or target.last_line_t is None:
            return f"run {run_index} has no line times"
        first_t, truth = target.first_t, target.last_line_t
    duration = truth - first_t
    if not duration > 0:
        return "the clock does not advance over the run"
    pending = list(POINTS)
    points: list[Point] = []
    covered = scored = 0
    worst: dict[str, float] = {}
    final_iter: int | None = None
    lines: list[Line] = []
    for t in fed(session, items, gpu, clock_now):  # each line after what the GPU sampler saw before it
        run = session.state.current
        if run_index is not None and run.index != run_index:
            continue
        plan = make_plan(run, session.format, max_iters)
        final_iter = plan.final_iter
        last = run.last_iter
        if final_iter is None or last is None or last >= final_iter:
            continue
        first = run.first_iter or 0  # a resumed run counts from its checkpoint
        fraction = (last - first) / (final_iter - first) if final_iter > first else 1.0
        contention = session.telemetry.contention if session.telemetry is not None else ()
        raw = estimate(run, plan, t, calibration=None, contention=contention)
        line_index = None
        if raw.read_finish is not None and raw.low is not None and raw.high is not None and raw.scale_s:
            line_index = len(lines)
            lines.append(Line(fraction, raw.samples, t, raw.read_finish, raw.low, raw.high, raw.scale_s, raw.methods,
                              raw.change_announced, raw.next_line_s or 0.0, raw.sped_up,
                              contention[-1][1] if contention else 0,
                              wallclock_rate(run, plan, t) or math.nan, raw.lag_s, raw.gpu_shared,
                              (raw.evals_left or 0) * (raw.eval_time_s or 0.0)))
        snap = None
        if fraction >= POINTS[0]:
            snap = session.snapshot(t)
            if snap.eta_low is not None and snap.eta_high is not None:
                scored += 1
                covered += snap.eta_low <= truth <= snap.eta_high
        if fraction >= 0.10:
            snap = snap or session.snapshot(t)
            for key, pred in (("nanowatch", snap.eta_finish), ("wallclock", wallclock_rate(run, plan, t))):
                err = _err(pred, truth, duration)
                worst[key] = max(worst.get(key, 0.0), math.inf if err is None else err)
        while pending and fraction >= pending[0]:
            snap = snap or session.snapshot(t)
            errors: dict[str, float | None] = {"nanowatch": _err(snap.eta_finish, truth, duration)}
            for key, baseline in BASELINES.items():
                errors[key] = _err(baseline(run, plan, t), truth, duration)
            band = None
            hit = None
            if snap.eta_low is not None and snap.eta_high is not None:
                band = (snap.eta_high - snap.eta_low) / duration
                hit = bool(snap.eta_low <= truth <= snap.eta_high)
            points.append(Point(pending.pop(0), last, errors, hit, band, line_index))
    scored_run = session.state.current if run_index is None else session.state.runs[run_index]
    if scored_run.crash is not None:
        return "ends in a crash or interrupt: no true finish time to score against"
    if final_iter is None:
        return "max_iters unknown"
    if scored_run.last_iter is not None and scored_run.last_iter < final_iter:
        return f"cut off at step {scored_run.last_iter} of {final_iter}: no true finish time to score against"
    return Result(name, duration, final_iter, points, covered, scored, worst, truth, tuple(lines))


def _err(pred: float | None, truth: float, duration: float) -> float | None:
    return None if pred is None or not math.isfinite(pred) else abs(pred - truth) / duration


METHODS = ("nanowatch", *BASELINES)


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.2f}%"


def table(results: list[Result], markdown: bool) -> str:
    head = ["run", "at", "iter", *METHODS, "band", "covers"]
    rows = []
    for r in results:
        for p in r.points:
            rows.append([r.name, f"{100 * p.fraction:.0f}%", str(p.iter), *(_pct(p.errors[m]) for m in METHODS),
                         _pct(p.band_width), "–" if p.covered is None else ("yes" if p.covered else "NO")])
    return render(head, rows, markdown)


def verdict(results: list[Result]) -> list[str]:
    out = []
    for r in results:
        worst: dict[str, float] = {}
        for m in METHODS:
            later = [p.errors[m] for p in r.points if p.fraction >= 0.10]
            worst[m] = max((e if e is not None else math.inf) for e in later) if later else math.nan
        at5 = next((p.errors["nanowatch"] for p in r.points if p.fraction == 0.05), None)
        beaten = [
            f"{100 * p.fraction:.0f}% ({m} {_pct(p.errors[m])} vs {_pct(p.errors['nanowatch'])})"
            for p in r.points if p.fraction >= 0.05 for m in BASELINES
            if p.errors[m] is not None and p.errors["nanowatch"] is not None and p.errors[m] < p.errors["nanowatch"]
        ]
        hits = [p.covered for p in r.points if p.covered is not None]
        out.append(
            f"{r.name}: duration {r.duration_s:.1f} s, final iter {r.final_iter}; "
            f"at 5% {_pct(at5)} (target ≤ {_pct(TARGET_AT_5)}); worst from 10% on: "
            + ", ".join(f"{m} {_pct(worst[m])}" for m in METHODS)
            + f" (target ≤ {_pct(TARGET_FROM_10)}); baselines better (from 5%): {', '.join(beaten) or 'none'}; "
            f"band covers {sum(hits)}/{len(hits)} points, {r.lines_covered}/{r.lines_scored} lines; "
            "worst over every line from 10% on: " + ", ".join(f"{m} {_pct(e)}" for m, e in r.worst_line.items())
        )
    return out


def recorded_runs(root: Path = RECORDED) -> list[tuple[str, Path, Path | None, int | None]]:
    return [(d.name, d / "run.log", d / "run.times", None) for d in sorted(root.iterdir()) if (d / "run.times").exists()]


def all_recorded_runs(test_set: bool = False) -> list[tuple[str, Path, Path | None, int | None]]:
    """recorded_runs() of sample_logs/recorded, then of sample_logs/heldout named `heldout/NAME`
    (in_test_set, fitted_on and the sets' prefixes read that name). The test set (in_test_set) only
    when `test_set` asks for it: a benchmark that replays every run must not look at it unasked."""
    runs = recorded_runs(RECORDED) + [(f"heldout/{n}", log, t, f) for n, log, t, f in recorded_runs(HELDOUT)]
    return runs if test_set else [run for run in runs if not in_test_set(run[0])]


def paced_runs() -> list[tuple[str, Path, Path | None, int | None]]:
    """Real nanoGPT logs without recorded times, paced by their printed step times;
    max_iters from facts.json where the log does not print it."""
    facts = json.loads(FACTS.read_text())
    out = []
    for path in sorted(REAL.glob("*.log")):
        fact = facts.get(f"nanogpt/{path.name}", {})
        true_max = fact.get("true_max_iters")
        if true_max is None or fact.get("ends") != "finished":
            continue
        flag = None if fact.get("max_iters_in_log") else true_max
        out.append((path.stem + " (paced)", path, None, flag))
    return out


#: nanoGPT's successors, each replayed on the clock its own log prints (see family_runs)
FAMILY_DIRS = ("nanochat", "llmc", "modded_nanogpt")
#: fewer timed progress lines cannot put the 2..90% points on distinct lines
MIN_TIMED_LINES = 20

#: name, log, times file, max_iters flag, index of the run to score
Job = tuple[str, Path, Path | None, int | None, int | None]


def _steps(run: Run) -> int:
    first, last = run.first_iter, run.last_iter
    return 0 if first is None or last is None else last - first + 1


def _timed_lines(run: Run) -> int:
    """Progress lines that print a time: a per-step time (nanochat `dt`, llm.c `ms`) or a
    cumulative training clock (modded-nanogpt `train_time`)."""
    per_step = np.isfinite(run.step_time_s.values)
    cumulative = np.isfinite(run.train_time_s.values)
    return int(np.count_nonzero(per_step | cumulative))


def family_runs(root: Path = ROOT / "sample_logs") -> tuple[list[Job], list[str]]:
    """The nanochat, llm.c and modded-nanogpt logs, paced by their printed clocks. Of a file
    holding several runs (nanochat stages, repeated runs), the one with the most steps is
    scored (the later one on a tie). Returns the jobs and a line for each file not scored."""
    jobs: list[Job] = []
    unscored: list[str] = []
    for family in FAMILY_DIRS:
        for path in sorted((root / family).glob("*.log")):
            name = f"{family}/{path.stem}"
            items = list(timed_lines(str(path), None, 0.0))
            runs = [r for r in _fed(path, items).state.runs if r.n_iters]
            if not runs:
                unscored.append(f"{name}: no progress lines")
                continue
            best = max(runs, key=lambda r: (_steps(r), r.index))
            which = f"run {best.index + 1} of {len(runs)}" if len(runs) > 1 else "single run"
            label = f"{name} [{which}, {_steps(best)} steps]"
            timed = _timed_lines(best)
            if timed == 0:
                unscored.append(f"{label}: no timing: progress only")
            elif timed < MIN_TIMED_LINES:
                unscored.append(f"{label}: only {timed} timed progress lines (need {MIN_TIMED_LINES})")
            else:
                jobs.append((label, path, None, None, best.index))
    return jobs, unscored


FAMILY_NOTE = """\
Paced replay of nanochat, llm.c and modded-nanogpt logs (no recorded line times): a virtual clock
advances by each printed step time (nanochat dt, llm.c ms) or by the growth of the cumulative
training clock (modded-nanogpt train_time). These clocks leave evals out, so evals are not in the
truth either: this checks the step-time model (warm-up, stage changes, drift) against the log's own
printed clock, not the modelling of eval pauses."""


def report(results: list[Result], markdown: bool) -> None:
    """The table, one verdict line per run, and the band coverage over all points."""
    print(table(results, markdown))
    print()
    for line in verdict(results):
        print(line)
    hits = [bool(p.covered) for r in results for p in r.points if p.covered is not None]
    if hits:
        share = statistics.mean(hits)
        print(f"band coverage over all points: {sum(hits)}/{len(hits)} = {100 * share:.0f}% "
              f"(target ≥ {100 * COVERAGE_TARGET:.0f}%)")


def _replay_job(job: tuple[str, Path, Path | None, int | None]) -> Result | str:
    return replay(*job)


def replay_all(runs: list[tuple[str, Path, Path | None, int | None]], jobs: int = 1) -> list[Result | str]:
    """replay() of each (name, log, times, max_iters flag), in order; `jobs` processes at once."""
    return map_jobs(_replay_job, runs, jobs)


def map_jobs(job: Callable[[_Job], _Out], items: list[_Job], jobs: int = 1) -> list[_Out]:
    """[job(item) for item in items], in order; `jobs` processes at once (`job` picklable)."""
    if jobs <= 1:
        return [job(item) for item in items]
    from multiprocessing import Pool

    with Pool(jobs) as pool:
        return pool.map(job, items, chunksize=1)


def score_set(prefix: str, jobs: int = 1) -> int:
    """Print test_set_report() for the recorded runs named `prefix`…, with the shipped tables
    (BANDS); exit status 2 when no run is so named."""
    runs = [run for run in all_recorded_runs(test_set=True) if run[0].startswith(prefix)]
    if not runs:
        print(f"no recorded run is named {prefix}...", file=sys.stderr)
        return 2
    results: list[Result] = []
    for (name, *_), res in zip(runs, replay_all(runs, jobs)):
        if isinstance(res, str):
            print(f"skipped {name}: {res}")
        else:
            results.append(res)
    print(test_set_report(results, BANDS, prefix))
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    ap.add_argument("--paced", action="store_true",
                    help="also replay, paced by their printed clocks, the real logs in sample_logs/nanogpt "
                         "and the nanochat, llm.c and modded-nanogpt logs (a second table)")
    ap.add_argument("--timing", action="store_true", help="also time one estimate() on a 1,000,000-step run")
    ap.add_argument("--loo", action="store_true",
                    help="only the leave-one-run-out summary and the scores of the runs not fitted on (test set left out)")
    ap.add_argument("--score", metavar="PREFIX",
                    help="only the recorded runs whose name starts with PREFIX (e.g. heldout/h200k_), "
                         "scored with the tables as shipped")
    ap.add_argument("--jobs", type=int, default=1, help="replay this many runs at once (default 1)")
    ap.add_argument("--test-set", action="store_true",
                    help="also replay and score the test set (TEST_SET_PREFIXES), left out unless asked")
    args = ap.parse_args()
    if args.score:
        return score_set(args.score, args.jobs)
    runs = all_recorded_runs(test_set=args.test_set and not args.loo) + (paced_runs() if args.paced and not args.loo else [])
    results: list[Result] = []
    for (name, *_), res in zip(runs, replay_all(runs, args.jobs)):
        if isinstance(res, str):
            print(f"skipped {name}: {res}")
        else:
            results.append(res)
    if args.loo:
        fit = [r for r in results if fitted_on(r.name)]
        print(loo_report(fit, [[r for r in results if r.name.startswith(p)] for p in UNFITTED_PREFIXES]))
        return 0
    print("Error = |predicted finish - actual finish| / run duration; actual finish = time of the last line;")
    print("duration = last line time - first line time. Baselines: mean / median of printed step times,")
    print(f"tqdm EMA (alpha {TQDM_ALPHA}) of line-arrival gaps, wall-clock rate since the first iteration line.")
    print()
    report(results, args.markdown)
    timed = [r for r in results if not r.name.endswith("(paced)") and fitted_on(r.name)]
    print()
    print(LOO_NOTE)
    rows = leave_one_out(timed)
    print(loo_table(rows, args.markdown))
    print(loo_summary(rows))
    print()
    unfitted = [r for r in results if not r.name.endswith("(paced)") and not fitted_on(r.name) and not in_test_set(r.name)]
    print(test_set_report(unfitted, BANDS, "studied, not fitted on (UNFITTED_PREFIXES)"))
    if args.test_set:
        print()
        print(test_set_report([r for r in results if in_test_set(r.name)], BANDS))
    if args.paced:
        print()
        print(FAMILY_NOTE)
        print("Of a file holding several runs, the run with the most steps is scored, from its first line")
        print("to its last; [run k of n, N steps] names it.")
        jobs, unscored = family_runs()
        family_results: list[Result] = []
        for name, log, times, flag, index in jobs:
            res = replay(name, log, times, flag, index)
            if isinstance(res, str):
                unscored.append(f"{name}: {res}")
            else:
                family_results.append(res)
        for line in unscored:
            print(f"not scored {line}")
        print()
        report(family_results, args.markdown)
    if args.timing:
        from benchmarks.eta_cost import timing

        print(timing())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
