"""A chart drawn from numpy arrays straight into terminal cells: lines in braille dots (2 x 4
a cell), lines in quadrant blocks (2 x 2 a cell) and marks, inside a framed pair of axes with
tick labels, the look plotext gives. The work is whole-array numpy, so a build costs about
a millisecond for the few hundred points a min/max envelope holds.

UI ring: numpy, rich segments and Textual strips; no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise
from typing import Literal

import numpy as np
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

#: Dots of a cell, per marker: (columns, rows).
DOTS = {"braille": (2, 4), "quad": (2, 2), "mark": (1, 1)}
#: The bit of each braille dot, [row from the top][column] (Unicode's braille patterns, U+2800).
BRAILLE_BITS = np.array([[0x01, 0x08], [0x02, 0x10], [0x04, 0x20], [0x40, 0x80]], dtype=np.int64)
BRAILLE = np.array([chr(0x2800 + code) for code in range(256)])
#: The bit of each quadrant, [row from the top][column], and the block of each set of bits.
QUAD_BITS = np.array([[1, 2], [4, 8]], dtype=np.int64)
QUAD = np.array(list(" ▘▝▀▖▌▞▛▗▚▐▜▄▙▟█"))
#: The frame: corners, edges, and the tick marks on them.
TOP_LEFT, TOP_RIGHT, BOTTOM_LEFT, BOTTOM_RIGHT = "┌", "┐", "└", "┘"
ACROSS, DOWN, LEFT_TICK, RIGHT_TICK, BOTTOM_TICK = "─", "│", "┤", "├", "┬"
#: The title row, the frame's two rows and the x labels: rows a chart needs besides its plot.
FRAME_ROWS = 4

Marker = Literal["braille", "quad", "mark"]


@dataclass(frozen=True, slots=True)
class Axis:
    """An axis from `lo` to `hi` (data units; hi > lo) with labelled ticks inside that range."""

    lo: float
    hi: float
    ticks: tuple[float, ...] = ()
    labels: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Layer:
    """Points drawn in one colour: joined by straight lines ("braille", "quad"), or each a
    `char` in its cell ("mark"). NaN breaks a line; what lies outside the axes is cut."""

    x: np.ndarray
    y: np.ndarray
    color: str
    marker: Marker = "braille"
    char: str = "●"
    right: bool = False  # on the right axis


@dataclass(frozen=True, slots=True)
class Figure:
    """What a chart shows: its title (pieces of text, each with a colour or None), its axes
    and its layers, drawn in order (a later layer's cell replaces an earlier one's)."""

    title: tuple[tuple[str, str | None], ...]
    x: Axis | None = None
    y: Axis | None = None
    y_right: Axis | None = None
    layers: tuple[Layer, ...] = field(default=())


#: A row of a drawn chart: runs of text, each with its colour (None: the widget's own).
Row = tuple[tuple[str, str | None], ...]


def draw(figure: Figure, width: int, height: int) -> tuple[Row, ...]:
    """The chart in `height` rows of `width` cells (fewer when there is no room for a plot:
    just the title)."""
    title = _title_row(figure.title, width)
    left = _labels(figure.y)
    right = _labels(figure.y_right)
    label_w = max((len(s) for s in left), default=0)
    # a blank after the right axis' labels: a chart beside this one starts with its own labels,
    # and `3` then `800` would read as 3800
    right_w = max((len(s) + 1 for s in right), default=0)
    cols, rows = width - label_w - 2 - right_w, height - FRAME_ROWS
    if cols < 2 or rows < 1:
        return (title,)
    chars = np.full((rows, cols), " ", dtype="<U1")
    colors = np.zeros((rows, cols), dtype=np.int64)
    palette: list[str | None] = [None]
    for layer in figure.layers:
        axis = figure.y_right if layer.right else figure.y
        if figure.x is None or axis is None:
            continue
        mask, glyphs = _cells(layer, figure.x, axis, cols, rows)
        if layer.color not in palette:
            palette.append(layer.color)
        chars[mask] = glyphs
        colors[mask] = palette.index(layer.color)
    left_rows = _tick_rows(figure.y, rows)
    right_rows = _tick_rows(figure.y_right, rows)
    out: list[Row] = [title, _plain(" " * label_w + TOP_LEFT + ACROSS * cols + TOP_RIGHT)]
    texts = ["".join(row) for row in chars.tolist()]
    # Where the colour changes, row by row: the plot rows as runs of one colour.
    row_of, col_of = np.nonzero(np.diff(colors, axis=1))
    cuts: list[list[int]] = [[] for _ in range(rows)]
    for r, c in zip(row_of.tolist(), (col_of + 1).tolist()):
        cuts[r].append(c)
    firsts = colors[:, 0].tolist()
    for r in range(rows):
        lead = left_rows.get(r)
        edge = (lead or "").rjust(label_w) + (LEFT_TICK if lead is not None else DOWN)
        tail = right_rows.get(r)
        end = (RIGHT_TICK + tail.ljust(right_w)) if tail is not None else (DOWN + " " * right_w)
        bounds = [0, *cuts[r], cols]
        runs = tuple((texts[r][a:b], palette[colors[r, a]] if a else palette[firsts[r]])
                     for a, b in pairwise(bounds))
        out.append(((edge, None), *runs, (end, None)))
    bottom, labels = _x_rows(figure.x, cols, label_w, width)
    out += [_plain(bottom + BOTTOM_RIGHT), _plain(labels)]
    return tuple(out)


def strips(rows: tuple[Row, ...], width: int, base: Style) -> list[Strip]:
    """The rows as Textual strips of exactly `width` cells, over the `base` style (every
    character the rows hold is one cell wide: braille, blocks, box lines, ASCII)."""
    styles: dict[str | None, Style] = {}
    out = []
    for row in rows:
        segments = []
        for text, color in row:
            style = styles.get(color)
            if style is None:
                style = styles[color] = base + Style(color=color) if color else base
            segments.append(Segment(text, style))
        out.append(Strip(segments, sum(len(text) for text, _ in row)).adjust_cell_length(width, base))
    return out


def plain_text(rows: tuple[Row, ...]) -> str:
    """The chart's characters without colours, one line a row."""
    return "\n".join("".join(text for text, _ in row) for row in rows)


