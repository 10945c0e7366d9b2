"""benchmarks/eta_settle.py: the true over the model's time left, by steady samples seen, per run first."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def settle():
    sys.path.insert(0, str(ROOT))
    from benchmarks import eta_accuracy, eta_settle

    return eta_accuracy, eta_settle


def _run(bench, name: str, truth: float, lines: list[tuple[float, int, float, float]]):
    """A scored run whose lines are (progress, samples, now, the model's finish)."""
    made = tuple(bench.Line(f, n, now, model, now, model, model - now, (("model", model),))
                 for f, n, now, model in lines)
    return bench.Result(name, truth, 1000, [], 0, 0, {}, truth, made)


def test_time_left_ratios_take_each_runs_median_then_the_median_over_runs(settle) -> None:
    bench, eta_settle = settle
    slow_start = _run(bench, "a", 100.0, [(0.01, 1, 0.0, 110.0), (0.02, 1, 10.0, 120.0), (0.3, 20, 30.0, 100.0),
                                          (0.9, 1, 90.0, 200.0)])  # past 50%: left out
    slows_later = _run(bench, "b", 100.0, [(0.01, 1, 0.0, 90.0)])
    rows = {bucket: (n, med) for bucket, n, med, _, _ in eta_settle.time_left_ratios([slow_start, slows_later])}
    # run a: lines at 1 sample say 100/110 and 90/110, its median their geometric middle; run b 100/90
    a = math.sqrt(100 / 110 * 90 / 110)
    assert rows["1-1"] == (2, pytest.approx(math.sqrt(a * 100 / 90)))
    assert rows["16-31"] == (1, pytest.approx(1.0))
    assert set(rows) == {"1-1", "16-31"}
