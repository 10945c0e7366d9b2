"""Two charts side by side keep their axis labels apart: a chart with a right axis (the loss chart
with nanochat's val bpb) ends in a blank column, so its `3` and the step chart's `800` beside it
do not read as 3800."""

from __future__ import annotations

import numpy as np

from monitor.tui.widgets import braille


def _figure(right: bool) -> braille.Figure:
    x = braille.Axis(0, 10, (0.0, 10.0), ("0", "10"))
    y = braille.Axis(0, 10, (0.0, 5.0, 10.0), ("0", "5", "10"))
    y_right = braille.Axis(1, 3, (1.0, 2.0, 3.0), ("1", "2", "3")) if right else None
    layer = braille.Layer(np.arange(11.0), np.arange(11.0), "green")
    return braille.Figure((("loss", None),), x, y, y_right, (layer,))


def test_a_right_axis_ends_in_a_blank_column() -> None:
    rows = braille.plain_text(braille.draw(_figure(right=True), 30, 10)).splitlines()
    labelled = [row for row in rows if "├" in row]
    assert labelled and all(len(row) == 30 and row.endswith(" ") and row[-2].isdigit() for row in labelled)
    beside = [a + b for a, b in zip(rows, braille.plain_text(braille.draw(_figure(right=False), 30, 10)).splitlines())]
    assert any("├3 10┤" in row for row in beside) and not any("├310┤" in row for row in beside)


def test_a_chart_without_a_right_axis_keeps_its_width_for_the_plot() -> None:
    rows = braille.plain_text(braille.draw(_figure(right=False), 30, 10)).splitlines()
    assert rows[1].endswith("┐") and len(rows[1]) == 30
