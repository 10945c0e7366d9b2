"""Telemetry: energy from the counter (with resets) or integrated power, windows, VRAM peak,
busy fraction; checked by hand-made samples and against the recorded H100 NVML traces."""

from __future__ import annotations

import csv
import itertools

import numpy as np
import pytest
from conftest import SAMPLES
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from monitor.core.telemetry import ACTIVE_GAP_S, POWER_LAG_S, GpuSample, Telemetry

RECORDED = ["compiled", "eager_log_every_iter", "interrupted", "real_nvidia_smi"]


def sample(t: float, index: int = 0, **values: object) -> GpuSample:
    return GpuSample(t=t, index=index, name="NVIDIA H100 80GB HBM3", **values)  # type: ignore[arg-type]


def nvml_trace(name: str) -> list[GpuSample]:
    """The recorded gpu.nvml.csv: power in mW, the energy counter in mJ."""
    with open(SAMPLES / "recorded" / name / "gpu.nvml.csv") as f:
        return [
            sample(float(r["t"]), power_w=int(r["power_mw"]) / 1e3, energy_j=int(r["energy_mj"]) / 1e3,
                   vram_used_bytes=int(r["mem_used_b"]), util_pct=float(r["util_gpu"]))
            for r in csv.DictReader(f)
        ]


def test_energy_from_the_counter_is_the_counter_difference() -> None:
    tel = Telemetry()
    tel.add([sample(0.0, energy_j=1000.0, power_w=100.0), sample(1.0, energy_j=1150.0, power_w=200.0),
             sample(2.0, energy_j=1400.0, power_w=300.0)])
    reading = tel.energy(0.0, 2.0)
    assert reading is not None
    assert reading.energy_j == pytest.approx(400.0)
    assert reading.source == "nvml-counter"
    assert (reading.start_t, reading.end_t) == (0.0, 2.0)


def test_a_window_inside_an_interval_takes_its_share() -> None:
    tel = Telemetry()
    tel.add([sample(0.0, energy_j=0.0), sample(10.0, energy_j=1000.0)])
    reading = tel.energy(2.5, 5.0)
    assert reading is not None and reading.energy_j == pytest.approx(250.0)


def test_a_counter_reset_falls_back_to_power_for_that_interval() -> None:
    tel = Telemetry()
    tel.add([sample(0.0, energy_j=5000.0, power_w=100.0), sample(1.0, energy_j=5100.0, power_w=100.0),
             sample(2.0, energy_j=30.0, power_w=300.0),  # driver reloaded: the counter restarted
             sample(3.0, energy_j=330.0, power_w=300.0)])
    reading = tel.energy(0.0, 3.0)
    assert reading is not None
    # 100 J by counter, the reset second by trapezoid (100+300)/2, then 300 J by counter
    assert reading.energy_j == pytest.approx(100 + 200 + 300)
    assert reading.source == "nvml-counter"


def test_without_a_counter_power_is_integrated_and_labelled() -> None:
    tel = Telemetry()
    tel.add([sample(float(t), power_w=200.0 + 10 * t) for t in range(11)])
    reading = tel.energy(0.0 - POWER_LAG_S, 10.0 - POWER_LAG_S)
    assert reading is not None
    assert reading.energy_j == pytest.approx(sum(200 + 10 * t + 5 for t in range(10)))
    assert reading.source == "nvml-power"
    log = Telemetry("gpu-log")
    log.add([sample(float(t), power_w=100.0) for t in range(3)])
    reading = log.energy(0.0, 2.0)
    assert reading is not None and reading.source == "gpu-log"


def test_a_short_gap_at_the_start_is_held_at_the_first_reading_the_end_is_not() -> None:
    """Sampling that began just after the window did is filled with the first reading; past
    the newest sample nothing is measured yet, so nothing is counted there."""
    tel = Telemetry()
    tel.add([sample(1.0, energy_j=0.0, power_w=100.0), sample(2.0, energy_j=100.0, power_w=100.0)])
    held = tel.energy(0.0, 2.0)
    assert held is not None and held.energy_j == pytest.approx(200.0) and (held.start_t, held.end_t) == (0.0, 2.0)
    early = tel.energy(-5.0, 2.0)
    assert early is not None and early.energy_j == pytest.approx(100.0) and early.start_t == 1.0
    late = tel.energy(1.0, 3.5)
    assert late is not None and late.energy_j == pytest.approx(100.0) and late.end_t == 2.0


def test_no_energy_without_two_samples_or_outside_them() -> None:
    tel = Telemetry()
    assert tel.energy(0.0, 10.0) is None
    tel.add([sample(100.0, energy_j=0.0)])
    assert tel.energy(0.0, 200.0) is None
    tel.add([sample(101.0, energy_j=10.0)])
    assert tel.energy(500.0, 600.0) is None
    assert tel.energy(5.0, 5.0) is None


