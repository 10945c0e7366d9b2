"""A runaway line (megabytes without a newline) in a replayed log, its --times file or a
--gpu-log CSV is read past in bounded pieces, never held whole, and the lines after it count."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.core.lines import MAX_LINE_BYTES
from monitor.sources.gpulog import CsvFileSource
from monitor.sources.logfile import LogError, read_lines
from monitor.sources.replay import read_times
from monitor.sources.smicsv import MAX_ROW_CHARS

RUNAWAY = 5 * MAX_LINE_BYTES
HEADER = "timestamp, index, name, power.draw [W], memory.used [MiB], memory.total [MiB], utilization.gpu [%]\n"
ROW = "2026/11/24 04:18:{:02d}.069, 0, NVIDIA H100 80GB HBM3, 72.01 W, 480 MiB, 81559 MiB, 0 %\n"


@pytest.mark.parametrize("runaway", ["x", ", "], ids=["text", "cells"])
def test_a_gpu_log_with_a_runaway_text_line_keeps_the_rows_after_it(tmp_path: Path, runaway: str) -> None:
    csv = tmp_path / "gpu.csv"
    csv.write_text(HEADER + ROW.format(1) + runaway * (3 * MAX_ROW_CHARS) + "\n" + ROW.format(2) + ROW.format(3))
    assert [round(s.t % 60) for s in CsvFileSource(str(csv)).poll(float("inf"))] == [1, 2, 3]


def test_a_gpu_log_with_a_runaway_line_keeps_the_rows_after_it(tmp_path: Path) -> None:
    csv = tmp_path / "gpu.csv"
    csv.write_text(HEADER + ROW.format(1) + "\x00" * RUNAWAY + "\n" + ROW.format(2) + ROW.format(3))
    source = CsvFileSource(str(csv))
    samples = source.poll(float("inf"))
    assert [round(s.t % 60) for s in samples] == [1, 2, 3]


def test_a_replayed_log_with_a_runaway_line_holds_it_bounded(tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    log.write_bytes(b"iter 0: loss 1.0, time 1.00ms\n" + b"a" * RUNAWAY + b"\niter 1: loss 1.0, time 1.00ms\n")
    lines, tail, _ = read_lines(str(log))
    assert tail == b"" and len(lines) == 3
    assert len(lines[1]) < 2 * MAX_LINE_BYTES // 10 and lines[2] == b"iter 1: loss 1.0, time 1.00ms"


def test_a_times_file_of_one_runaway_line_is_refused_in_one_line(tmp_path: Path) -> None:
    times = tmp_path / "run.times"
    times.write_bytes(b"1" * RUNAWAY)
    with pytest.raises(LogError) as e:
        read_times(str(times), 1)
    assert len(str(e.value)) < 200 and "\n" not in str(e.value)