# --- the plot area ---------------------------------------------------------------------


def _cells(layer: Layer, x_axis: Axis, y_axis: Axis, cols: int, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """The cells the layer covers (a boolean mask) and their characters, in mask order."""
    sub_w, sub_h = DOTS[layer.marker]
    dots_w, dots_h = cols * sub_w, rows * sub_h
    px = _scale(np.asarray(layer.x, dtype=np.float64), x_axis, dots_w)
    py = _scale(np.asarray(layer.y, dtype=np.float64), y_axis, dots_h)
    if layer.marker == "mark":
        dx, dy = _points(px, py, dots_w, dots_h)
        mask = np.zeros((rows, cols), dtype=bool)
        mask[dots_h - 1 - dy, dx] = True
        return mask, np.full(int(mask.sum()), layer.char[:1] or " ")
    dx, dy = _polyline(px, py, dots_w, dots_h)
    down = dots_h - 1 - dy  # dot rows from the top
    codes = np.zeros((rows, cols), dtype=np.int64)
    bits, table = (BRAILLE_BITS, BRAILLE) if layer.marker == "braille" else (QUAD_BITS, QUAD)
    np.bitwise_or.at(codes, (down // sub_h, dx // sub_w), bits[down % sub_h, dx % sub_w])
    mask = codes > 0
    return mask, table[codes[mask]]


def _scale(v: np.ndarray, axis: Axis, dots: int) -> np.ndarray:
    """Data values to dot positions 0..dots-1 (floats; outside that range when off the axis)."""
    span = axis.hi - axis.lo
    return (v - axis.lo) / (span if span > 0 else 1.0) * (dots - 1)


def _points(px: np.ndarray, py: np.ndarray, w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    """Single dots, those inside the plot."""
    with np.errstate(invalid="ignore"):
        x, y = np.round(px), np.round(py)
        keep = (x >= 0) & (x < w) & (y >= 0) & (y < h)
    return x[keep].astype(np.int64), y[keep].astype(np.int64)


def _polyline(px: np.ndarray, py: np.ndarray, w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    """The dots of straight lines joining consecutive points, each line cut to the plot
    (Liang-Barsky) before it is stepped through, so a far-off point costs no more dots."""
    if len(px) < 2:
        return _points(px, py, w, h)
    x0, y0, x1, y1 = px[:-1], py[:-1], px[1:], py[1:]
    finite = np.isfinite(x0) & np.isfinite(y0) & np.isfinite(x1) & np.isfinite(y1)
    x0, y0, x1, y1 = x0[finite], y0[finite], x1[finite], y1[finite]
    t0, t1 = _clip(x0, y0, x1 - x0, y1 - y0, (-0.5, w - 0.5), (-0.5, h - 0.5))
    keep = t0 <= t1
    dx, dy = (x1 - x0)[keep], (y1 - y0)[keep]
    ax, ay = x0[keep] + t0[keep] * dx, y0[keep] + t0[keep] * dy
    bx, by = x0[keep] + t1[keep] * dx, y0[keep] + t1[keep] * dy
    ax, ay, bx, by = np.round(ax), np.round(ay), np.round(bx), np.round(by)
    steps = np.maximum(np.abs(bx - ax), np.abs(by - ay)).astype(np.int64)
    counts = steps + 1
    seg = np.repeat(np.arange(len(steps)), counts)
    k = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    frac = k / np.maximum(steps, 1)[seg]
    xs = np.round(ax[seg] + frac * (bx - ax)[seg])
    ys = np.round(ay[seg] + frac * (by - ay)[seg])
    singles = ~(np.isfinite(px[:-1]) & np.isfinite(px[1:]) & np.isfinite(py[:-1]) & np.isfinite(py[1:]))
    # A point with no finite neighbour is still drawn, as a dot.
    alone = np.isfinite(px) & np.isfinite(py)
    alone &= np.append(True, singles) & np.append(singles, True)
    lone_x, lone_y = _points(px[alone], py[alone], w, h)
    return _points(np.append(xs, lone_x), np.append(ys, lone_y), w, h)


def _clip(x0: np.ndarray, y0: np.ndarray, dx: np.ndarray, dy: np.ndarray,
          xs: tuple[float, float], ys: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Liang-Barsky: the part t0..t1 of each segment p0 + t·d (0 <= t <= 1) inside the box
    (t0 > t1: none of it)."""
    t0, t1 = np.zeros(len(x0)), np.ones(len(x0))
    with np.errstate(divide="ignore", invalid="ignore"):
        for p, q in ((-dx, x0 - xs[0]), (dx, xs[1] - x0), (-dy, y0 - ys[0]), (dy, ys[1] - y0)):
            r = q / p
            t0 = np.where(p < 0, np.maximum(t0, r), t0)
            t1 = np.where(p > 0, np.minimum(t1, r), t1)
            t1 = np.where((p == 0) & (q < 0), -1.0, t1)  # parallel to this edge, outside it
    return t0, t1


# --- the frame -------------------------------------------------------------------------


def _plain(text: str) -> Row:
    return ((text, None),)


def _title_row(pieces: tuple[tuple[str, str | None], ...], width: int) -> Row:
    """The title, centred (cut at the right edge when too long)."""
    length = sum(len(text) for text, _ in pieces)
    pad = max(0, (width - length) // 2)
    return ((" " * pad, None), *pieces)


def _labels(axis: Axis | None) -> tuple[str, ...]:
    return () if axis is None else axis.labels


def _tick_rows(axis: Axis | None, rows: int) -> dict[int, str]:
    """Row (from the top) -> label of the ticks of a y axis, at the rows their dots fall in."""
    if axis is None or not axis.ticks:
        return {}
    dots = rows * 4
    out: dict[int, str] = {}
    for tick, label in zip(axis.ticks, axis.labels):
        dot = round(float(_scale(np.float64(tick), axis, dots)))
        if 0 <= dot < dots:
            out.setdefault(rows - 1 - dot // 4, label)
    return out


def _x_rows(axis: Axis | None, cols: int, label_w: int, width: int) -> tuple[str, str]:
    """The bottom edge with a ┬ at each x tick, and the labels centred under them (a label
    that would touch the one before it is left out)."""
    edge = [ACROSS] * cols
    labels = [" "] * width
    free = 0  # the first column the next label may use
    if axis is not None:
        for tick, label in zip(axis.ticks, axis.labels):
            dot = round(float(_scale(np.float64(tick), axis, cols * 2)))
            if not 0 <= dot < cols * 2:
                continue
            col = dot // 2
            edge[col] = BOTTOM_TICK
            start = min(max(label_w + 1 + col - (len(label) - 1) // 2, 0), width - len(label))
            if start >= free and start >= 0:
                labels[start : start + len(label)] = label
                free = start + len(label) + 1
    return " " * label_w + BOTTOM_LEFT + "".join(edge), "".join(labels)
