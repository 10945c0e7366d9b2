"""The band where the log and the GPU mislead: lines that arrive in block-buffered bursts (the run
is ahead of the newest line read) and other processes on the GPU that do not slow the run (the
band of a run alone, not the shared one)."""

from __future__ import annotations

import pytest

from monitor.core.band import Bands, Calibration, bucket, calibrate_split, lagged_error, widen
from monitor.core.estimate import estimate
from monitor.core.plan import make_plan
from monitor.core.speed import FORCED_MIN_SAMPLES, Stream
from monitor.core.tracker import BURSTY_SHARE, Tracker
from tests.test_speed import T0, lines_of, noisy, session

NARROW = Calibration(low=(-0.01,) * 9, high=(0.01,) * 9, runs=10)
WIDE = Calibration(low=(-0.5,) * 9, high=(0.8,) * 9, runs=5)


def _listed_stream(alone: list[float], listed: list[float], *, arrive_at: int | None = None) -> Stream:
    s = Stream()
    times = alone + listed
    at = len(alone) + 1 if arrive_at is None else arrive_at
    for i, x in enumerate(times, start=1):
        if i == at:
            s.force_change(listed=True)
        s.add(x, 1.0, i)
    return s


def test_a_process_beside_the_run_that_does_not_slow_it_is_harmless() -> None:
    s = _listed_stream([0.02] * 50, [0.0205] * FORCED_MIN_SAMPLES)
    assert s.harmless
    sp = s.speed(58, 1000)
    assert sp is not None and sp.harmless


def test_a_process_that_slows_the_run_is_not_harmless() -> None:
    assert not _listed_stream([0.02] * 50, [0.03] * 20).harmless


def test_nothing_is_harmless_before_enough_samples_on_both_sides() -> None:
    assert not _listed_stream([0.02] * 50, [0.02] * (FORCED_MIN_SAMPLES - 1)).harmless
    assert not _listed_stream([0.02] * (FORCED_MIN_SAMPLES - 1), [0.02] * 30).harmless
    # listed from the first sample: no speed alone to compare with
    assert not _listed_stream([], [0.02] * 50, arrive_at=1).harmless


def test_a_listed_process_that_starts_computing_later_is_no_longer_harmless() -> None:
    # idle (compiling) beside the run for 30 samples, then the run runs 1.6x slower: the list
    # does not change, the current regime shows it
    s = _listed_stream([0.02] * 50, [0.02] * 30 + [0.032] * 12)
    assert s.regime.n < 30 and not s.harmless


def test_a_harmless_neighbour_gets_its_own_band_and_one_that_slows_the_run_the_shared_one() -> None:
    mid = Calibration(low=(-0.1,) * 9, high=(0.1,) * 9, runs=5)

    def band(step, contention: list[tuple[float, int]], bands: Bands) -> tuple[float, bool, bool]:
        s = session(lines_of(step, 1000, max_iters=5000))
        run = s.state.current
        e = estimate(run, make_plan(run, s.format, None), run.last_t, calibration=bands, contention=contention)
        assert e.low is not None and e.high is not None
        return e.high - e.low, e.gpu_shared, e.gpu_harmless

    arrives = [(T0 + 10.0 + 0.02 * 500, 1)]  # about step 500
    three = Bands(NARROW, WIDE, mid)
    alone = band(noisy(0.02, rel=0.01), [], three)
    harmless = band(noisy(0.02, rel=0.01), arrives, three)
    slowed = band(lambda i: 0.02 if i < 500 else 0.03, arrives, three)
    assert alone[1:] == (False, False) and harmless[1:] == (False, True) and slowed[1:] == (True, False)
    assert alone[0] < harmless[0] < slowed[0]
    # an older table with no harmless class: the shared one
    assert band(noisy(0.02, rel=0.01), arrives, Bands(NARROW, WIDE))[0] > harmless[0]
    # just arrived: nothing shows yet that it is harmless
    assert band(noisy(0.02, rel=0.01), [(T0 + 10.0 + 0.02 * 998, 1)], three)[1:] == (True, False)


def test_each_class_of_band_is_calibrated_on_its_own_lines() -> None:
    rows = {f"r{k}": [(0.3, 1000, e, c) for e, c in ((0.01 * k, "alone"), (0.2 * k, "shared"), (0.05 * k, "harmless"))]
            for k in range(1, 11)}
    bands = calibrate_split(rows)
    assert bands.harmless is not None
    k = bucket(0.3, 1000)
    assert bands.alone.high[k] < bands.harmless.high[k] < bands.shared.high[k]
    old = calibrate_split({n: [(p, k, e, c != "alone") for p, k, e, c in r if c != "harmless"] for n, r in rows.items()})
    assert old.shared.high == bands.shared.high  # a bool is the two-class table, as before


