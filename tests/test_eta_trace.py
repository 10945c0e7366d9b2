"""benchmarks/eta_trace.py and eta_kinds.py: the estimate part by part on a recorded run, and the kinds a
run's log shows."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RUNS = ROOT / "sample_logs" / "recorded"


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(ROOT))
    from benchmarks import eta_kinds, eta_trace

    return eta_trace, eta_kinds


def test_the_trace_prints_every_scored_point_with_its_parts(bench) -> None:
    eta_trace, _ = bench
    out = eta_trace.trace(RUNS / "compiled").splitlines()
    assert out[0].startswith("compiled: duration ")
    assert out[1].split()[:5] == ["pt", "prog%", "iter", "err%", "plain%"]
    points = [line.split()[0] for line in out[2:]]
    assert points == ["2%", "5%", "10%", "25%", "50%", "75%", "90%"]


def test_the_parts_add_up_to_the_error(bench) -> None:
    eta_trace, _ = bench
    head, *rows = eta_trace.trace(RUNS / "compiled").splitlines()[1:]
    cols = head.split()
    for row in rows:
        cells = dict(zip(cols, row.split()))
        parts = float(cells["e_steps"]) + float(cells["e_evals"]) + float(cells["e_other"])
        assert parts == pytest.approx(float(cells["err%"]), abs=0.02)  # each printed to 0.01


def test_kinds_of_a_run_resumed_into_its_log(bench) -> None:
    _, eta_kinds = bench
    kinds = eta_kinds.kinds_of(RUNS / "h200_resumed" / "run.log", RUNS / "h200_resumed" / "run.times")
    assert kinds is not None
    assert kinds["resumed_same_log"] and not kinds["bursty"] and not kinds["compile_eval"]
    assert eta_kinds.kinds_of(RUNS / "interrupted" / "run.log", RUNS / "interrupted" / "run.times") is None
