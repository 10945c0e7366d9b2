"""Bad values and a hostile environment: impossible flag values, impossible GPU readings, a
huge CSV field, stdout on a full disk or closed, stdin closed, too little memory or too few
file descriptors. Each is one line on stderr and exit 2 (or the sample dropped, the rest kept),
never a traceback."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

from monitor.cli import main
from monitor.core.telemetry import POWER_LAG_S, Telemetry
from monitor.sources.smicsv import parse_gpu_csv

LINE = "iter 0: loss 4.0000, time 100.00ms, mfu 10.00%\n"


@pytest.fixture
def log(tmp_path: Path) -> Path:
    path = tmp_path / "run.log"
    path.write_text(LINE + "iter 10: loss 3.9000, time 100.00ms, mfu 10.00%\n")
    return path


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        (["--max-iters", "-5"], "argument --max-iters: must be above 0: -5"),
        (["--max-iters", "0"], "argument --max-iters: must be above 0: 0"),
        (["--max-iters", "ten"], "argument --max-iters: expected a whole number: 'ten'"),
        (["--dataset-tokens", "-1"], "argument --dataset-tokens: must be above 0: -1"),
        (["--pue", "0"], "argument --pue: a PUE is from 1 to 10"),
        (["--pue", "nan"], "argument --pue: a PUE is from 1 to 10"),
        (["--currency", ""], "argument --currency: expected a currency like USD"),
        (["--currency", "\x1b]52;c;eA==\x07"], "argument --currency: expected a currency like USD"),
        (["--interval", "0"], "argument --interval: must be at least 0.01 seconds: 0"),
        (["--gpu-interval", "-1"], "argument --gpu-interval: must be at least 0.01 seconds: -1"),
        (["--interval", "1e-9"], "argument --interval: must be at least 0.01 seconds: 1e-9"),
        (["--gpu-interval", "inf"], "argument --gpu-interval: expected a number of seconds from 0.01 to 86400: inf"),
        (["--interval", "nan"], "argument --interval: expected a number of seconds from 0.01 to 86400: nan"),
        (["--gpu-log", "/nonexistent/gpu.csv"], "argument --gpu-log: /nonexistent/gpu.csv: no such file"),
        (["--gpu-log", "/"], "argument --gpu-log: /: is a directory"),
    ],
)
def test_impossible_flags_are_one_line_and_exit_2(log: Path, capsys, flags: list[str], said: str) -> None:
    assert main([str(log), "--once", *flags]) == 2
    err = capsys.readouterr().err
    assert said in err and err.count("\n") == 1 and "\x1b" not in err


def test_unreadable_gpu_log_is_exit_2(log: Path, tmp_path: Path, capsys) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads every file")
    csv = tmp_path / "gpu.csv"
    csv.write_text("timestamp, index\n")
    csv.chmod(0)
    assert main([str(log), "--once", "--gpu-log", str(csv)]) == 2
    assert "permission denied" in capsys.readouterr().err


HEADER = "timestamp, index, name, power.draw [W], memory.used [MiB], memory.total [MiB]\n"


def _row(t: int, index: str, power: str, used: str = "1000 MiB") -> str:
    return f"2025/01/01 10:00:{t:02d}.000, {index}, NVIDIA H100, {power}, {used}, 81559 MiB\n"


def test_impossible_readings_are_dropped_per_sample() -> None:
    text = HEADER + _row(0, "0", "300 W") + _row(1, "0", "-250 W") + _row(2, "-1", "300 W") \
        + _row(3, "100000000000000000000", "300 W") + _row(4, "0", "300 W", "-5 MiB") + _row(5, "0", "300 W")
    samples, bad = parse_gpu_csv(text.splitlines())
    assert bad == 2  # the two rows of impossible GPU indices: no extra GPUs
    assert [s.index for s in samples] == [0, 0, 0, 0]
    assert [s.power_w for s in samples] == [300.0, None, 300.0, 300.0]  # the negative one only
    assert [s.vram_used_bytes for s in samples] == [1000 * 2**20, 1000 * 2**20, None, 1000 * 2**20]


def test_an_impossible_memory_reading_is_unknown() -> None:
    # 10^26 MiB used was shown as `VRAM 97656250000000004653056.0 GiB`
    text = HEADER + _row(0, "0", "300 W", "99999999999999999999999999 MiB") + _row(1, "0", "300 W", "1000 MiB")
    samples, bad = parse_gpu_csv(text.splitlines())
    assert bad == 0 and [s.vram_used_bytes for s in samples] == [None, 1000 * 2**20]
    assert [s.power_w for s in samples] == [300.0, 300.0]


def test_intermittent_na_power_keeps_the_trace() -> None:
    rows = [_row(t, "0", "300 W" if t % 2 == 0 else "[N/A]") for t in range(21)]
    samples, _ = parse_gpu_csv((HEADER + "".join(rows)).splitlines())
    telemetry = Telemetry("gpu-log")
    telemetry.add(samples)
    reading = telemetry.energy(samples[0].t, samples[-1].t)
    # the whole trace at 300 W, counted up to the newest reading (which describes the half
    # second before it: POWER_LAG_S)
    assert reading is not None and reading.end_t == samples[-1].t - POWER_LAG_S
    assert reading.energy_j == pytest.approx(300.0 * (reading.end_t - reading.start_t), rel=0.01)


def test_a_csv_without_units_is_read_in_nvidia_smi_units() -> None:
    text = "timestamp, index, power.draw, memory.used, memory.total\n2025/01/01 10:00:00.000, 0, 300.5, 1024, 81559\n"
    (sample,), bad = parse_gpu_csv(text.splitlines())
    assert bad == 0 and sample.power_w == 300.5
    assert sample.vram_used_bytes == 1024 * 2**20 and sample.vram_total_bytes == 81559 * 2**20


def test_a_csv_field_over_128_kb_is_one_bad_row(log: Path, tmp_path: Path, capsys) -> None:
    csv = tmp_path / "gpu.csv"
    csv.write_text(HEADER + _row(0, "0", "300 W").replace("NVIDIA H100", "A" * 200_000) + _row(1, "0", "300 W"))
    assert main([str(log), "--once", "--json", "--gpu-log", str(csv)]) == 0
    assert json.loads(capsys.readouterr().out)["gpu_names"] == ["NVIDIA H100"]


def _run(args: list[str], limits: dict[int, int] | None = None, **kw) -> subprocess.CompletedProcess:
    def limit() -> None:
        for which, value in (limits or {}).items():
            resource.setrlimit(which, (value, value))

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "monitor", *args], cwd=ROOT, env=env, preexec_fn=limit,
                          capture_output=True, text=True, timeout=60, check=False, **kw)


def _one_line(proc: subprocess.CompletedProcess, said: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1 and said in proc.stderr


def test_stdout_on_a_full_disk(log: Path) -> None:
    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-m", "monitor", str(log), "--once"], cwd=ROOT, stdout=full,
                              stderr=subprocess.PIPE, text=True, timeout=60, check=False,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    _one_line(proc, "No space left on device")


def test_stdout_or_stdin_closed(log: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    closed_out = subprocess.run(f"{sys.executable} -m monitor {log} --once >&-", shell=True, cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=60, check=False)
    assert closed_out.returncode == 2 and "stdout is closed" in closed_out.stderr
    closed_in = subprocess.run(f"{sys.executable} -m monitor - --once <&-", shell=True, cwd=ROOT, env=env,
                               capture_output=True, text=True, timeout=60, check=False)
    _one_line(closed_in, "stdin is closed")


def test_memory_limit_too_low_to_load_or_start_a_thread(log: Path) -> None:
    for limit_kib in (60_000, 120_000):  # numpy's libraries cannot map; a thread's stack cannot
        proc = _run([str(log), "--jsonl"], {resource.RLIMIT_AS: limit_kib * 1024})
        _one_line(proc, "ulimit -v")


@pytest.mark.parametrize("n", [5, 6, 8])
def test_few_file_descriptors(log: Path, n: int) -> None:
    proc = _run([str(log), "--once"], {resource.RLIMIT_NOFILE: n})
    assert "Traceback" not in proc.stderr
    assert proc.returncode == 0 or (proc.returncode == 2 and proc.stderr.count("\n") == 1)


def test_dcgm_negative_power_and_energy_are_unknown_not_negative() -> None:
    from monitor.sources.dcgm import ENERGY, POWER, DcgmSource, Endpoint, Reading

    source = DcgmSource([Endpoint("http://x/metrics", False)])
    labels = {"gpu": "0", "UUID": "GPU-1", "modelName": "NVIDIA H100"}
    (sample,) = source._samples(0.0, [(0, Reading(POWER, labels, -120.0)), (0, Reading(ENERGY, labels, -5.0))])
    assert sample.power_w is None and sample.energy_j is None
