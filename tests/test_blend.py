"""The blend of the finish-time methods (monitor/core/blend.py): fitted per progress bucket
across runs, each run counting once; renormalised over the methods present; used by the
estimator; and the wall-clock method after a change of speed. Synthetic data, fake clock."""

from __future__ import annotations

import math

import pytest

from monitor.core.blend import EVEN, METHODS, N_CELLS, Blend, bucket, cell, combine, fit
from monitor.core.estimate import blend_weights, estimate
from monitor.core.plan import make_plan
from monitor.core.speed import Stream
from monitor.core.tracker import Tracker
from tests.test_speed import est, lines_of, model_band, session


def _one_hot(name: str) -> tuple[float, ...]:
    return tuple(1.0 if m == name else 0.0 for m in METHODS)


def test_each_bucket_gets_the_method_closest_on_the_runs_that_reached_it() -> None:
    # early on the long-run mean is right and the model 10% off; late the other way round
    runs = {
        f"run{k}": [(0.03, False, {"model": 0.10, "long": 0.0, "wallclock": 0.05}),
                    (0.60, False, {"model": 0.0, "long": -0.08, "wallclock": 0.04})]
        for k in range(3)
    }
    blend = fit(runs)
    assert blend.weights[bucket(0.03)] == pytest.approx(_one_hot("long"))
    assert blend.weights[bucket(0.60)] == pytest.approx(_one_hot("model"))
    assert blend.weights[bucket(0.95)] == EVEN.weights[bucket(0.95)]  # no run got there
    # no speed-up seen: those cells take the bucket's usual weights
    assert blend.weights[cell(0.60, True)] == blend.weights[cell(0.60, False)]
    assert blend.runs == 3 and len(blend.weights) == N_CELLS


def test_a_run_counts_once_however_many_lines_it_logged() -> None:
    chatty = [(0.3, False, {"model": 0.0, "long": 0.2, "wallclock": 0.2})] * 500  # logs every step
    quiet = [(0.3, False, {"model": 0.2, "long": 0.2, "wallclock": 0.0})]
    blend = fit({"chatty": chatty, "quiet1": quiet, "quiet2": quiet})
    assert blend.weights[bucket(0.3)] == pytest.approx(_one_hot("wallclock"))


def test_weights_between_methods_when_their_errors_cancel() -> None:
    # the model 4% late, the long-run mean 4% early on every run: half each is exact
    runs = {f"r{k}": [(0.5, False, {"model": 0.04, "long": -0.04, "wallclock": 0.06})] for k in range(2)}
    assert fit(runs).weights[bucket(0.5)] == pytest.approx((0.5, 0.5, 0.0))


def test_after_a_speed_up_the_blend_has_weights_of_its_own() -> None:
    # on these runs the long-run mean holds, except after a speed-up, where the model does
    runs = {f"r{k}": [(0.3, False, {"model": 0.1, "long": 0.0, "wallclock": 0.05}),
                      (0.3, True, {"model": 0.0, "long": 0.3, "wallclock": 0.2})] for k in range(2)}
    blend = fit(runs)
    assert blend.weights[cell(0.3, False)] == pytest.approx(_one_hot("long"))
    assert blend.weights[cell(0.3, True)] == pytest.approx(_one_hot("model"))
    rates = {"model": 1.0, "long": 1.0, "wallclock": 1.0}
    assert combine(blend, 0.3, rates, True) == {"model": 1.0}
    assert blend_weights(blend, 0.3, rates, announced=False, faster=True) == {"model": 1.0}


def test_a_run_freed_of_a_competing_job_is_sped_up() -> None:
    # 3x slower for the first 400 steps (a competing job on the GPU), then free
    e = est(session(lines_of(lambda i: 0.06 if i <= 400 else 0.02, 700)))
    assert e.speed_change_iter is not None and e.sped_up
    # lines a third of the old step apart are not a buffered burst: each printed its own time
    assert e.step_source == "arrival" and "wallclock" in dict(e.methods)
    assert not est(session(lines_of(lambda i: 0.02, 700))).sped_up
    assert not est(session(lines_of(lambda i: 0.02 if i <= 400 else 0.06, 700))).sped_up  # slowed down


def test_a_missing_method_is_left_out_and_the_rest_renormalised() -> None:
    blend = Blend(((0.2, 0.2, 0.6),) * N_CELLS, 1)
    assert combine(blend, 0.5, {"model": 1.0, "long": 1.0}) == pytest.approx({"model": 0.5, "long": 0.5})
    only_wall = Blend((_one_hot("wallclock"),) * N_CELLS, 1)
    # the bucket gives the methods present no weight: they count alike
    assert combine(only_wall, 0.5, {"model": 1.0, "long": 1.0}) == pytest.approx({"model": 0.5, "long": 0.5})
    # a fit sees lines the way combine blends them: where the wall-clock rate is missing
    # (bursty output) the model's error is what counts
    runs = {"r": [(0.5, False, {"model": 0.0, "long": 0.3, "wallclock": math.nan})] * 2}
    assert fit(runs).weights[bucket(0.5)] == pytest.approx(_one_hot("model"))


