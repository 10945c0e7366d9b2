"""Another process on the run's GPU, as the estimator takes it: a known change of speed at the
moment the process comes or goes (Telemetry.contention -> estimate -> Tracker -> Stream)."""

from __future__ import annotations

import pytest

from benchmarks.eta_contention import run_pids
from monitor.core.speed import FORCED_MIN_SAMPLES, Stream
from monitor.core.telemetry import CONTENTION_KEEP, GpuChoice, GpuSample, Telemetry
from tests.test_speed import T0, est, lines_of, noisy, session


def _stream(times: list[float], force_at: int | None = None) -> Stream:
    s = Stream()
    for i, x in enumerate(times, start=1):
        if i == force_at:
            s.force_change()
        s.add(x, 1.0, i)
    return s


def test_a_forced_change_starts_a_regime_at_the_next_sample() -> None:
    # 20% slower from step 101: under the CUSUM's 25%, so it waits for evidence; told, it does not
    times = [0.02] * 100 + [0.024] * 5
    told = _stream(times, force_at=101).speed(105, 1000)
    blind = _stream(times).speed(105, 1000)
    assert told is not None and blind is not None
    assert told.change_iter == 101 and told.level_s == pytest.approx(0.024) and told.samples == 5
    assert blind.change_iter is None


def test_a_forced_change_right_after_a_detected_one_is_the_same_change() -> None:
    # the CUSUM saw a 2.4x speed-up; NVML says the competitor left a line later: no second regime
    times = [0.048] * 100 + [0.02] * (FORCED_MIN_SAMPLES + 2)
    seen = _stream(times).speed(len(times), 1000)
    told = _stream(times, force_at=100 + FORCED_MIN_SAMPLES).speed(len(times), 1000)  # 7 samples after it
    assert seen is not None and told is not None and seen.change_iter is not None
    assert told.change_iter == seen.change_iter and told.regime_share == 1.0


def test_the_speed_after_the_last_other_process_left_is_followed_in_full() -> None:
    # 200 steps free, 200 beside a competitor (1.3x), then it leaves: back to a speed the run had
    times = [0.02] * 200 + [0.026] * 200 + [0.02] * 20

    def share(freed: bool) -> float:
        s = Stream()
        for i, x in enumerate(times, start=1):
            if i in (201, 401):
                s.force_change(freed=freed and i == 401)
            s.add(x, 1.0, i)
        sp = s.speed(len(times), 2000)
        assert sp is not None and sp.change_iter == 401
        return sp.regime_share

    assert share(freed=True) == 1.0  # the run's own speed: it lasts
    assert share(freed=False) < 0.1  # one competitor of two left: the rest may too, or not


def _slowed(at: int, factor: float, upto: int) -> list[tuple[float, str]]:
    base = noisy(0.02, rel=0.01)
    return lines_of(lambda i: base(i) * (factor if i > at else 1.0), upto, max_iters=5000)


def test_the_estimate_takes_a_process_arriving_on_the_gpu_as_a_change_at_once() -> None:
    lines = _slowed(300, 1.2, 305)
    arrived = next(t for t, line in lines if line.startswith("iter 300:"))
    s = session(lines)
    run = s.state.current
    from monitor.core.estimate import estimate
    from monitor.core.plan import make_plan

    told = estimate(run, make_plan(run, s.format, None), run.last_t, contention=[(arrived, 1)])
    assert told.speed_change_iter == 301 and told.step_time_s == pytest.approx(0.024, rel=0.03)
    assert est(session(lines)).speed_change_iter is None  # from the steps alone: not yet


def test_telemetry_keeps_each_change_of_other_processes_on_the_runs_gpus() -> None:
    tel = Telemetry()
    tel.add([GpuChoice((0, 1), "process")])
    samples = [(0, 0), (1, 0), (0, 1), (1, 0), (1, 2), (0, 0), (1, 0), (2, 5)]  # GPU 2 is not the run's
    tel.add([GpuSample(t=T0 + k, index=i, other_processes=n) for k, (i, n) in enumerate(samples)])
    assert tel.contention == [(T0 + 2, 1), (T0 + 4, 2), (T0 + 6, 0)]
    tel.add([GpuSample(t=T0 + 10 + k, index=0, other_processes=k % 2) for k in range(3 * CONTENTION_KEEP)])
    assert len(tel.contention) == CONTENTION_KEEP and tel.contention[-1][0] == T0 + 10 + 3 * CONTENTION_KEEP - 1
    unknown = Telemetry()
    unknown.add([GpuSample(t=T0, index=0, power_w=100.0)])
    assert unknown.contention == []


def test_a_recorded_runs_processes_leave_out_a_wrapper_that_starts_the_competitor() -> None:
    meta = {"processes": [
        {"pid": 10, "ppid": 1, "cmd": "bash -c 'python3 gpu_burst.py & python3 train.py'"},
        {"pid": 11, "ppid": 10, "cmd": "python3 gpu_burst.py"},
        {"pid": 12, "ppid": 10, "cmd": "python3 -u train.py config/c.py"},
        {"pid": 13, "ppid": 12, "cmd": "compile_worker"},
        {"pid": 14, "ppid": 11, "cmd": "python3 gpu_burst.py --worker"},
    ]}
    assert run_pids(meta) == {12, 13}


