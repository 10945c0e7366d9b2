"""A live run's --gpu-log grows beside it (`nvidia-smi --query-gpu=… --format=csv -l 1 > gpu.csv`):
its rows are read as they are written (they were read up to the end the file had at start,
then the GPU panel froze), a row written in part once it ends, a CSV started again from its
header; a replay still reads the file as it is, its last row even without a newline."""

from __future__ import annotations

from pathlib import Path

from monitor.sources.gpulog import CsvFileSource

HEADER = "timestamp, index, name, power.draw [W], memory.used [MiB], memory.total [MiB]\n"


def row(second: int, power_w: int) -> str:
    return f"2026/11/24 04:18:{second:02d}.069, 0, NVIDIA H100 80GB HBM3, {power_w}.00 W, 480 MiB, 81559 MiB\n"


def powers(source: CsvFileSource) -> list[float | None]:
    return [s.power_w for s in source.poll(float("inf"))]


def test_a_growing_gpu_log_is_read_as_it_grows(tmp_path: Path) -> None:
    csv = tmp_path / "gpu.csv"
    csv.write_text(HEADER + row(1, 100) + row(2, 110))
    source = CsvFileSource(str(csv), follow=True)
    assert powers(source) == [100, 110]
    assert powers(source) == []
    with open(csv, "a") as f:
        f.write(row(3, 120) + row(4, 130)[:30])  # the last row written in part
    assert powers(source) == [120]
    with open(csv, "a") as f:
        f.write(row(4, 130)[30:] + row(5, 140))
    assert powers(source) == [130, 140]
    csv.write_text(HEADER + row(6, 150))  # nvidia-smi started again, `>`: a shorter file
    assert powers(source) == [150]
    assert source.status is None


def test_a_gpu_log_not_written_yet_waits_for_its_rows(tmp_path: Path) -> None:
    csv = tmp_path / "gpu.csv"
    csv.write_text("")
    source = CsvFileSource(str(csv), follow=True)
    assert source.status is None and powers(source) == []
    csv.write_text(HEADER + row(1, 100))
    assert powers(source) == [100]


def test_a_utf16_gpu_log_is_followed_across_its_reads(tmp_path: Path) -> None:
    csv = tmp_path / "gpu.csv"
    data = ("\ufeff" + HEADER + row(1, 100) + row(2, 110)).replace("\n", "\r\n").encode("utf-16-le")
    csv.write_bytes(data[:-7])  # the mark, and the last row cut mid-character
    source = CsvFileSource(str(csv), follow=True)
    assert powers(source) == [100]
    with open(csv, "ab") as f:
        f.write(data[-7:])
    assert powers(source) == [110]


def test_a_replay_reads_the_last_row_without_its_newline(tmp_path: Path) -> None:
    csv = tmp_path / "gpu.csv"
    csv.write_text(HEADER + row(1, 100) + row(2, 110).rstrip("\n"))
    assert powers(CsvFileSource(str(csv))) == [100, 110]
