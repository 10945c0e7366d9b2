"""GPU telemetry at bounded memory: a long trace keeps its newest samples only, the window ends
asked before are pinned, and every answer equals the one the whole trace gives (the same
trace read with nothing dropped)."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.core import gputrace, telemetry
from monitor.core.report import Options
from monitor.core.telemetry import CpuEnergySample, GpuSample, Telemetry
from monitor.inbox import GpuSampled
from monitor.session import Session

T0 = 1_800_000_000.0
NEVER = 1 << 60


def _bound(monkeypatch: pytest.MonkeyPatch, tail: int, keep_s: float) -> None:
    for module in (gputrace, telemetry):
        monkeypatch.setattr(module, "TAIL_SAMPLES", tail)
        monkeypatch.setattr(module, "KEEP_S", keep_s)


# -- one Telemetry, asked the same windows as it grows ------------------------------------

STEP = st.tuples(st.floats(0.0, 2.0, allow_subnormal=False),  # time since the last sample
                 st.one_of(st.none(), st.floats(0.0, 700.0)),  # power
                 st.one_of(st.none(), st.floats(-50.0, 800.0)),  # counter step (negative: a reset)
                 st.one_of(st.none(), st.floats(0.0, 100.0)),  # utilisation
                 st.one_of(st.none(), st.integers(0, 1 << 30)))  # VRAM


def _answers(tel: Telemetry, now: float, anchors: list[float]) -> list[object]:
    out: list[object] = []
    for a in anchors:
        out += [tel.energy(a, now), tel.energy(a, a + 3.0), tel.busy_fraction(a, now), tel.cpu_energy_j(a, now),
                tel.vram_peak_bytes(0, since_t=a), tel.mean_power_w(a, now)]
    out += [tel.energy(now - 4.7, now), tel.vram_peak_bytes(0), tel.first_t, tel.latest(),
            tel.windows_energy([(now - 3.9, now - 2.3)])]
    return out


def _play(steps: list, anchors: list[float]) -> tuple[Telemetry, list[list[object]]]:
    tel, t, energy, answers = Telemetry(), 0.0, 1000.0, []
    for k, (dt, power, step_j, util, vram) in enumerate(steps):
        t += dt
        if step_j is not None:
            energy = energy + step_j if energy + step_j >= 0 else 0.0
        tel.add([GpuSample(t=t, index=0, power_w=power, energy_j=None if step_j is None else energy,
                           util_pct=util, vram_used_bytes=vram),
                 CpuEnergySample(t=t, energy_j=50.0 * t + (k % 3))])
        answers.append(_answers(tel, t, [a for a in anchors if a <= t]))
    return tel, answers


@settings(max_examples=150, deadline=None)
@given(steps=st.lists(STEP, min_size=2, max_size=120), anchors=st.lists(st.floats(-2.0, 60.0), max_size=4))
def test_a_trace_that_drops_samples_answers_what_the_whole_trace_does(steps, anchors) -> None:
    with pytest.MonkeyPatch.context() as monkeypatch:
        _bound(monkeypatch, 4, 0.0)
        bounded, got = _play(steps, anchors)
        _bound(monkeypatch, NEVER, math.inf)
        whole, want = _play(steps, anchors)
    assert got == want
    assert whole.cpu_measured == bounded.cpu_measured


def test_samples_are_dropped_and_the_kept_ones_stay_bounded(monkeypatch) -> None:
    _bound(monkeypatch, 16, 0.0)
    rng = random.Random(3)
    steps = [(1.0, rng.uniform(100, 300), rng.uniform(100, 300), rng.uniform(0, 100), rng.randrange(1 << 30))
             for _ in range(1500)]
    bounded, got = _play(steps, [0.5, 7.0])
    _bound(monkeypatch, NEVER, math.inf)
    _, want = _play(steps, [0.5, 7.0])
    assert got == want
    trace = bounded._traces[0]
    assert trace.t.start > 1400  # dropped, many times
    for column in (trace.t, trace.power_w, trace.energy_j, trace.vram_used, trace.util_pct):
        assert column.kept <= 2 * 16 and column.capacity <= 1024 + 32  # the first allocation, and the head
    assert bounded._cpu.t.kept <= 2 * 16 and sorted(trace._pins) == [0.5, 3.5, 7.0, 10.0]  # the anchors, not `now`


# -- a Session following a long run with its GPUs, every snapshot field compared ----------

def _events(seed: int = 2) -> list[tuple[float, str | list]]:
    """A nanoGPT run of 1,500 steps at 1 s a step with an eval every 50 (a 5 s pause), a
    400 s stall at step 1,000 with the GPUs busy, then a second run of 150 steps; two GPUs
    sampled every 0.5 s (GPU 0 with the energy counter, reset once; GPU 1 power only, with
    missing readings), the CPU counter every second. (t, line) and (t, samples), in order."""
    rng = random.Random(seed)
    out: list[tuple[float, str | list]] = []
    t = T0
    header = ["Overriding: max_iters = 1500", "Overriding: eval_interval = 50", "Overriding: log_interval = 1",
              "tokens per iteration will be: 8,192"]
    for line in header:
        out.append((t, line))
    busy: list[tuple[float, float]] = []  # when the GPUs compute
    for i in range(1500):
        if i == 1000:
            t += 400.0  # stalled, the GPUs busy
        if i % 50 == 0:
            t += 5.0
            out.append((t, f"step {i}: train loss {3.0:.4f}, val loss {3.1 - i / 1e4:.4f}"))
        t += 1.0
        busy.append((t - 1.0, t))
        out.append((t, f"iter {i}: loss {3.0 - i / 2e3:.4f}, time {1000 + rng.gauss(0, 10):.2f}ms, mfu 30.00%"))
    t += 30.0
    for line in header:
        out.append((t, line))
    for i in range(150):
        t += 1.0
        out.append((t, f"iter {i}: loss {3.0:.4f}, time 1000.00ms, mfu 30.00%"))
    end = t
    counter, s = 5e6, T0 - 30.0
    while s < end + 20.0:
        s += 0.5
        p0, p1 = rng.uniform(250, 350), rng.uniform(150, 250)
        counter = 100.0 if abs(s - (T0 + 750.0)) < 0.25 else counter + p0 * 0.5  # a driver reload
        vram = (70 << 30) if abs(s - (T0 + 12.0)) < 0.25 else (40 << 30) + rng.randrange(1 << 20)
        util = 12.0 if rng.random() < 0.1 else rng.choice([97.0, 99.0])
        out.append((s, [GpuSample(t=s, index=0, name="NVIDIA H100 80GB HBM3", power_w=p0, energy_j=counter,
                                  vram_used_bytes=vram, vram_total_bytes=80 << 30, util_pct=util, temp_c=60.0),
                        GpuSample(t=s, index=1, name="NVIDIA H100 80GB HBM3",
                                  power_w=None if rng.random() < 0.05 else p1, vram_used_bytes=vram // 2,
                                  vram_total_bytes=80 << 30, util_pct=util, temp_c=55.0)]
                    + ([CpuEnergySample(t=s, energy_j=80.0 * (s - T0))] if s % 1.0 == 0 else [])))
    out.sort(key=lambda e: e[0])
    return out


def _follow(events: list, every: int) -> tuple[Session, list[str]]:
    now = [T0]
    session = Session(Options(source="long.log"), clock=lambda: now[0])
    records = []
    for k, (t, what) in enumerate(events):
        now[0] = t
        if isinstance(what, str):
            session.feed(what, t)
        else:
            session.ingest([GpuSampled(what)])
        if k % every == 0:
            records.append(session.snapshot().to_json())
    records.append(session.snapshot(run_index=0).to_json())
    return session, records


def test_a_long_run_with_its_gpus_reports_what_the_whole_trace_gives(monkeypatch) -> None:
    events = _events()
    _bound(monkeypatch, 64, 120.0)
    bounded, records = _follow(events, every=11)
    _bound(monkeypatch, NEVER, math.inf)
    whole, expected = _follow(events, every=11)
    tel = bounded.telemetry
    assert tel is not None and all(tr.t.start > 0.9 * len(tr) for tr in tel._traces.values())  # dropped, often
    assert records == expected
    for run_index in (0, None):
        got, want = bounded.snapshot(run_index=run_index), whole.snapshot(run_index=run_index)
        for name in got.__dataclass_fields__:
            a, b = getattr(got, name), getattr(want, name)
            if isinstance(a, np.ndarray):
                assert np.array_equal(a, b), name
            else:
                assert a == b, name
    # the fields the drop must not change, and that the test's run exercises
    last = bounded.snapshot()
    assert last.energy_j is not None and last.energy_source == "nvml-counter" and last.vram_peak_bytes is not None
    stalled = [r for r in expected if '"status":"stalled"' in r]
    assert stalled and any("GPU is busy" in r for r in stalled)
    for tr in tel._traces.values():
        assert tr.t.kept <= 2 * 2 * 240 and len(tr._pins) <= gputrace.MAX_PINS