def test_a_subshell_that_became_another_training_job_is_not_the_runs() -> None:
    # `bash -c '(wait for the run; exec python3 train.py ...) & python3 train.py ...'`: the
    # subshell's command line was taken before its exec; on the GPU it is the other user's job
    meta = {"processes": [
        {"pid": 20, "ppid": 1, "cmd": "bash -c L=run.log; ( until grep -q 'iter 0' $L; do sleep 0.2; done; "
                                      "exec python3 train.py other.py ) & python3 -u train.py config/c.py"},
        {"pid": 21, "ppid": 20, "cmd": "bash -c L=run.log; ( until grep -q 'iter 0' $L; do sleep 0.2; done; "
                                      "exec python3 train.py other.py ) & python3 -u train.py config/c.py"},
        {"pid": 22, "ppid": 20, "cmd": "python3 -u train.py config/c.py"},
        {"pid": 23, "ppid": 22, "cmd": "compile_worker"},
        {"pid": 24, "ppid": 21, "cmd": "compile_worker"},
    ]}
    assert run_pids(meta) == {22, 23}


def test_a_second_training_job_the_recording_declares_is_not_the_runs() -> None:
    # a subshell waits for the run's 25% line, then starts another train.py: its command line is
    # the run's own script, so only meta.json's `competing_job` tells the two apart
    other = "python3 -u train.py config/c.py --max_iters=800 --out_dir=/tmp/other"
    meta = {"child_pid": 40, "competing_job": {"command": other}, "processes": [
        {"pid": 40, "ppid": 1, "cmd": f"bash -c ( waitline run.log; {other} ) & python3 -u train.py config/c.py"},
        {"pid": 41, "ppid": 40, "cmd": f"bash -c ( waitline run.log; {other} ) & python3 -u train.py config/c.py"},
        {"pid": 42, "ppid": 40, "cmd": "python3 -u train.py config/c.py"},
        {"pid": 43, "ppid": 42, "cmd": "compile_worker"},
        {"pid": 44, "ppid": 41, "cmd": other},
        {"pid": 45, "ppid": 44, "cmd": "compile_worker"},
    ]}
    assert run_pids(meta) == {40, 42, 43}


def test_a_wrapper_that_execs_the_resumed_run_is_the_runs() -> None:
    # `bash -c 'python3 train.py ...; python3 train.py --init_from=resume'`: bash execs its last
    # command, so the resumed run is on the GPU under the shell's PID and command line; the
    # recorder started that process (child_pid) and reads its stdout: it writes the log
    meta = {"child_pid": 30, "processes": [
        {"pid": 30, "ppid": 1, "cmd": "bash -c python3 -u train.py c.py; python3 -u train.py c.py --init_from=resume"},
        {"pid": 31, "ppid": 30, "cmd": "python3 -u train.py c.py"},
        {"pid": 32, "ppid": 31, "cmd": "compile_worker"},
        {"pid": 33, "ppid": 30, "cmd": "compile_worker"},
    ]}
    assert run_pids(meta) == {30, 31, 32}
    # a wrapper that starts the competing job too: the competitor, its child, stays another's
    meta = {"child_pid": 10, "processes": [
        {"pid": 10, "ppid": 1, "cmd": "bash -c 'python3 gpu_burst.py & python3 train.py; wait'"},
        {"pid": 11, "ppid": 10, "cmd": "python3 gpu_burst.py"},
        {"pid": 12, "ppid": 10, "cmd": "python3 -u train.py config/c.py"},
    ]}
    assert run_pids(meta) == {10, 12}


def test_a_recorded_trace_gives_a_sample_at_each_change_on_the_runs_gpus(tmp_path) -> None:
    import json

    from benchmarks.eta_contention import contention_readings

    (tmp_path / "meta.json").write_text(json.dumps({"processes": [
        {"pid": 5, "ppid": 1, "cmd": "python3 train.py"}, {"pid": 6, "ppid": 5, "cmd": "compile_worker"}]}))
    rows = ["t,index,name,pids", "10.0,0,H200,", "10.0,1,H200,9", "10.2,0,H200,5", "10.2,1,H200,9",
            "10.4,0,H200,5;6;7", "10.4,1,H200,", "10.6,0,H200,5;7", "10.8,0,H200,5"]
    (tmp_path / "gpu.nvml.csv").write_text("\n".join(rows) + "\n")
    readings = contention_readings(tmp_path)
    assert readings[0] == (10.0, GpuChoice((0,), "process"))  # GPU 1 never holds the run's processes
    assert [(t, r.other_processes) for t, r in readings[1:] if isinstance(r, GpuSample)] == [
        (10.0, 0), (10.4, 1), (10.8, 0)]
    (tmp_path / "gpu.nvml.csv").write_text("t,index,name\n10.0,0,H200\n")
    assert contention_readings(tmp_path) == []  # an older trace without the process lists


def test_while_other_processes_share_the_gpu_the_band_is_the_one_calibrated_for_that() -> None:
    from monitor.core.band import Bands, Calibration
    from monitor.core.estimate import estimate
    from monitor.core.plan import make_plan

    narrow = Calibration(low=(-0.01,) * 9, high=(0.01,) * 9, runs=10)
    wide = Calibration(low=(-0.5,) * 9, high=(0.8,) * 9, runs=5)
    s = session(lines_of(noisy(0.02, rel=0.01), 1000, max_iters=5000))
    run = s.state.current
    plan = make_plan(run, s.format, None)

    def width(contention: list[tuple[float, int]]) -> float:
        e = estimate(run, plan, run.last_t, calibration=Bands(alone=narrow, shared=wide), contention=contention)
        assert e.low is not None and e.high is not None
        return e.high - e.low

    alone, shared, left = width([]), width([(T0 + 1, 2)]), width([(T0 + 1, 2), (T0 + 2, 0)])
    assert shared > 10 * alone
    assert left == pytest.approx(alone)  # the others have gone: the run's own table again
