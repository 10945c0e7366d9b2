"""Energy so far, read live: counted up to the newest GPU sample and never past it, so it never
goes down while the same run is read (a power drop after the last sample, the end of a run, two
GPUs sampled at different moments, the writer's exit), and none before the run's first line."""

from __future__ import annotations

import itertools

import pytest
from conftest import FakeClock
from hypothesis import given
from hypothesis import strategies as st

from monitor.core.report import WRITER_SETTLE_S, Options
from monitor.core.telemetry import CpuEnergySample, GpuSample, Telemetry
from monitor.inbox import GpuSampled, GpuWatched, WriterExited
from monitor.session import Session

T0 = 1_800_000_000.0
BUSY_W = 700.0


def session(clock: FakeClock, max_iters: int | None = None) -> Session:
    s = Session(Options(source="x", max_iters=max_iters), clock)
    s.ingest([GpuWatched("nvml")])
    return s


def step(s: Session, it: int) -> None:
    """iter `it` printed at T0 + it s."""
    s.feed(f"iter {it}: loss 4.0, time 10.0ms, mfu 30.00%", T0 + it)


def busy(index: int, t: float, energy_j: float, power_w: float = BUSY_W) -> GpuSample:
    return GpuSample(t=T0 + t, index=index, name="NVIDIA H200", power_w=power_w, energy_j=energy_j)


def read(s: Session, clock: FakeClock, t: float) -> tuple[float | None, str]:
    clock.t = T0 + t
    snap = s.snapshot()
    return snap.energy_j, snap.status


def test_a_power_drop_after_the_last_sample_is_not_taken_back() -> None:
    """The GPU drew 700 W until the sample at 9 s; in the next second it fell to 125 W. The
    energy read at 9.9 s counts up to 9 s (not 700 W held to 9.9 s, which the next sample takes
    back), and at 10.9 s adds what the counter measured."""
    clock = FakeClock(T0)
    s = session(clock)
    for it in range(10):
        step(s, it)
    s.ingest([GpuSampled([busy(0, t, BUSY_W * t) for t in range(10)])])
    before = read(s, clock, 9.9)
    s.ingest([GpuSampled([busy(0, 10.0, BUSY_W * 9 + 125.0, power_w=125.0)])])
    step(s, 10)
    after = read(s, clock, 10.9)
    assert (before, after) == ((6300.0, "training"), (6425.0, "training"))


def test_the_end_of_a_run_keeps_what_was_counted() -> None:
    """The run ends with a KeyboardInterrupt at 10 s while power falls: its energy goes from
    the count up to the newest sample to the count up to its last line, and stays there."""
    clock = FakeClock(T0)
    s = session(clock)
    for it in range(10):
        step(s, it)
    s.ingest([GpuSampled([busy(0, t, BUSY_W * t) for t in range(10)])])
    readings = [read(s, clock, 9.9)]
    for line in ("Traceback (most recent call last):", '  File "train.py", line 1, in <module>', "KeyboardInterrupt"):
        s.feed(line, T0 + 10.0)
    s.ingest([GpuSampled([busy(0, 10.0, 6400.0, power_w=100.0)])])
    readings.append(read(s, clock, 10.9))
    s.ingest([GpuSampled([busy(0, 11.0, 6500.0, power_w=100.0)])])
    readings.append(read(s, clock, 11.9))
    assert readings == [(6300.0, "training"), (6400.0, "interrupted"), (6400.0, "interrupted")]


def test_two_gpus_sampled_at_different_moments_count_each_to_its_own_newest_sample() -> None:
    """GPU 1 is read half a second after GPU 0 and its power falls after 8.5 s: between two
    reads 0.2 s apart the sum only grows, by what GPU 1's counter measured."""
    clock = FakeClock(T0)
    s = session(clock)
    for it in range(10):
        step(s, it)
    s.ingest([GpuSampled([busy(0, t, BUSY_W * t) for t in range(10)])])
    s.ingest([GpuSampled([busy(1, t + 0.5, BUSY_W * t) for t in range(9)])])
    first, _ = read(s, clock, 9.4)
    s.ingest([GpuSampled([busy(1, 9.5, BUSY_W * 8 + 100.0, power_w=100.0)])])
    second, _ = read(s, clock, 9.6)
    # GPU 0: 9 s at 700 W; GPU 1: the 0.5 s before its first sample held at its first reading,
    # then 8 s at 700 W (+ the 100 J of its last second, once read)
    assert (first, second) == (6300.0 + 350.0 + 5600.0, 6300.0 + 350.0 + 5700.0)


