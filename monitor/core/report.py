"""Assemble a Snapshot from the run state, the plan, the estimate and the GPU telemetry;
decide the run's status.

PURE ring: no I/O, no textual/watchdog/pynvml imports.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass

import numpy as np

from monitor.core.energy import energy_end, flops_per_token, gpu_fields
from monitor.core.estimate import Estimate, estimate
from monitor.core.folds import RECENT_PRINTED
from monitor.core.history import NO_SERIES, chart_series, shown_notes, val_series
from monitor.core.plan import Plan, make_plan
from monitor.core.run import Run, RunState
from monitor.core.snapshot import Snapshot, Status
from monitor.core.telemetry import Telemetry
from monitor.core.textfmt import clock, counted, duration

#: A log silent for this many expected line gaps (and at least STALL_MIN_S) is stalled.
STALL_FACTOR = 5.0
STALL_MIN_S = 60.0
#: A log that gives no timing at all (no step time, too few steps to time their arrivals)
#: is stalled after this long without a line.
STALL_UNTIMED_S = 1800.0
#: Logged steps whose arrival gaps tell how often lines really come.
ARRIVAL_WINDOW = 64
#: No iteration for this long while the GPU works hints at output held in a buffer.
QUIET_START_S = 300.0
#: Share of GPU samples at >= 50% utilisation that counts as "the GPU is busy".
BUSY_SHARE = 0.8
#: Steps arriving at one instant that, printed one by one, would have spanned this long.
BURST_STEPS, BURST_MIN_S = 3, 10.0
#: Lines that arrived this many times faster than the run printed them came in a burst
#: (a pipe, a copy): their arrival times do not measure the run.
ARRIVAL_BURST = 2.0
#: Lines read this long after the log's writer exited were written before it did (the
#: follower's safety poll and a last partial line's settle, tail.py): the exit counts after it.
WRITER_SETTLE_S = 3.0
FAMILY_NAMES = "nanoGPT, nanochat, llm.c, modded-nanogpt, llama2.c"
UNBUFFER_HINT = "run with `python -u` or PYTHONUNBUFFERED=1"


@dataclass(frozen=True, slots=True)
class Options:
    """What the user told us on the command line that shapes the numbers."""

    source: str = "-"
    fmt: str = "auto"
    max_iters: int | None = None
    price_per_kwh: float = 0.15
    currency: str = "USD"
    pue: float = 1.0
    dataset_tokens: int | None = None
    #: a rotated copy beside the log (`run.log.1`, logrotate's): the start of a log that begins
    #: mid-run may be there (named in its warning)
    rotated: str | None = None


@dataclass(frozen=True, slots=True)
class WriterExit:
    """The process that wrote the followed log (`pid`) was seen gone at `t` (epoch s), through
    /proc on this host (sources.writer)."""

    pid: int
    t: float


def writer_gone(run: Run, writer_exit: WriterExit | None, now: float, last_line_t: float | None) -> bool:
    """The run's log has lost its writer: it exited during this run, no line came after it
    (beyond WRITER_SETTLE_S), and that long has passed."""
    if writer_exit is None or run.first_t is not None and writer_exit.t < run.first_t:
        return False
    after_s = now - writer_exit.t
    return after_s >= WRITER_SETTLE_S and (last_line_t is None or last_line_t <= writer_exit.t + WRITER_SETTLE_S)


def run_status(
    run: Run, plan: Plan, est: Estimate, now: float, last_line_t: float | None, followed: bool = False,
    writer_left: bool = False,
) -> tuple[Status, float | None]:
    """The run's status and, when stalled, for how long the log has been silent.

    `followed`: another run came after this one in the same log, so this one has ended
    (finished when it reached its end or said so, else interrupted before its end).
    `writer_left`: the process writing the log has exited (writer_gone): a run whose end is
    known (from the log or --max-iters) and was not reached was interrupted, as by SIGTERM
    or SIGKILL, which leave no traceback.
    """
    if run.crash is not None:
        return ("interrupted" if run.crash.interrupted else "crashed"), None
    if run.in_traceback:
        return "crashed", None
    last = run.last_iter
    if run.ended or last is not None and plan.final_iter is not None and last >= plan.final_iter:
        return "finished", None
    if followed or writer_left and plan.final_iter is not None and plan.max_iters_source in ("log", "flag"):
        return "interrupted", None
    if last is None:
        return "starting", None
    gap = expected_gap_s(run, plan, est.step_time_s)
    if last_line_t is None:
        return "training", None
    silent = now - last_line_t
    if gap is None:
        return ("stalled", silent) if silent > STALL_UNTIMED_S else ("training", None)
    eval_due = plan.eval_interval is not None and (last + plan.log_interval) // plan.eval_interval > last // plan.eval_interval
    expected = gap + (est.eval_time_s or 0.0 if eval_due else 0.0)
    if silent > max(STALL_FACTOR * expected, STALL_MIN_S):
        return "stalled", silent
    if eval_due and silent > 2 * gap:
        return "evaluating", None
    return "training", None


def expected_gap_s(run: Run, plan: Plan, step_time_s: float | None) -> float | None:
    """The usual wait between two logged steps: the printed step time times the log
    interval, or the observed gap between their arrivals when lines come slower
    (output flushed in blocks)."""
    printed = step_time_s * plan.log_interval if step_time_s is not None else None
    observed = _observed_gap_s(run)
    known = [g for g in (printed, observed) if g is not None]
    return max(known) if known else None


#: Per run: the median gap between the newest ARRIVAL_WINDOW steps' arrivals, with the rows
#: and newest arrival time it was read at (the same until a step comes or times shift).
_GAPS: weakref.WeakKeyDictionary[Run, tuple[tuple[int, float], float | None]] = weakref.WeakKeyDictionary()


def _observed_gap_s(run: Run) -> float | None:
    newest = float(run.t.last()) if run.n_iters else 0.0
    key = (run.n_iters, newest if math.isfinite(newest) else 0.0)
    known = _GAPS.get(run)
    if known is not None and known[0] == key:
        return known[1]
    t = run.t.values[-ARRIVAL_WINDOW:]
    gaps = np.diff(t[np.isfinite(t)])
    gaps = gaps[gaps > 0]
    observed = float(np.median(gaps)) if len(gaps) >= 3 else None
    _GAPS[run] = (key, observed)
    return observed


def build(
    state: RunState,
    fmt: str | None,
    options: Options,
    now: float,
    *,
    file_mtime: float | None = None,
    waiting: bool = False,
    charts: bool = False,
    run_index: int | None = None,
    telemetry: Telemetry | None = None,
    writer_exit: WriterExit | None = None,
) -> Snapshot:
    """The Snapshot of the current run (or run `run_index`) at `now`."""
    run = state.shown if run_index is None else state.runs[run_index]
    if waiting:
        return Snapshot(t=now, source=options.source, format=fmt, status="waiting", run_index=run.index,
                        price_per_kwh=options.price_per_kwh, currency=options.currency)
    plan = make_plan(run, fmt, options.max_iters)
    est = estimate(run, plan, now, contention=telemetry.contention if telemetry is not None else ())
    # A run read from what the file held has no line times: the file's mtime is when its last
    # line was written, which is the end of the file's last run only; an earlier run's is unknown.
    last_line_t = run.last_line_t if run.last_line_t is not None else file_mtime if run is state.shown else None
    # The writer's exit is the shown run's (the newest but a tentative one held back), for the
    # status and the energy window alike; an earlier run had ended before it.
    own_exit = writer_exit if run is state.shown else None
    left = writer_gone(run, own_exit, now, last_line_t)
    status, stalled_for = run_status(run, plan, est, now, last_line_t, followed=run is not state.shown,
                                     writer_left=left)
    last = run.last_iter
    steps_done = None if last is None else last + (1 if plan.zero_based else 0)
    steps_total = plan.steps_total
    tpi = plan.tokens_per_iter
    tokens_seen = tpi * steps_done if tpi and steps_done is not None else None
    tokens_total = tpi * steps_total if tpi and steps_total is not None else None
    fpt = flops_per_token(run.params, plan.n_layer, plan.n_embd, plan.block_size)
    progress = None
    finished = status == "finished"
    if last is not None and plan.final_iter:
        # a finished run is done, whatever its total said: a total from printed shares (mid_train's
        # 770 at 99.83%: 771) or a stage that stops short of it is not "99.9%" once it is over
        progress = 1.0 if finished else min(1.0, max(0.0, last / plan.final_iter))
    # A crashed or interrupted run will not finish: no finish time rather than a fiction.
    ended = status in ("crashed", "interrupted")
    remaining = 0.0 if finished else None if ended else est.remaining_s
    finish = None if finished or ended else est.finish
    warnings = _warnings(run, plan, est, status, stalled_for, last_line_t, options)
    if fmt is None and run.lines:  # the run's own: a log read afresh after a cut holds earlier runs' lines too
        read = f"{counted(run.lines, 'line')} read, " + ("not" if run.lines == 1 else "none")
        unknown = f"{read} recognised as a line of a training log ({FAMILY_NAMES})"
        warnings = (*warnings, unknown)
    if left and own_exit is not None and status != "finished" and run.crash is None and not run.in_traceback:
        reach = "" if status == "interrupted" else ": whether the run reached its end is not known (pass --max-iters)"
        gone = (f"the process writing the log (PID {own_exit.pid}) exited at {clock(own_exit.t, now)} "
                f"with no traceback (killed: SIGTERM or SIGKILL?){reach}")
        warnings = (*warnings, gone)
    buffered = buffering_warning(run, plan, status, now, last_line_t, telemetry)
    warnings = (*warnings, buffered) if buffered else warnings
    elapsed, measured = elapsed_s(run, now if not (finished or ended) or last_line_t is None else last_line_t)
    # energy stops at the last line of a run the log says has ended, at its writer's exit once seen
    exit_t = own_exit.t if own_exit is not None and (run.first_t is None or own_exit.t >= run.first_t) else None
    by_lines = (finished or ended) and not (left and status == "interrupted" and run.crash is None)
    end = energy_end(run, now, by_lines, exit_t, WRITER_SETTLE_S)
    gpu = gpu_fields(telemetry, run, est, now, finished or ended, options.price_per_kwh, options.pue, end)
    loss_series, step_series = chart_series(run) if charts else (NO_SERIES, NO_SERIES)
    warnings = (*warnings, *gpu.warnings)
    return Snapshot(
        t=now,
        source=options.source,
        format=fmt,
        status=status,
        run_index=run.index,
        iter=last,
        max_iters=plan.max_iters,
        max_iters_source=plan.max_iters_source,
        progress=progress,
        # NaN stands for "not printed" (modded-nanogpt since 2025) unless the log printed nan.
        loss=run.last_loss if run.nan_losses else run.loss.last_finite(),
        val_loss=_last_val_loss(run),
        step_time_s=est.step_time_s,
        eval_time_s=est.eval_time_s,
        mfu=run.mfu.last_finite(),
        mfu_gpu=gpu.mfu_gpu,
        eta_finish=finish,
        eta_remaining_s=remaining,
        eta_low=None if finish is None else est.low,
        eta_high=None if finish is None else est.high,
        tokens_per_iter=tpi,
        tokens_seen=tokens_seen,
        tokens_total=tokens_total,
        params=run.params,
        flops_total=fpt * tokens_total if fpt and tokens_total else None,
        gpu_names=gpu.gpu_names,
        gpu_count=gpu.gpu_count,
        power_w=gpu.power_w,
        vram_used_bytes=gpu.vram_used_bytes,
        vram_peak_bytes=gpu.vram_peak_bytes,
        vram_total_bytes=gpu.vram_total_bytes,
        energy_j=gpu.energy_j,
        energy_final_j=gpu.energy_final_j,
        energy_source=gpu.energy_source,
        price_per_kwh=options.price_per_kwh,
        currency=options.currency,
        cost=gpu.cost,
        cost_final=gpu.cost_final,
        warnings=warnings,
        cpu_energy_j=gpu.cpu_energy_j,
        run_count=state.shown_count,
        first_iter=run.first_iter,
        final_iter=plan.final_iter,
        iters_done=run.n_iters,
        evals_done=len(run.evals),
        best_val_loss=run.best_val_loss,
        val_metric=_val_metric(run),
        last_finite_loss=run.loss.last_finite(),
        started_t=run.first_t,
        last_line_t=last_line_t,
        watched=run.last_line_t is not None,
        elapsed_s=elapsed,
        elapsed_measured=measured,
        last_step_time_s=run.step_time_s.last_finite(),
        stalled_for_s=stalled_for,
        data_epochs=tokens_total / options.dataset_tokens if tokens_total and options.dataset_tokens else None,
        dataset_tokens=options.dataset_tokens,
        mean_power_w=gpu.mean_power_w,
        gpu_status=gpu.gpu_status,
        gpus=gpu.gpus,
        gpus_now=gpu.gpus_now,
        cpu_energy_final_j=gpu.cpu_energy_final_j,
        cpu_status=gpu.cpu_status,
        notes=shown_notes(run),
        error=run.error,
        crash_message=run.error,
        loss_series=loss_series,
        val_series=val_series(run) if charts else NO_SERIES,
        step_series=step_series,
    )


def elapsed_s(run: Run, end: float) -> tuple[float | None, bool]:
    """How long the run has taken up to `end` (its last line once it has ended), and
    whether that was measured from line times (else it is the log's printed clock).

    Lines that came far faster than the run printed them (`cat run.log | nanowatch -`, a
    copy, a buffer flushed at the end) do not measure the run: its printed clock does.
    """
    printed = printed_elapsed_s(run)
    if run.first_t is None:
        return printed, False
    measured = end - run.first_t
    if printed is not None and printed > ARRIVAL_BURST * measured:
        return printed, False
    return measured, True


#: Printed step times whose median stands for the steps no line was printed for.
ELAPSED_MEDIAN_WINDOW = RECENT_PRINTED


def printed_elapsed_s(run: Run) -> float | None:
    """Time the run has taken by its own printed clock, for a log read without arrival times:
    a cumulative training clock where the family prints one, else the sum of printed step
    times (running totals, Run.folds), with the steps between logged lines counted at the
    median of the last ELAPSED_MEDIAN_WINDOW printed step times (O(1) a call in the run's length)."""
    train = run.train_time_s.values
    if len(train) and np.isfinite(train[-1]):
        return float(train[-1])
    clock = run.folded()
    if clock.timed == 0:
        return None
    if clock.unlogged == 0:
        return clock.total_s
    window = run.step_time_s.values[-ELAPSED_MEDIAN_WINDOW:]
    window = window[np.isfinite(window)]
    # Printed times are sparse in the window only when most rows print none: all of them
    # then (those the columns keep, else the newest of those they dropped).
    if len(window) == 0:
        window = run.step_time_s.values[np.isfinite(run.step_time_s.values)]
    if len(window) == 0:
        window = clock.recent_printed_s
    return clock.total_s + clock.unlogged * float(np.median(window))


def _last_val_loss(run: Run) -> float | None:
    # Benchmark scores (nanochat's CORE) are evals too, but not losses.
    for point in reversed(run.evals):
        if point.val_loss is not None:
            return point.val_loss
    return None


def _val_metric(run: Run) -> str:
    """The name of the metric the val points hold ("val bpb" -> "bpb"); "loss" when unnamed."""
    for point in reversed(run.evals):
        if point.val_loss is not None:
            return point.metric.removeprefix("val").strip() or "loss"
    return "loss"


def _warnings(
    run: Run, plan: Plan, est: Estimate, status: str, stalled_for: float | None, last_line_t: float | None,
    options: Options | None = None,
) -> tuple[str, ...]:
    out = []
    if run.continued:  # the steps before the cut are no longer in the file: say where they are from
        times = len(run.continued)
        out.append(run.continued[-1].text() + (f" ({counted(times, 'time')})" if times > 1 else ""))
    if run.nan_losses:
        out.append(f"loss is NaN/inf in {counted(run.nan_losses, 'logged step')}")
    ahead = [s for s in run.schedule_changes if run.last_iter is None or s > run.last_iter]
    if ahead and status not in ("finished", "crashed", "interrupted"):
        steps = ", ".join(map(str, ahead))
        out.append(f"the schedule changes the step time at steps {steps}: the finish assumes the current speed")
    if status == "stalled" and stalled_for is not None and last_line_t is not None:
        out.append(f"no new line for {duration(stalled_for)} (last at {clock(last_line_t, last_line_t + stalled_for)})")
    # The total matters while the run may go on: one that finished, crashed or was interrupted
    # has no finish to come, and "pass --max-iters" beside its traceback asks for nothing useful.
    goes_on = status not in ("finished", "crashed", "interrupted")
    if plan.max_iters_source == "default" and run.n_iters and goes_on:
        out.append(f"max_iters not in the log: assuming the default {plan.max_iters:,} (pass --max-iters)")
    if plan.default_not_assumed is not None and run.n_iters and goes_on:
        # No startup lines: the default may not be what the run used. A log from step 0
        # (a wandb capture) lacks only the config header; a later first step is mid-run.
        where = "which has no config lines" if run.first_iter == 0 else "which starts mid-run"
        unknown = f"max_iters not in the log, {where}: finish unknown (pass --max-iters)"
        if options is not None and options.rotated and run.first_iter != 0:  # logrotate's copytruncate
            unknown += f"; its start may be in {options.rotated}: cat {options.rotated} {options.source} | nanowatch -"
        out.append(unknown)
    elif plan.max_iters is None and run.n_iters and goes_on:
        said = run.config.get("max_iters")
        negative = isinstance(said, (int, float)) and not isinstance(said, bool) and said < 0
        out.append(f"max_iters {said} in the log is not a step count: pass --max-iters" if negative
                   else "max_iters unknown: pass --max-iters")
    return tuple(out)


def buffering_warning(
    run: Run, plan: Plan, status: str, now: float, last_line_t: float | None, telemetry: Telemetry | None
) -> str | None:
    """Output held back by a block-buffered stdout (`python train.py | tee log` without -u):
    steps arrive in bursts, or the log stays silent while the run's GPU works."""
    if status in ("finished", "crashed", "interrupted"):
        return None
    burst = last_burst(run, plan)
    if burst is not None:
        steps, span_s = burst
        return f"{counted(steps, 'step')} ({duration(span_s)} of training) arrived at once: stdout is buffered; {UNBUFFER_HINT}"
    if telemetry is None or last_line_t is None:
        return None
    if status == "stalled":
        since = last_line_t
    elif run.n_iters == 0 and now - (run.first_t if run.first_t is not None else last_line_t) >= QUIET_START_S:
        since = now - QUIET_START_S  # lines may come (warnings on stderr), but no step ever has
    else:
        return None
    busy = telemetry.busy_fraction(since, now)
    if busy is None or busy < BUSY_SHARE:
        return None
    what = "no step printed" if run.n_iters == 0 else "no new line"
    return f"{what} for {duration(now - since)} while the GPU is busy: stdout may be block-buffered; {UNBUFFER_HINT}"


def last_burst(run: Run, plan: Plan) -> tuple[int, float] | None:
    """The newest logged steps that arrived at one instant, when printing them had taken
    at least BURST_MIN_S of training: (how many, the training time they cover)."""
    t = run.t.values[-ARRIVAL_WINDOW:]
    if len(t) < BURST_STEPS or not math.isfinite(t[-1]):
        return None
    other = np.flatnonzero(t != t[-1])
    n = len(t) - (int(other[-1]) + 1 if len(other) else 0)
    if n < BURST_STEPS:
        return None
    steps = run.step_time_s.values[-n:]
    span_s = float(np.sum(steps[np.isfinite(steps)])) * plan.log_interval
    return (n, span_s) if span_s >= BURST_MIN_S else None
