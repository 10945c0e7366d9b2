"""The command line: --once summaries, the JSON record contract, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import SAMPLES

from monitor.cli import main
from monitor.core.snapshot import RECORD_KEYS

COMPILED = str(SAMPLES / "recorded/compiled/run.log")


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "monitor", *args], capture_output=True, text=True, check=False)


def test_once_json_has_every_key(capsys) -> None:
    assert main([COMPILED, "--once", "--json", "--no-gpu"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert list(record) == list(RECORD_KEYS)
    assert record["status"] == "finished"
    assert record["format"] == "nanogpt"
    assert (record["iter"], record["max_iters"], record["max_iters_source"]) == (5000, 5000, "log")
    assert record["tokens_total"] == 5001 * 16384
    assert isinstance(record["warnings"], list)


def test_once_summary_is_human_text(capsys) -> None:
    assert main([COMPILED, "--once", "--no-gpu"]) == 0
    out = capsys.readouterr().out
    assert "10.65 M parameters" in out
    assert "iter 5,000 / 5,000" in out
    assert "finished" in out


@pytest.mark.parametrize(
    "args, reason",
    [
        (["/nonexistent/run.log", "--once"], "no such file"),
        ([str(SAMPLES), "--once"], "is a directory"),
        ([COMPILED, "--once", "--price", "-1"], "--price"),
        ([COMPILED, "--json"], "--json goes with --once"),
        ([COMPILED, "--once", "--format", "bogus"], "--format"),
    ],
)
def test_bad_usage_exits_2_with_one_line(args: list[str], reason: str) -> None:
    proc = run_cli(*args)
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and reason in lines[0]


def test_replay_virtual_clock_jsonl_uses_recorded_times() -> None:
    run = SAMPLES / "recorded/interrupted"
    proc = run_cli("replay", str(run / "run.log"), "--times", str(run / "run.times"), "--speed", "0", "--jsonl",
                   "--no-gpu")
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    times = [float(x) for x in (run / "run.times").read_text().split()]
    assert records[-1]["status"] == "interrupted"
    assert records[-1]["t"] == times[-1]
    assert all(set(r) == set(RECORD_KEYS) for r in records)
    assert [r["t"] for r in records] == sorted(r["t"] for r in records)


def test_data_epochs_from_the_train_bin_beside_the_log(tmp_path, capsys) -> None:
    log = tmp_path / "run.log"
    log.write_text((SAMPLES / "recorded/compiled/run.log").read_text())
    (tmp_path / "data/shakespeare_char").mkdir(parents=True)
    (tmp_path / "data/shakespeare_char/train.bin").write_bytes(b"\0\0" * 1_003_854)
    assert main([str(log), "--once", "--no-gpu"]) == 0
    out = capsys.readouterr().out
    # 5001 iterations x 16,384 tokens over a 1,003,854-token training set
    assert f"{5001 * 16384 / 1_003_854:.2f} epochs" in out


def test_once_says_when_the_log_has_no_timing(tmp_path, capsys) -> None:
    log = tmp_path / "main.log"
    log.write_text("".join(f"s:{i} trl:{10 - i * 0.01:.4f} lr:0.000600 norm:1.00\n" for i in range(50)))
    assert main([str(log), "--once", "--no-gpu"]) == 0
    out = capsys.readouterr().out
    assert "llmc" in out and "step time unknown" in out and "? ms" not in out


def test_once_says_how_long_an_ended_run_took_and_a_stalled_runs_finish_is_if_it_goes_on() -> None:
    """`--once` said `35 s so far · finish unknown` for an interrupted run (it will not finish) and
    gave a stalled run's finish as a plain promise; the TUI says `if it goes on now`."""
    from monitor.core.snapshot import Snapshot
    from monitor.core.summary import summary

    def time_row(**fields: object) -> str:
        base = {"t": 1_800_000_000.0, "source": "run.log", "format": "nanogpt", "run_index": 0,
                "elapsed_s": 35.0, "elapsed_measured": False}
        row = next(line for line in summary(Snapshot(**{**base, **fields})).splitlines() if line.startswith("  time"))
        return row.split(None, 1)[1]

    assert time_row(status="interrupted") == "took ≈ 35 s (printed step times) · interrupted"
    assert time_row(status="crashed", elapsed_measured=True) == "took 35 s · crashed"
    assert time_row(status="finished", elapsed_s=None) == "start time unknown · finished"
    stalled = time_row(status="stalled", eta_finish=1_800_000_100.0, eta_remaining_s=100.0)
    assert stalled.startswith("≈ 35 s so far (printed step times) · finishes ") and stalled.endswith("if it goes on now")
    assert time_row(status="training", eta_finish=1_800_000_100.0, eta_remaining_s=100.0).endswith(", in 1 m 40 s")