def test_unknown_power_is_not_counted_as_zero() -> None:
    tel = Telemetry()
    tel.add([sample(0.0, power_w=None), sample(1.0, power_w=None)])
    assert tel.energy(0.0, 1.0) is None
    assert tel.total("power_w") is None


def test_multi_gpu_energy_and_totals_add_up() -> None:
    tel = Telemetry()
    for t in range(3):
        tel.add([sample(float(t), 0, energy_j=100.0 * t, power_w=100.0, vram_used_bytes=2**30),
                 sample(float(t), 1, energy_j=50.0 * t, power_w=50.0, vram_used_bytes=2**31)])
    reading = tel.energy(0.0, 2.0)
    assert reading is not None and reading.energy_j == pytest.approx(300.0)
    assert tel.total("power_w") == 150.0
    assert tel.total("vram_used_bytes") == 3 * 2**30
    assert tel.mean_power_w(0.0, 2.0) == pytest.approx(150.0)


def test_a_gpu_that_stops_reporting_leaves_the_active_set() -> None:
    tel = Telemetry()
    tel.add([sample(0.0, 0), sample(0.0, 1)])
    tel.add([sample(ACTIVE_GAP_S + 1, 0)])
    assert tel.active() == [0]


def test_a_lost_gpu_stays_listed_with_its_error_and_unknown_values() -> None:
    tel = Telemetry()
    tel.add([sample(0.0, 0, power_w=100.0), sample(0.0, 1, power_w=100.0)])
    tel.add([sample(1.0, 0, power_w=100.0), GpuSample(t=1.0, index=1, error="GPU is lost")])
    assert [s.error for s in tel.latest()] == [None, "GPU is lost"]
    assert tel.total("power_w") is None


def test_out_of_order_samples_are_dropped() -> None:
    tel = Telemetry()
    assert tel.add([sample(5.0, power_w=1.0), sample(4.0, power_w=2.0)]) == 1
    assert tel.latest()[0].t == 5.0


def test_vram_peak_since_a_time() -> None:
    tel = Telemetry()
    tel.add([sample(0.0, vram_used_bytes=9), sample(1.0, vram_used_bytes=5), sample(2.0, vram_used_bytes=7),
             sample(3.0, vram_used_bytes=None)])
    assert tel.vram_peak_bytes(0) == 9
    assert tel.vram_peak_bytes(0, since_t=1.0) == 7
    assert tel.vram_peak_bytes(3) is None


def test_busy_fraction_counts_samples_at_or_above_half_utilisation() -> None:
    tel = Telemetry()
    tel.add([sample(float(t), util_pct=u) for t, u in enumerate([0.0, 49.0, 50.0, 100.0, None])])
    assert tel.busy_fraction(0.0, 4.0) == pytest.approx(2 / 4)
    assert tel.busy_fraction(2.0, 3.0) == 1.0
    assert tel.busy_fraction(4.0, 4.0) is None
    assert tel.busy_fraction(10.0, 20.0) is None


def test_unavailable_says_why_until_samples_come() -> None:
    tel = Telemetry()
    tel.unavailable("NVML library not found")
    assert tel.status == "GPU telemetry unavailable: NVML library not found"
    tel.add([sample(0.0)])
    assert tel.status is None


@pytest.mark.parametrize("name", RECORDED)
def test_recorded_counter_energy_is_exact_and_power_integration_close(name: str) -> None:
    trace = nvml_trace(name)
    t0, t1 = trace[5].t, trace[-5].t
    truth = np.interp(t1, [s.t for s in trace], [s.energy_j for s in trace]) - trace[5].energy_j
    counter = Telemetry()
    counter.add(trace)
    reading = counter.energy(t0, t1)
    assert reading is not None and reading.energy_j == pytest.approx(truth, rel=1e-9)
    power_only = Telemetry()
    power_only.add([GpuSample(t=s.t, index=0, power_w=s.power_w) for s in trace])
    integrated = power_only.energy(t0, t1)
    assert integrated is not None and integrated.source == "nvml-power"
    assert integrated.energy_j == pytest.approx(truth, rel=0.01)