def _buffered(flush_every: int) -> list[tuple[float, str]]:
    """A run logging every step (20 ms) whose lines reach the reader only every `flush_every`
    lines, all at the instant of the flush (the time the last of them was written)."""
    lines = lines_of(noisy(0.02, rel=0.01), 1000, max_iters=5000)
    head = [x for x in lines if not x[1].startswith("iter")]
    iters = [x for x in lines if x[1].startswith("iter")]
    out = list(head)
    for k in range(0, len(iters), flush_every):
        chunk = iters[k:k + flush_every]
        out += [(chunk[-1][0], line) for _, line in chunk]
    return out


def test_lines_at_one_instant_of_the_readers_clock_are_a_burst() -> None:
    s = session(_buffered(200))
    run = s.state.current
    e = estimate(run, make_plan(run, s.format, None), run.last_t)  # folds the rows in
    assert Tracker.of(run).burst_share > BURSTY_SHARE
    assert e.step_source == "printed"  # arrival gaps of 0 and of 200 lines carry no step time


def test_the_run_may_be_ahead_of_a_line_read_in_a_burst_by_the_time_the_rest_of_it_took() -> None:
    lines = _buffered(200)
    # read the flush at step ~800 up to its 50th line: 150 lines (3 s) are still to come in it
    flush_t = next(t for t, line in lines if line.startswith("iter 801:"))
    upto = next(k for k, (t, line) in enumerate(lines) if line.startswith("iter 850:"))
    s = session(lines[:upto + 1])
    run = s.state.current
    e = estimate(run, make_plan(run, s.format, None), flush_t, calibration=Bands(NARROW, NARROW))
    assert e.lag_s == pytest.approx(150 * 0.02, rel=0.05)
    assert e.low is not None and e.finish is not None and e.read_finish is not None
    assert e.read_finish - e.low >= e.lag_s
    # the finish is taken earlier by the lead, inside the band
    assert e.finish == pytest.approx(e.read_finish - e.lag_s)
    assert e.low <= e.finish <= e.read_finish
    # the last line of the flush was written at the flush: nothing left unaccounted
    whole = session(lines[:next(k for k, (t, line) in enumerate(lines) if line.startswith("iter 999:")) + 1])
    run = whole.state.current
    done = estimate(run, make_plan(run, whole.format, None), run.last_t)
    assert done.lag_s == pytest.approx(0.0, abs=0.1)


def test_the_finish_read_mid_burst_is_the_one_the_bursts_last_line_gives() -> None:
    """Read at a flush's 50th line, the finish is the one its last line gives (the run is at that
    line already): the lead takes off what the lines still in the flush account for."""
    lines = _buffered(200)
    flush_t = next(t for t, line in lines if line.startswith("iter 801:"))

    def at(step: int) -> tuple[float, float]:
        s = session(lines[:next(k for k, (t, line) in enumerate(lines) if line.startswith(f"iter {step}:")) + 1])
        run = s.state.current
        e = estimate(run, make_plan(run, s.format, None), flush_t)
        assert e.finish is not None and e.read_finish is not None
        return e.finish, e.read_finish

    (mid, mid_read), (last, last_read) = at(850), at(999)
    assert last == pytest.approx(last_read, abs=0.1)  # nothing left in the flush: no lead
    assert mid_read - last > 2.5  # the line read says 150 steps (3 s) more are to come
    assert mid == pytest.approx(last, abs=0.3)


def test_lines_written_as_they_come_have_no_lag() -> None:
    s = session(lines_of(noisy(0.02, rel=0.01), 1000, max_iters=5000))
    run = s.state.current
    assert estimate(run, make_plan(run, s.format, None), run.last_t).lag_s == 0.0


def test_the_band_reaches_as_early_as_the_lag_and_its_score_counts_only_the_error_beyond() -> None:
    low, high = widen(100.0, 100.0, cal=NARROW, finish=100.0, now=0.0, scale_s=50.0, progress=0.5, samples=1000,
                      lag_s=30.0)
    assert low == pytest.approx(100.0 - 30.0 - 0.01 * 50.0 * (1 + 64 / 1000) ** 0.5)
    assert high == pytest.approx(100.0 + 0.01 * 50.0 * (1 + 64 / 1000) ** 0.5)
    assert widen(100.0, 100.0, cal=None, finish=100.0, now=90.0, scale_s=1.0, progress=0.5, samples=10,
                 lag_s=30.0)[0] == 90.0  # never before now
    assert lagged_error(80.0, 100.0, 30.0) == 0.0  # within the lag
    assert lagged_error(60.0, 100.0, 30.0) == -10.0
    assert lagged_error(110.0, 100.0, 30.0) == 10.0  # late: the lag does not help