def test_an_announced_change_or_an_unknown_total_is_the_models_alone() -> None:
    blend = Blend((_one_hot("wallclock"),) * N_CELLS, 1)
    rates = {"model": 1.0, "long": 1.0, "wallclock": 1.0}
    assert blend_weights(blend, 0.5, rates, announced=True) == {"model": 1.0}
    assert blend_weights(blend, None, rates, announced=False) == {"model": 1.0}
    assert blend_weights(blend, 0.5, rates, announced=False) == {"wallclock": 1.0}


def test_a_change_the_log_announced_is_marked_on_the_speed() -> None:
    stream = Stream()
    stream.schedule = (600,)
    for i in range(1, 700):
        stream.add(0.02 if i < 600 else 0.05, 1.0, i)
    speed = stream.speed(699, 1000)
    assert speed is not None and speed.change_iter is not None and speed.announced
    assert speed.regime_share == 1.0 and speed.step_s == pytest.approx(0.05, rel=0.02)


def test_the_estimate_is_the_blend_of_the_methods_finishes() -> None:
    s = session(lines_of(lambda i: 0.03 if i > 300 else 0.02, 500))  # 50% slower from step 300
    run = s.state.current
    plan = make_plan(run, s.format)
    for name in METHODS:
        e = estimate(run, plan, run.last_t, blend=Blend((_one_hot(name),) * N_CELLS, 1))
        assert dict(e.weights) == {name: 1.0}
        assert e.finish == pytest.approx(dict(e.methods)[name], abs=1e-6)  # epoch seconds: to the microsecond
    e = est(s)
    methods = dict(e.methods)
    assert e.remaining_s == pytest.approx(sum(w * (methods[m] - run.last_t) for m, w in e.weights), abs=1e-6)
    assert len({round(f - run.last_t, 3) for f in methods.values()}) == 3  # they differ here
    assert sum(w for _, w in e.weights) == pytest.approx(1.0)


def test_after_a_lasting_change_the_wall_clock_rate_follows_it_as_the_model_does() -> None:
    # 20 ms a step, then 40 ms from step 600; seen at step 1200 of 2000
    s = session(lines_of(lambda i: 0.04 if i > 600 else 0.02, 1200))
    run = s.state.current
    e = est(s)
    assert e.speed_change_iter is not None and 600 < e.speed_change_iter <= 620
    methods = dict(e.methods)
    since_start = run.last_t + 800 * (run.last_t - float(run.t.values[0])) / (1200 - int(run.iters.values[0]))
    # the change has lasted 600 steps against 800 to go: both weigh the new speed by 600/800
    # ... so they agree, and both are later than the rate since the start says
    ahead = {m: f - run.last_t for m, f in methods.items()}
    assert ahead["wallclock"] == pytest.approx(ahead["model"], rel=0.01)
    assert ahead["wallclock"] > since_start - run.last_t + 3.0


def test_the_wall_clock_rate_keeps_the_evals_in_when_no_pause_is_known() -> None:
    # steps of 20 ms and an eval of 2 s every 100 steps
    s = session(lines_of(lambda i: 0.02, 400, eval_every=100))
    run = s.state.current
    est(s)  # folds the rows into the run's tracker
    tracker = Tracker.of(run)
    last, last_t = int(run.iters.values[-1]), float(run.t.values[-1])
    first_iter, first_t = int(run.iters.values[0]), float(run.t.values[0])
    with_evals = tracker.wallclock_rate(last, last_t, 100, 0.0)
    evals_out = tracker.wallclock_rate(last, last_t, 100, 2.0)
    assert with_evals == pytest.approx((last_t - first_t) / (last - first_iter))
    assert evals_out == pytest.approx(0.02, rel=1e-6)


def test_a_slow_step_every_tenth_is_counted_once_by_every_method() -> None:
    # SOAP-style: a preconditioner update makes every 10th step 5x slower; mean 28 ms a step
    s = session(lines_of(lambda i: 0.1 if i % 10 == 0 else 0.02, 1000))
    run = s.state.current
    e = est(s)
    assert e.speed_change_iter is None
    for name, finish in e.methods:
        assert finish - run.last_t == pytest.approx(1000 * 0.028, rel=0.01), name
    assert e.remaining_s == pytest.approx(1000 * 0.028, rel=0.01)


def test_after_a_change_the_models_band_spans_the_two_speeds() -> None:
    # one move only (nothing came back yet): 3x slower for the first 400 steps, then free
    freed = model_band(session(lines_of(lambda i: 0.06 if i <= 400 else 0.02, 700)))
    steady = model_band(session(lines_of(lambda i: 0.02, 700)))
    assert freed.speed_change_iter is not None
    assert freed.high - freed.low > 3 * (steady.high - steady.low)
