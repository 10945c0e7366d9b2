"""`replay --gpu-log` with a CSV of every GPU of the box: the GPUs idle during the run are
named, with the `--gpus` that counts only the run's; the run's own GPUs alone bring no hint;
`--gpus` the CSV does not hold are named with those it does."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

RUN = Path(__file__).resolve().parent.parent / "sample_logs" / "recorded" / "compiled"
ROOT = RUN.parent.parent.parent


def _box_csv(tmp_path: Path, gpus: int) -> Path:
    """The recorded run's GPU 0 as it was, and `gpus - 1` idle GPUs sampled beside it."""
    header, *rows = (RUN / "gpu.smi.csv").read_text().splitlines()
    out = [header]
    for row in rows:
        cells = row.split(", ")
        out.append(row)
        for index in range(1, gpus):
            out.append(", ".join([cells[0], str(index), cells[2], "61.00 W", "4 MiB", cells[5], "0 %", "30"]))
    path = tmp_path / "box.csv"
    path.write_text("\n".join(out) + "\n")
    return path


def _replay(gpu_log: Path, *extra: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "monitor", "replay", str(RUN / "run.log"), "--times", str(RUN / "run.times"),
                          "--gpu-log", str(gpu_log), "--speed", "0", "--once", "--json", *extra],
                         capture_output=True, text=True, timeout=120, cwd=ROOT, check=True)
    return json.loads(out.stdout)


def test_idle_gpus_of_the_box_are_named_with_the_flag_that_leaves_them_out(tmp_path: Path) -> None:
    record = _replay(_box_csv(tmp_path, 4))
    hints = [w for w in record["warnings"] if "--gpus" in w]
    assert record["gpu_count"] == 4
    assert hints == [("the GPU log holds 4 GPUs and 3 of them were idle during the run: their energy counts too; "
                      "pass --gpus 0 to count only the run's")]
    only = _replay(_box_csv(tmp_path, 4), "--gpus", "0")
    assert only["gpu_count"] == 1 and not any("--gpus" in w for w in only["warnings"])
    assert only["energy_j"] < record["energy_j"]


def test_the_runs_own_gpu_alone_brings_no_hint() -> None:
    record = _replay(RUN / "gpu.smi.csv")
    assert record["gpu_count"] == 1 and not any("--gpus" in w for w in record["warnings"])


def test_gpus_the_gpu_log_does_not_hold_are_named_with_those_it_does(tmp_path: Path) -> None:
    """`--gpus 5` over a log of GPUs 0-2 said `the GPU log has no readable sample`."""
    from monitor.sources.gpulog import CsvSource, open_gpu_log
    from monitor.sources.smicsv import parse_gpu_csv

    box = _box_csv(tmp_path, 3)
    said = "the GPU log has no sample of GPU 5,7 (--gpus); it holds GPU 0,1,2"
    assert open_gpu_log(str(box), gpus=(5, 7)).status == said
    with box.open(newline="") as f:
        assert CsvSource(parse_gpu_csv(f)[0], gpus=(5, 7)).status == said
    assert open_gpu_log(str(box), gpus=(1,)).status is None
    assert (open_gpu_log(str(RUN / "run.log"), gpus=(0,)).status or "").startswith(
        "the GPU log has no readable sample: it is read as nvidia-smi --query-gpu=timestamp,index,… --format=csv")
    record = _replay(box, "--gpus", "5,7")
    assert record["gpu_count"] is None and record["energy_j"] is None


def test_a_csv_no_nvidia_smi_writes_says_what_is_read(tmp_path) -> None:
    """A header of a million columns (a row past smicsv.MAX_ROW_CHARS) or a 10 MB header: no
    sample, and the reason says what a GPU log must be, bounded in time and memory."""
    from monitor.sources.gpulog import open_gpu_log

    wide = tmp_path / "wide.csv"
    columns = ["timestamp", "index", "name", "power.draw [W]"] + [f"x{i}" for i in range(1_000_000)]
    wide.write_text(", ".join(columns) + "\n2026/11/24 04:18:23.000, 0, H100, 100 W" + ", 1" * 1_000_000 + "\n")
    tall = tmp_path / "tall.csv"
    tall.write_text("timestamp, index, name, power.draw [W], " + "a" * 10_000_000 + "\n2026/11/24 04:18:23.000, 0, H100, 100 W, 5\n")
    for path in (wide, tall):
        status = open_gpu_log(str(path)).status or ""
        assert status.startswith("the GPU log has no readable sample: it is read as nvidia-smi") and "16 KiB" in status