def test_a_run_whose_writer_exits_counts_to_the_exit_and_not_back() -> None:
    """A run killed with no last words (--max-iters says it had more to do): once its writer's
    exit is seen, energy counts up to the exit and no further (the process held the GPU until
    then), and stays there when the run is called interrupted."""
    clock = FakeClock(T0)
    s = session(clock, max_iters=100)
    for it in range(10):
        step(s, it)
    s.ingest([GpuSampled([busy(0, t, BUSY_W * t) for t in range(10)])])
    readings = [read(s, clock, 9.9)]
    s.ingest([GpuSampled([busy(0, 10.0, 6700.0, power_w=100.0)]), WriterExited(4242, T0 + 10.2)])
    for t in range(11, 16):
        s.ingest([GpuSampled([busy(0, float(t), 6700.0 + 100.0 * (t - 10), power_w=100.0)])])
        readings.append(read(s, clock, t + 0.5))
    energies = [e for e, _ in readings]
    assert energies == sorted(energies)
    assert readings[-1] == (pytest.approx(6700.0 + 0.2 * 100.0), "interrupted")
    assert 11.5 < 10.2 + WRITER_SETTLE_S < 15.5  # the status changed among these reads


def test_cpu_energy_is_not_extrapolated_past_its_newest_sample_either() -> None:
    """The host's CPU drew 100 W, then 10 W in the second after its newest sample."""
    clock = FakeClock(T0)
    s = session(clock)
    for it in range(10):
        step(s, it)
    s.ingest([GpuSampled([CpuEnergySample(t=T0 + t, energy_j=100.0 * t) for t in range(10)])])
    clock.t = T0 + 9.9
    before = s.snapshot().cpu_energy_j
    s.ingest([GpuSampled([CpuEnergySample(t=T0 + 10.0, energy_j=910.0)])])
    step(s, 10)
    clock.t = T0 + 10.9
    assert (before, s.snapshot().cpu_energy_j) == (pytest.approx(900.0), pytest.approx(910.0))


def test_no_energy_before_the_runs_first_line() -> None:
    """GPUs sampled while the log has no line yet: no run to count for, and no warning about
    an unknown start; the first line starts the count."""
    clock = FakeClock(T0)
    s = session(clock)
    s.ingest([GpuSampled([busy(0, t, 120.0 * t, power_w=120.0) for t in range(5)])])
    clock.t = T0 + 4.5
    snap = s.snapshot()
    assert (snap.energy_j, snap.energy_source, snap.power_w) == (None, None, 120.0)
    assert not any("energy" in w for w in snap.warnings)
    s.feed("iter 0: loss 4.0, time 10.0ms, mfu 30.00%", T0 + 5.0)
    s.ingest([GpuSampled([busy(0, 6.0, 720.0, power_w=120.0)])])
    clock.t = T0 + 6.5
    assert s.snapshot().energy_j == pytest.approx(120.0)


def test_samples_that_stop_are_said() -> None:
    """Energy counts up to the newest sample; when that is long ago, a warning says so."""
    clock = FakeClock(T0)
    s = session(clock)
    for it in range(60):
        step(s, it)
    s.ingest([GpuSampled([busy(0, t, BUSY_W * t) for t in range(30)])])
    clock.t = T0 + 59.0
    snap = s.snapshot()
    assert snap.energy_j == pytest.approx(BUSY_W * 29)
    assert "energy leaves out the last 30 s (no GPU sample since)" in snap.warnings