def _reference_energy(trace: list[GpuSample], t0: float, t1: float) -> float | None:
    """Every span between samples, weighted by its share inside [t0, t1], a start gap held: the
    definition that Telemetry.energy answers with running sums."""
    from monitor.core.telemetry import HOLD_MIN_S

    def by_counter(x: GpuSample, y: GpuSample) -> bool:
        return x.energy_j is not None and y.energy_j is not None and y.energy_j >= x.energy_j

    lag = 0.0 if any(by_counter(x, y) for x, y in itertools.pairwise(trace)) else POWER_LAG_S
    # a missing power reading between two known ones is read off the line joining them
    known = [(s.t, s.power_w) for s in trace if s.power_w is not None]
    bridged = {}
    for i, s in enumerate(trace):
        if s.power_w is None and known and known[0][0] <= s.t and any(x.power_w is not None for x in trace[i:]) \
                and any(x.power_w is not None for x in trace[:i]):
            bridged[i] = float(np.interp(s.t, [k[0] for k in known], [k[1] for k in known]))
    power = [s.power_w if s.power_w is not None else bridged.get(i) for i, s in enumerate(trace)]
    spans = []
    for (i, x), (_, y) in itertools.pairwise(enumerate(trace)):
        if by_counter(x, y):
            spans.append((x.t, y.t, y.energy_j - x.energy_j, x, y))  # type: ignore[operator]
        elif power[i] is not None and power[i + 1] is not None:
            spans.append((x.t - lag, y.t - lag, (power[i] + power[i + 1]) / 2 * (y.t - x.t), x, y))  # type: ignore[operator]
        else:
            spans.append((x.t - lag, y.t - lag, None, x, y))
    used = [(a, b, e, x, y) for a, b, e, x, y in spans if e is not None and b > a and min(b, t1) - max(a, t0) > 0]
    if not used:
        return None
    total = sum(e * (min(b, t1) - max(a, t0)) / (b - a) for a, b, e, _, _ in used)
    # a gap at the start of up to two periods of the first span is held at its first reading;
    # past the newest sample nothing is counted
    a, b, _, x, _ = used[0]
    gap = max(t0, a) - t0
    if 0 < gap <= max(HOLD_MIN_S, 2 * (b - a)) and x.power_w is not None:
        total += gap * x.power_w
    return total


@settings(max_examples=400, deadline=None)
@given(
    steps=st.lists(st.tuples(st.floats(0.0, 3.0, allow_subnormal=False), st.one_of(st.none(), st.floats(0.0, 700.0)),
                             st.one_of(st.none(), st.floats(-50.0, 800.0))), min_size=2, max_size=40),
    t0=st.floats(-5.0, 60.0), span=st.floats(0.01, 80.0),
)
def test_windowed_energy_matches_its_definition(steps, t0: float, span: float) -> None:
    t, energy, trace = 0.0, 1000.0, []
    for dt, power, step_j in steps:
        t += dt
        if step_j is not None:
            energy = energy + step_j if energy + step_j >= 0 else 0.0  # negative steps: resets
        trace.append(sample(t, power_w=power, energy_j=None if step_j is None else energy))
    tel = Telemetry()
    tel.add(trace)
    reading = tel.energy(t0, t0 + span)
    expected = _reference_energy(trace, t0, t0 + span)
    if expected is None:
        assert reading is None
    else:
        assert reading is not None and reading.energy_j == pytest.approx(expected, rel=1e-6, abs=1e-6)


@settings(max_examples=300, deadline=None)
@given(
    steps=st.lists(st.tuples(st.floats(0.0, 3.0, allow_subnormal=False), st.one_of(st.none(), st.floats(0.0, 700.0)),
                             st.one_of(st.none(), st.floats(-50.0, 800.0))), min_size=2, max_size=30),
    t0=st.floats(-5.0, 60.0), span=st.floats(0.01, 80.0),
)
def test_energy_kept_up_to_date_sample_by_sample_matches_its_definition(steps, t0: float, span: float) -> None:
    """The spans are extended as samples come (and the ones after the newest power reading
    redone when the next comes): asked after every sample, the answer is the definition's for
    the samples so far."""
    # A gap so small that shifting its span by POWER_LAG_S rounds it to nothing (x - lag == y - lag)
    # drops it from the reference but not from the running sums; NVML samples are never that close.
    assume(all(dt == 0.0 or dt > 1e-9 for dt, _, _ in steps))
    t, energy, trace = 0.0, 1000.0, []
    tel = Telemetry()
    for dt, power, step_j in steps:
        t += dt
        if step_j is not None:
            energy = energy + step_j if energy + step_j >= 0 else 0.0
        trace.append(sample(t, power_w=power, energy_j=None if step_j is None else energy))
        tel.add(trace[-1:])
        reading = tel.energy(t0, t0 + span)
        expected = _reference_energy(trace, t0, t0 + span) if len(trace) >= 2 else None
        if expected is None:
            assert reading is None
        else:
            assert reading is not None and reading.energy_j == pytest.approx(expected, rel=1e-6, abs=1e-6)


def test_vram_peak_asked_again_looks_only_at_new_samples_and_stays_right() -> None:
    tel = Telemetry()
    tel.add([sample(float(i), vram_used_bytes=v) for i, v in enumerate([5, 9, 3])])
    assert tel.vram_peak_bytes(0, since_t=1.5) == 3
    tel.add([sample(3.0, vram_used_bytes=7), sample(4.0)])
    assert tel.vram_peak_bytes(0, since_t=1.5) == 7
    assert tel.vram_peak_bytes(0) == 9  # another start: computed afresh
    tel.add([sample(5.0, vram_used_bytes=4)])
    assert (tel.vram_peak_bytes(0), tel.vram_peak_bytes(0, since_t=1.5)) == (9, 7)
