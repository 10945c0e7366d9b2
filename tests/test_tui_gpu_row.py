"""A GPU's row names what each number is and fits 80 columns, the power limit included."""

from __future__ import annotations

from monitor.core.snapshot import GpuRow
from monitor.tui.widgets.panels import gpu_line


def test_a_gpu_row_labels_its_numbers_and_fits_80_columns() -> None:
    row = GpuRow(index=7, name="NVIDIA H100 80GB HBM3", vram_used_bytes=int(78.3 * 2**30),
                 vram_total_bytes=int(79.6 * 2**30), vram_peak_bytes=int(79.1 * 2**30), power_w=699.6,
                 power_limit_w=700.0, util_pct=100.0, temp_c=83.0)
    text = gpu_line(row).plain
    assert text == "7 H100 80GB HBM3 █████▉ 78.3/79.6 GiB peak 79.1 · 700/700 W · 100% util · 83°C"
    assert len(text) <= 78  # the GPUs pane at 80x24 (a cell of padding each side)