@given(st.lists(st.tuples(st.floats(0.05, 3.0), st.floats(0.0, 800.0), st.booleans(), st.floats(0.0, 2.0)),
                min_size=2, max_size=40),
       st.booleans())
def test_a_growing_window_never_loses_energy(steps: list[tuple[float, float, bool, float]], counter: bool) -> None:
    """Samples come in time order (by counter or power only, some power readings missing);
    between them the window's end moves on: the energy of [0, end] never goes down."""
    tel = Telemetry()
    t = energy = 0.0
    last = 0.0
    for gap, power, known, wait in steps:
        t += gap
        energy += power * gap
        tel.add([GpuSample(t=t, index=0, power_w=power if known else None, energy_j=energy if counter else None)])
        for end in (t, t + wait):
            reading = tel.energy(-1.0, end)
            value = 0.0 if reading is None else reading.energy_j
            assert value >= last - 1e-6 * max(1.0, last)
            last = value


def test_the_window_end_only_moves_forward() -> None:
    """energy_end: now while the run goes on, its last line once the log says it ended, the
    writer's exit once that is seen; as the reads go on, never earlier than before."""
    from monitor.core.energy import energy_end
    from monitor.core.run import Run

    run = Run(0)
    run.first_t, run.last_line_t = 0.0, 9.0
    ends = [energy_end(run, now, by_lines, exit_t, WRITER_SETTLE_S)
            for now, by_lines, exit_t in ((9.5, False, None), (10.5, False, 10.2), (13.5, False, 10.2))]
    assert ends == [9.5, 10.2, 10.2]
    assert energy_end(run, 20.0, True, None, WRITER_SETTLE_S) == 9.0
    run.last_line_t = 12.0  # a line read after the exit was written before it
    assert energy_end(run, 20.0, False, 10.2, WRITER_SETTLE_S) == 12.0
    run.last_line_t = 30.0  # a line long after: another writer goes on
    assert energy_end(run, 31.0, False, 10.2, WRITER_SETTLE_S) == 31.0
    assert list(itertools.accumulate(ends, max)) == ends


def test_the_energy_panel_says_why_there_is_none_yet() -> None:
    """GPUs sampled and no energy (no line yet): the panel says it counts from the first line;
    with no GPU at all it says there is no measurement."""
    from monitor.tui.widgets.panels import EnergyPanel

    clock = FakeClock(T0)
    s = session(clock)
    s.ingest([GpuSampled([busy(0, t, 120.0 * t, power_w=120.0) for t in range(3)])])
    clock.t = T0 + 2.5
    assert EnergyPanel.text(s.snapshot()).plain.splitlines()[:2] == ["no energy yet", "(counts from the first line)"]
    bare = Session(Options(source="x"), clock)
    assert EnergyPanel.text(bare.snapshot()).plain.startswith("no energy measurement")


def test_a_run_shown_while_sample_py_lines_are_held_counts_to_its_writers_exit() -> None:
    """After the run's last step comes a line sample.py prints too (held as a tentative run, not
    shown); then the writer exits. The run shown reads 'interrupted' by that exit, and its energy
    stops at the exit as well, rather than counting on to now."""
    clock = FakeClock(T0)
    s = session(clock, max_iters=100)
    for it in range(10):
        step(s, it)
    s.feed("Overriding: out_dir = out-mitos", T0 + 9.5)
    s.ingest([GpuSampled([busy(0, t, BUSY_W * t) for t in range(10)])])
    s.ingest([GpuSampled([busy(0, 10.0, 6700.0, power_w=100.0)]), WriterExited(4242, T0 + 10.2)])
    for t in range(11, 16):
        s.ingest([GpuSampled([busy(0, float(t), 6700.0 + 100.0 * (t - 10), power_w=100.0)])])
    snap = s.snapshot(T0 + 15.5)
    assert (len(s.state.runs), snap.run_index, snap.status) == (2, 0, "interrupted")
    assert snap.energy_j == pytest.approx(6700.0 + 0.2 * 100.0)
