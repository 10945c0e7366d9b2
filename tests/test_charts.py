"""Charts: the envelope the snapshot keeps (exact per bucket, bounded, spikes kept), the O(1)
bookkeeping behind it, the axes (round ticks, whole steps, one point), the step-time view
(peaks cut above a steady line, a minimum span), the val metric's own axis, a log without
timing (how often they are redrawn: tests/test_redraw.py)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from conftest import FakeClock
from hypothesis import given, settings
from hypothesis import strategies as st
from tui_fakes import session_at

from monitor.core.envelope import Envelope, rebin
from monitor.core.history import chart_series
from monitor.core.report import Options, printed_elapsed_s
from monitor.core.run import RunState
from monitor.session import Session
from monitor.tui.app import make_app
from monitor.tui.widgets import braille, charts
from monitor.tui.widgets.charts import nice_ticks, step_view

SAMPLES = __import__("pathlib").Path(__file__).resolve().parent.parent / "sample_logs"


@settings(max_examples=200, deadline=None)
@given(chunks=st.lists(st.integers(1, 300), max_size=30), capacity=st.sampled_from([1, 2, 4, 16]),
       seed=st.integers(0, 2**16))
def test_envelope_buckets_are_exact_and_bounded(chunks: list[int], capacity: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = sum(chunks)
    y = rng.normal(size=n)
    y[rng.random(n) < 0.1] = np.nan
    x = np.arange(n, dtype=float) * 3
    env = Envelope(capacity)
    at = 0
    for size in chunks:
        env.extend(x[at : at + size], y[at : at + size])
        at += size
    assert len(env) <= 2 * capacity or n == 0
    bx, lo, hi, mean = env.arrays()
    w = env.width
    for i in range(len(env)):
        rows = y[i * w : (i + 1) * w]
        finite = rows[np.isfinite(rows)]
        assert bx[i] == (x[i * w] + x[min((i + 1) * w, n) - 1]) / 2
        if len(finite):
            assert (lo[i], hi[i]) == (finite.min(), finite.max())
            assert mean[i] == pytest.approx(finite.mean())
        else:
            assert np.isnan(lo[i]) and np.isnan(hi[i]) and np.isnan(mean[i])
    assert (len(env) - 1) * w < n <= len(env) * w or n == 0


def test_one_spike_in_a_million_steps_stays_visible() -> None:
    env = Envelope()
    y = np.full(1_000_000, 0.364)
    y[777_777] = 1.731
    for a in range(0, len(y), 4096):
        env.extend(np.arange(a, min(a + 4096, len(y))), y[a : a + 4096])
    x, lo, hi, _mean = rebin(*env.arrays(), bins=100)
    assert len(x) == 100
    assert hi.max() == 1.731 and lo.min() == 0.364


def _state(n: int, step: int = 1, times: float | None = 0.5) -> RunState:
    state = RunState()
    iters = np.arange(0, n * step, step)
    state.extend_iterations(iters, np.linspace(4, 1, n), np.full(n, np.nan if times is None else times),
                            np.full(n, np.nan), None)
    return state


def test_chart_series_follow_new_rows_without_starting_over() -> None:
    state = _state(5000)
    run = state.current
    chart_series(run)
    state.extend_iterations(np.arange(5000, 9000), np.full(4000, 0.5), np.full(4000, 2.0), np.full(4000, np.nan), None)
    loss, steps = chart_series(run)
    fresh = Envelope()
    fresh.extend(run.iters.values, run.step_time_s.values)
    x, _lo, hi, mean = fresh.arrays()
    assert np.array_equal(steps.x, x) and np.array_equal(steps.hi, hi) and np.array_equal(steps.y, mean)
    assert steps.hi.max() == 2.0 and loss.lo.min() == 0.5


def test_printed_elapsed_time_is_kept_as_running_totals() -> None:
    state = _state(100, times=0.5)
    assert printed_elapsed_s(state.current) == pytest.approx(50.0)
    state.extend_iterations(np.arange(100, 200), np.ones(100), np.full(100, 0.25), np.full(100, np.nan), None)
    assert printed_elapsed_s(state.current) == pytest.approx(75.0)
    sparse = _state(10, step=10, times=1.0)  # 9 unlogged steps between lines, at the median 1 s
    assert printed_elapsed_s(sparse.current) == pytest.approx(10 + 81 * 1.0)
    assert printed_elapsed_s(_state(10, times=None).current) is None


@pytest.mark.parametrize(("lo", "hi"), [(2.96, 4.19), (0.0, 1.0), (347.0, 348.0), (1e-5, 3e-5), (0, 1_000_000)])
def test_ticks_are_evenly_spaced_round_values(lo: float, hi: float) -> None:
    ticks = nice_ticks(lo, hi)
    assert 2 <= len(ticks) <= 10
    steps = np.diff(ticks)
    assert np.allclose(steps, steps[0])
    mantissa = steps[0] / 10 ** np.floor(np.log10(steps[0]))
    assert round(mantissa, 6) in (1.0, 2.0, 5.0)
    assert lo - 1e-12 <= ticks[0] and ticks[-1] <= hi + 1e-12
    assert all(float(t).is_integer() for t in nice_ticks(340, 348, integer=True))


def test_a_steady_line_keeps_the_height_and_peaks_are_cut() -> None:
    y = 364.0 + np.random.default_rng(0).uniform(-0.4, 0.4, 500)
    y[250] = 1731.0
    bottom, top, cut = step_view(y, y, y)
    assert cut is not None and bottom < 364 < top < 1731
    assert top - bottom >= 0.1 * 364  # sub-ms noise is not stretched over the full height
    calm = y.copy()
    calm[250] = 364.0
    assert step_view(calm, calm, calm)[2] is None


def test_the_step_axis_never_goes_below_zero() -> None:
    """Two logged steps, a slow first one and a fast one (3 s, 15 ms): the minimum span is
    laid around the fast step from 0 up, not centred on it into negative times."""
    y = np.array([3000.0, 15.0])
    bottom, top, cut = step_view(y, y, y)
    assert bottom == 0.0 and 15.0 < top and cut == top
    tiny = np.array([0.5, 0.5, 0.6])
    assert step_view(tiny, tiny, tiny)[0] >= 0.0


def _text(widget) -> str:
    return widget.render().plain


async def _screen(session: Session, size=(80, 24)):
    app = make_app(session, handle_signals=False)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        return _text(app.loss_chart), _text(app.step_chart)


def _session_of(path, fmt: str = "auto", lines: int | None = None) -> Session:
    session = Session(Options(source=str(path), fmt=fmt), clock=FakeClock())
    data = path.read_bytes()
    if lines is not None:
        data = b"\n".join(data.split(b"\n")[:lines])
    session.feed_block(data, 1_800_000_000.0)
    return session


def test_val_bpb_gets_its_own_axis_and_name() -> None:
    loss, _ = asyncio.run(_screen(_session_of(SAMPLES / "nanochat" / "chirag9127_speedrun_d20.log", lines=3000), (120, 40)))
    assert "val bpb" in loss.splitlines()[0] and "→" in loss.splitlines()[0]


def test_legend_stays_in_the_title_at_80x24() -> None:
    session = session_at(__import__("tui_fakes").recorded("compiled")[:300], FakeClock())
    loss, _ = asyncio.run(_screen(session))
    lines = loss.splitlines()
    assert "train" in lines[0] and "smoothed" in lines[0]
    assert not any("smoothed" in line or "train" in line for line in lines[1:])


def test_a_log_without_timing_says_so_in_the_step_chart() -> None:
    _, steps = asyncio.run(_screen(_session_of(SAMPLES / "llmc" / "llmc_main_log_gpt2_124M_8xH100.log")))
    assert "not printed by this log" in steps


def test_val_only_and_single_point_axes_have_whole_steps() -> None:
    session = Session(Options(source="x.log", fmt="nanogpt"), clock=FakeClock())
    session.feed(b"iter 347: loss 3.2100, time 12.50ms, mfu 30.00%", 1_800_000_000.0)
    loss, steps = asyncio.run(_screen(session))
    for text in (loss, steps):
        axis = text.rstrip().splitlines()[-1]
        assert axis.split() == ["347"], axis
    val_only = _session_of(SAMPLES / "modded_nanogpt" / "mng_track3_val_only_seconds.log")
    loss, steps = asyncio.run(_screen(val_only))
    for text in (loss, steps):
        labels = text.rstrip().splitlines()[-1].split()
        assert labels and all(label.rstrip("k").replace(".", "").isdigit() for label in labels), labels
        assert all("." not in label or label.endswith("k") for label in labels), labels


def test_a_single_tick_in_a_long_span_is_labelled_like_its_neighbours_would_be() -> None:
    axis = charts.x_axis([np.array([600.0, 999_000.0])])  # a million-step run's step times from 600 on
    assert axis is not None and axis.ticks == (500_000.0,) and axis.labels == ("500k",)
    axis = charts.x_axis([np.array([347.0])])
    assert axis is not None and axis.labels == ("347",)


# --- the braille renderer (monitor.tui.widgets.braille) ---


def _plot_rows(figure: braille.Figure, width: int, height: int) -> list[str]:
    """The plot area's rows (between the frame's edges), as text."""
    lines = braille.plain_text(braille.draw(figure, width, height)).splitlines()
    label_w = max((len(s) for s in figure.y.labels), default=0) if figure.y else 0
    return [line[label_w + 1 : label_w + 1 + width - label_w - 2] for line in lines[2:-2]]


def test_a_diagonal_sets_one_braille_dot_per_column() -> None:
    # 2 cells wide, 1 high: 4 x 4 dots; (0,0)..(3,3) climbs from the bottom left to the top right.
    axis = braille.Axis(0.0, 3.0)
    fig = braille.Figure((("t", None),), axis, axis, None, (braille.Layer(np.arange(4.0), np.arange(4.0), "green"),))
    # Left cell: dots (col 0, row 3 from the top) and (col 1, row 2): bits 0x40 | 0x20.
    # Right cell: (col 0, row 1) and (col 1, row 0): bits 0x02 | 0x08.
    assert _plot_rows(fig, 4, 5) == [chr(0x2800 + 0x60) + chr(0x2800 + 0x0A)]


def test_one_spike_reaches_the_top_row_and_the_flat_line_stays_at_the_bottom() -> None:
    x = np.arange(200.0)
    y = np.zeros(200)
    y[123] = 10.0
    fig = braille.Figure((("t", None),), braille.Axis(0.0, 199.0), braille.Axis(0.0, 10.0), None,
                         (braille.Layer(x, y, "green"),))
    rows = _plot_rows(fig, 42, 12)
    assert len(rows) == 8 and sum(ch != " " for ch in rows[0]) == 1  # the spike's tip, one cell
    assert all(ch != " " for ch in rows[-1])  # the flat line, unbroken


def test_far_points_are_cut_at_the_edge_and_nan_breaks_the_line() -> None:
    x = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    y = np.array([0.0, 1e12, np.nan, 0.5, 0.5])
    fig = braille.Figure((("t", None),), braille.Axis(0.0, 4.0), braille.Axis(0.0, 1.0), None,
                         (braille.Layer(x, y, "green"),))
    rows = _plot_rows(fig, 7, 6)  # 5 x 2 cells: fast, and nothing out of bounds
    assert len(rows) == 2 and all(len(row) == 5 for row in rows)
    assert rows[0][0] != " "  # the line towards 1e12 leaves through the top edge at once
    assert rows[0][2] == " " and rows[1][2] == " "  # nothing joins across the NaN


def test_marks_and_ticks_land_where_their_values_are() -> None:
    y_axis = braille.Axis(0.0, 10.0, (0.0, 5.0, 10.0), ("0", "5", "10"))
    x_axis = braille.Axis(0.0, 100.0, (0.0, 50.0, 100.0), ("0", "50", "100"))
    fig = braille.Figure((("title", None),), x_axis, y_axis, None,
                         (braille.Layer(np.array([100.0]), np.array([10.0]), "red", "mark", "▴"),))
    lines = braille.plain_text(braille.draw(fig, 24, 9)).splitlines()
    assert lines[0].strip() == "title" and lines[1].startswith("  ┌")
    assert lines[2].startswith("10┤") and lines[2].rstrip().endswith("▴│")
    assert lines[-3].startswith(" 0┤")
    assert lines[-2].count("┬") == 3 and lines[-1].split() == ["0", "50", "100"]


def test_a_chart_without_room_for_a_plot_keeps_its_title() -> None:
    fig = braille.Figure((("step time (ms)", None),), braille.Axis(0.0, 1.0), braille.Axis(0.0, 1.0))
    assert braille.plain_text(braille.draw(fig, 30, 3)).strip() == "step time (ms)"
