"""Finish-time estimate: the steady step time from streaming timing signals (speed.py),
eval pauses (pause.py), blended with the long-run mean and the plain wall-clock rate by
weights fitted on recorded runs (blend.py), and a band calibrated by conformal prediction on
recorded runs, apart while other processes share the run's GPUs (band.py).

PURE ring: no I/O, no textual/watchdog/pynvml imports.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from monitor.core.band import Bands, widen
from monitor.core.blend import Blend, combine, sped_up
from monitor.core.eta_calibration import BANDS, BLEND
from monitor.core.pause import BAND_Z, Pause, eval_interval_of, eval_pause, evals_between, measured_pauses
from monitor.core.plan import Plan, startup_read
from monitor.core.run import Run
from monitor.core.speed import Speed
from monitor.core.tracker import BURSTY_SHARE, RECURRENT, WARMUP_STEPS, Tracker, long_step_s, model_step_s

__all__ = ["WARMUP_STEPS", "Estimate", "estimate", "eval_interval_of"]

#: Relative spread of the mean step time to come, assumed from DRIFT_SAMPLES steady samples
#: and shrinking as 1/sqrt(samples) to DRIFT_FLOOR: natural drift inside real runs stays
#: within about ±20% of the run's mean, no run keeps its speed to better than a few percent.
DRIFT_DEFAULT = 0.15
DRIFT_SAMPLES = 8
DRIFT_FLOOR = 0.02
#: Share of the burst lag (Tracker.burst_lag_s) the finish is taken earlier by. The lag is what the
#: burst's lines leave unaccounted of the time since the arrival before it: the steps the run did
#: after the newest line read, less the part of a line the buffer cut. On the block-buffered runs
#: (llm.c's CUDA trainer to a pipe, `train.py > log`) the finish read at a burst's first line is late
#: by about the whole lag, so it is taken off in full (BENCHMARKS.md, "A buffered run's lead").
LEAD_SHARE = 1.0


@dataclass(frozen=True, slots=True)
class Estimate:
    step_time_s: float | None = None
    eval_time_s: float | None = None
    remaining_s: float | None = None
    finish: float | None = None
    low: float | None = None
    high: float | None = None
    train_remaining_s: float | None = None
    eval_remaining_s: float | None = None
    #: where the step time came from: "arrival" | "printed" | "train-clock"
    step_source: str | None = None
    #: where the eval pause came from: "measured" | "config" | "step-0"
    eval_source: str | None = None
    evals_left: int | None = None
    #: iteration at which the current speed began, when a change was detected
    speed_change_iter: int | None = None
    #: method weights in the finish time ("model", "long", "wallclock" -> share)
    weights: tuple[tuple[str, float], ...] = ()
    #: the finish (epoch s) each method alone predicts ("model", "long", "wallclock"); before
    #: `now` where a method says less time is left than has passed since the last line
    methods: tuple[tuple[str, float], ...] = ()
    #: the current speed began where the log announced a schedule change (followed in full)
    change_announced: bool = False
    #: the current speed is 25% or more faster than the long-run mean (blend.SPED_UP)
    sped_up: bool = False
    #: the time the next logged line should take (s): the least the band's unit can be
    next_line_s: float | None = None
    #: steady step-time samples behind the estimate (the band's "how much was seen")
    samples: int = 0
    #: share of the run's own steps done (0..1), the band's progress
    progress: float | None = None
    #: the unit of the band's relative errors: the predicted time still to come (s)
    scale_s: float | None = None
    #: the share of `scale_s` that is evals still to come (the model's evals left x eval pause), 0..1:
    #: the band's eval part, one quantity that shifts as a whole (band.unit)
    eval_share: float = 0.0
    #: the run may be this far (s) ahead of its newest line (block-buffered output): the
    #: band's low side reaches that much earlier (band.widen), and `finish` is taken LEAD_SHARE
    #: of it earlier than `read_finish`
    lag_s: float = 0.0
    #: the finish as the newest line read says, before the run's lead (`lag_s`): the band's centre
    read_finish: float | None = None
    #: the band is the one calibrated on shared GPUs: other processes are listed on the run's
    #: GPUs, and nothing shows yet that the run runs as fast beside them (speed.Stream.harmless)
    gpu_shared: bool = False
    #: other processes are listed on the run's GPUs but the run runs as fast beside them: the
    #: band is the one calibrated on such estimates (band.Bands.harmless)
    gpu_harmless: bool = False


def _total_known(run: Run, plan: Plan) -> bool:
    """A family default for max_iters holds only when the process's startup is in the
    log (make_plan leaves it out otherwise); a log that begins mid-run (a wandb capture, a cut
    file) may have set its own."""
    return plan.final_iter is not None and (plan.max_iters_source != "default" or startup_read(run))


def _spread(speed: Speed) -> float:
    """Relative spread of the mean step time to come: shrinking with the samples seen, plus
    the share of time lost to recurring transients, plus half the gap between the current
    level and the long-run mean once the speed has moved on this run, either way: a run that
    started under a competing job, or slowed down by one, may or may not stay at its new speed."""
    base = max(DRIFT_FLOOR, DRIFT_DEFAULT * math.sqrt(DRIFT_SAMPLES / max(1, speed.samples)))
    if speed.transients >= RECURRENT:
        base += speed.transient_share
    if speed.change_iter is not None:
        base += 0.5 * abs(math.log(speed.level_s / speed.long_s))
    return base


def _wallclock(tracker: Tracker, run: Run, speed: Speed, last_t: float, eval_every: int | None,
               pause_s: float) -> float | None:
    """The wall-clock rate (evals out). After a change of speed, the rate since the change
    weighs as much as the model gives the new speed (how long it has lasted, speed.py): the
    rate since the start averages over a speed that is gone."""
    last = int(run.iters.values[-1])
    whole = tracker.wallclock_rate(last, last_t, eval_every, pause_s)
    if speed.change_iter is None or speed.regime_share <= 0.0 or whole is None:
        return whole
    # the regime's first sample is the gap that ends at its first iteration; a change older
    # than the rows the run keeps (steps.py) began before all of them: the oldest one starts it
    k = max(0, int(np.searchsorted(run.iters.values, speed.change_iter)) - 1)
    recent = tracker.wallclock_rate(last, last_t, eval_every, pause_s, (int(run.iters.values[k]), float(run.t.values[k])))
    if recent is None:
        return whole
    return speed.regime_share * recent + (1.0 - speed.regime_share) * whole


def _pause(tracker: Tracker, run: Run, plan: Plan, speed: Speed, eval_every: int, evals_left: int) -> Pause | None:
    bursty = tracker.burst_share > BURSTY_SHARE
    key = (run.n_iters, len(run.evals), eval_every, evals_left, speed.step_s, bursty)
    cached = tracker.cache.get("pause")
    if isinstance(cached, tuple) and cached[0] == key:
        return cached[1]  # type: ignore[no-any-return]
    pause = eval_pause(run, plan, speed.step_s, eval_every, evals_left, _earlier_pauses(tracker, run, plan), bursty)
    tracker.cache["pause"] = (key, pause)
    return pause


#: Config keys that set what an eval costs: a resumed process that changed one runs other evals.
EVAL_KEYS = ("eval_iters", "batch_size", "block_size")


def _earlier_pauses(tracker: Tracker, run: Run, plan: Plan) -> np.ndarray | None:
    """The eval pauses measured by the process before this one in the same log (a run resumed
    into its log: the same evals on the same machine, unless the resumed process set EVAL_KEYS
    otherwise). That process is over: read once."""
    if "earlier" in tracker.cache:
        return tracker.cache["earlier"]  # type: ignore[return-value]
    earlier = run.previous
    pauses = None
    same = earlier is not None and all(
        earlier.config.get(k) == run.config.get(k) for k in EVAL_KEYS if k in earlier.config and k in run.config)
    if earlier is not None and same and earlier.n_iters:
        every = eval_interval_of(earlier, plan)
        before = Tracker.of(earlier)
        before.update(earlier, every, plan.eval_in_step_time)
        chosen = before.best()
        speed = chosen[0].speed(int(earlier.iters.values[-1]), 0) if chosen is not None else None
        if every and speed is not None:
            pauses = measured_pauses(earlier, plan, every, speed.step_s, before.burst_share > BURSTY_SHARE)
    tracker.cache["earlier"] = pauses
    return pauses


def estimate(
    run: Run, plan: Plan, now: float, calibration: Bands | None = BANDS, blend: Blend = BLEND,
    contention: Sequence[tuple[float, int]] = (),
) -> Estimate:
    """The run's finish time as seen at `now` (epoch s); None fields where it cannot be known.
    `calibration` sets the conformal band (None: the model's own band only, not yet joined
    with the finish); `blend` weighs the methods (blend.py). `contention`: (time, other
    processes on the run's GPUs) at each change of that number (Telemetry.contention): a
    change of speed is taken from there at once, and while the last count is above 0 the
    band is the one calibrated on shared GPUs (band.Bands)."""
    eval_every = eval_interval_of(run, plan)
    tracker = Tracker.of(run)
    tracker.update(run, eval_every, plan.eval_in_step_time, contention)
    chosen = tracker.best()
    last = run.last_iter
    if chosen is None or last is None:
        return Estimate()
    stream, source = chosen
    final = plan.final_iter if _total_known(run, plan) else None
    steps_left = max(0, final - last) if final is not None else 0
    speed = stream.speed(last, steps_left)
    if speed is None:
        return Estimate()
    evals_left = evals_between(last, final, eval_every) if final is not None else None
    pause = _pause(tracker, run, plan, speed, eval_every, evals_left or 0) if eval_every else None
    pause_s = pause.mid_s if pause is not None else 0.0
    step_s = model_step_s(speed)
    # Step times (evals left out) by method.
    rates = {"model": step_s, "long": long_step_s(speed)}
    last_t = run.last_t if run.last_t is not None else math.nan
    wall = _wallclock(tracker, run, speed, last_t, eval_every, pause_s)
    if wall is not None:
        rates["wallclock"] = wall
    progress = progress_of(run, final) if final is not None else None
    faster = sped_up(speed.level_s, speed.long_s)
    weights = blend_weights(blend, progress, rates, speed.announced, faster)
    base = Estimate(
        step_time_s=speed.level_s,  # the current speed; the finish weighs how long it lasts
        eval_time_s=None if pause is None else pause.mid_s,
        step_source=source,
        eval_source=None if pause is None else pause.source,
        speed_change_iter=speed.change_iter,
        weights=tuple(sorted(weights.items())),
        samples=speed.samples,
        change_announced=speed.announced,
    )
    if final is None or evals_left is None or progress is None:
        return base
    n_pauses = evals_left if pause is not None else 0
    model_train = steps_left * step_s
    model_total = model_train + n_pauses * pause_s
    # Each method's time for the steps left, with the evals to come at the measured pause.
    totals = {m: steps_left * r + n_pauses * pause_s for m, r in rates.items()}
    total = sum(w * totals[m] for m, w in weights.items())
    # Time since the last iteration line went into the steps still to come, but only as
    # much as the next line should take: longer silence (a stall) delays the finish.
    since = now - run.last_t if run.last_t is not None and math.isfinite(run.last_t) else 0.0
    next_steps = min(plan.log_interval, steps_left)
    next_gap = next_steps * step_s + evals_between(last, last + next_steps, eval_every) * pause_s
    credit = min(max(0.0, since), next_gap)
    read_remaining = max(0.0, total - credit)
    # The model's own band: the spread its data so far warrants, eval pauses at their bounds.
    half = BAND_Z * _spread(speed) * model_train
    eval_low = n_pauses * pause.low_s if pause is not None else 0.0
    eval_high = n_pauses * pause.high_s if pause is not None else 0.0
    low = now + max(0.0, max(0.0, model_train - half) + eval_low - credit)
    high = now + max(0.0, model_train + half + eval_high - credit)
    # The band's unit: the time still to come (errors shrink with it), at least one line's worth.
    scale = max(read_remaining, next_gap)
    # Lines that came in a burst: the run may be ahead of the newest by what the burst leaves
    # unaccounted, and by all the time since it beyond the one line the finish credits. The band
    # stays around the finish the newest line says; the finish itself is taken earlier by the lead.
    lag = tracker.burst_lag_s(eval_every, pause_s, last)
    if lag > 0.0:
        lag += max(0.0, since - credit)
    read_finish = now + read_remaining
    finish = lead(now, read_finish, lag)
    remaining = finish - now
    share = remaining / model_total if model_total > 0 else 0.0
    eval_share = min(1.0, n_pauses * pause_s / scale) if scale > 0 else 0.0
    listed = bool(contention) and contention[-1][1] > 0
    shared, harmless = listed and not speed.harmless, listed and speed.harmless
    if calibration is not None:
        low, high = widen(min(low, read_finish), max(high, read_finish), cal=calibration.of(shared, harmless),
                          finish=read_finish, now=now, scale_s=scale, progress=progress, samples=speed.samples,
                          lag_s=lag, eval_share=eval_share)
        low, high = min(low, finish), max(high, finish)
    return Estimate(
        step_time_s=base.step_time_s,
        eval_time_s=base.eval_time_s,
        remaining_s=remaining,
        finish=finish,
        low=low,
        high=high,
        train_remaining_s=model_train * share,
        eval_remaining_s=(model_total - model_train) * share,
        step_source=base.step_source,
        eval_source=base.eval_source,
        evals_left=evals_left,
        speed_change_iter=base.speed_change_iter,
        weights=base.weights,
        samples=base.samples,
        progress=progress,
        scale_s=scale,
        eval_share=eval_share,
        methods=tuple(sorted((m, now + v - credit) for m, v in totals.items())),
        change_announced=speed.announced,
        next_line_s=next_gap,
        sped_up=faster,
        lag_s=lag,
        read_finish=read_finish,
        gpu_shared=shared,
        gpu_harmless=harmless,
    )


def lead(now: float, read_finish: float, lag_s: float) -> float:
    """The finish (epoch s) when the newest line read says `read_finish` at `now` and the run may be
    `lag_s` ahead of that line: LEAD_SHARE of the lag earlier, never before `now`."""
    return max(now, read_finish - LEAD_SHARE * lag_s)


def blend_weights(blend: Blend, progress: float | None, methods: Mapping[str, float], announced: bool,
                  faster: bool = False) -> dict[str, float]:
    """Weights of the methods present: the model alone after a change the log announced (a
    schedule stage: the older rates are of a different workload) or with no total known,
    else the blend fitted on recorded runs (blend.py; `faster`: after a speed-up)."""
    if announced or progress is None:
        return {"model": 1.0}
    return combine(blend, progress, methods, faster)


def progress_of(run: Run, final: int) -> float:
    """Share of the run's own steps done (from its first logged step: a resumed run counts
    from its checkpoint), 0..1."""
    first, last = run.first_iter, run.last_iter
    if first is None or last is None or final <= first:
        return 1.0
    return min(1.0, max(0.0, (last - first) / (final - first)))
