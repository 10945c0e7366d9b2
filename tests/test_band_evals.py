"""The band's eval part: the evals still to come counted as one quantity that shifts as a whole
(band.unit), not as independent draws whose sum narrows with their number."""

from __future__ import annotations

import math

import pytest

from monitor.core.band import (
    EVAL_UNIT,
    Bands,
    Calibration,
    calibrate,
    calibrate_split,
    interval,
    seen_factor,
    unit,
    widen,
)
from monitor.core.estimate import estimate
from monitor.core.plan import make_plan
from tests.test_estimate import feed, nanogpt, steady


def test_without_evals_the_unit_is_how_much_was_seen() -> None:
    for samples in (1, 8, 100, 10**6):
        assert unit(samples) == unit(samples, 0.0) == seen_factor(samples)


def test_the_eval_part_does_not_shrink_with_samples() -> None:
    # all evals: the unit is EVAL_UNIT however many steps were seen
    assert unit(10, 1.0) == unit(10**6, 1.0) == pytest.approx(EVAL_UNIT)
    # half evals: from many samples, the eval part alone is left over the steps' drift floor
    assert unit(10**9, 0.5) == pytest.approx(math.hypot(0.5, 0.5 * EVAL_UNIT))
    assert unit(10**9, 0.5) > unit(10**9, 0.0)
    # shares outside 0..1 or not a number are held to the range
    assert unit(100, 2.0) == unit(100, 1.0) and unit(100, -1.0) == unit(100, math.nan) == seen_factor(100)


def test_calibration_and_interval_use_the_same_unit() -> None:
    # 19 runs, one line each at 40% of their time to come in evals: the bounds come back in
    # relative errors at that share, narrower per unit than at share 0
    share = 0.4
    errors = {f"r{k}": [(0.3, 100, (k - 9) / 100, share)] for k in range(19)}
    cal = calibrate(errors, alpha=0.1)
    assert cal.high[5] == pytest.approx(0.08 / unit(100, share))
    assert interval(cal, 0.3, 100, share) == pytest.approx((-0.08, 0.08))
    # a row without a share is one at share 0, as before the eval part
    plain = calibrate({n: [r[:3] for r in v] for n, v in errors.items()}, alpha=0.1)
    assert plain == calibrate({n: [(*r[:3], 0.0) for r in v] for n, v in errors.items()}, alpha=0.1)
    assert plain.high[5] == pytest.approx(0.08 / seen_factor(100))


def test_split_calibration_carries_the_share() -> None:
    rows = {f"r{k}": [(0.3, 100, (k - 9) / 100, "alone", 0.5)] for k in range(19)}
    bands = calibrate_split(rows, alpha=0.1)
    assert bands.alone == calibrate({n: [(p, k, e, s) for p, k, e, _c, s in v] for n, v in rows.items()}, alpha=0.1)
    four = calibrate_split({n: [r[:4] for r in v] for n, v in rows.items()}, alpha=0.1)
    assert four.alone.high[5] == pytest.approx(0.08 / seen_factor(100))


def test_the_band_reaches_further_for_an_estimate_that_is_mostly_evals() -> None:
    cal = Calibration(low=(-0.1,) * 9, high=(0.1,) * 9, runs=10)
    def band(share: float) -> tuple[float, float]:
        return widen(1000.0, 1000.0, cal=cal, finish=1000.0, now=900.0, scale_s=100.0, progress=0.5,
                     samples=10**6, eval_share=share)

    steps_only, evals = band(0.0), band(0.6)
    assert steps_only == pytest.approx((1000.0 - 10.0 * unit(10**6), 1000.0 + 10.0 * unit(10**6)))
    assert evals == pytest.approx((1000.0 - 10.0 * unit(10**6, 0.6), 1000.0 + 10.0 * unit(10**6, 0.6)))
    assert evals[0] < steps_only[0] and evals[1] > steps_only[1]


def test_the_estimate_says_what_share_of_the_time_to_come_is_evals() -> None:
    s = feed(nanogpt(600, steady(0.02), eval_s=3.0))
    run = s.state.current
    plan = make_plan(run, s.format, None)
    e = estimate(run, plan, run.last_t or 0.0)
    assert e.evals_left == 2 and e.eval_time_s == pytest.approx(3.0, rel=1e-6)  # at 750 and 1000
    assert e.scale_s is not None and e.eval_share == pytest.approx(2 * e.eval_time_s / e.scale_s, rel=1e-9)
    assert 0.4 < e.eval_share < 0.5
    # the band the estimate shows is the calibrated one at that share
    cal = Calibration(low=(-0.1,) * 9, high=(0.1,) * 9, runs=10)
    banded = estimate(run, plan, run.last_t or 0.0, calibration=Bands(cal, cal, cal))
    assert banded.high is not None and banded.read_finish is not None
    q = interval(cal, e.progress or 0.0, e.samples, e.eval_share)
    assert q is not None
    assert banded.high >= banded.read_finish + q[1] * e.scale_s - 1e-6
