"""Hostile logs for the parsers and the run state (hypothesis): random bytes, real lines mixed
with noise, truncated lines, huge numbers, nan/inf, negative times, steps going back,
repeated lines. Nothing raises, every good iteration is counted, and the bulk path of a
cold open (Session.feed_block) folds in exactly what the line-by-line path does."""

from __future__ import annotations

import contextlib
import itertools
import json
import math
from collections import deque
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from monitor import reading as session_module  # where the bulk sizes live
from monitor.core.events import Eval, Iteration
from monitor.core.formats import FAMILIES, FORMAT_NAMES
from monitor.core.formats.nanogpt import Parser
from monitor.core.report import Options
from monitor.core.run import Column
from monitor.reading import BULK_MIN_LINES
from monitor.session import Session

SAMPLES = Path(__file__).resolve().parent.parent / "sample_logs"
NANOGPT_LOGS = sorted((SAMPLES / "nanogpt").glob("*.log")) + sorted((SAMPLES / "recorded").glob("*/run.log"))
ALL_LOGS = sorted(SAMPLES.glob("**/*.log"))


def _lines(paths: list[Path]) -> list[bytes]:
    return [line for path in paths for line in path.read_bytes().split(b"\n") if line]


REAL_NANOGPT = _lines(NANOGPT_LOGS)
REAL_ANY = _lines(ALL_LOGS)

CLOCK = 1_800_000_000.0
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def session(fmt: str = "auto") -> Session:
    return Session(Options(source="hostile.log", fmt=fmt), clock=lambda: CLOCK)


def fingerprint(s: Session) -> tuple:
    """Everything the run state holds, in a form that compares exactly (-0.0, NaN included)."""

    def value(v: object) -> object:
        if isinstance(v, Column):
            return v.values.dtype.str, v.values.tobytes()
        if isinstance(v, deque):
            return repr(list(v))
        if isinstance(v, (set, frozenset)):  # a set's order is its insertion history's and the hash seed's
            return repr(sorted(v, key=repr))
        return repr(v)

    runs = [sorted((k, value(v)) for k, v in vars(run).items()) for run in s.state.runs]
    return s.state.lines, s.format, runs


@contextlib.contextmanager
def bulk_sizes(piece_bytes: int = 1 << 22, scan_min_lines: int = 1):
    """The bulk path on buffers of any size (by default it waits for long ones)."""
    saved = session_module.BULK_BLOCK_BYTES, session_module.SCAN_MIN_LINES
    session_module.BULK_BLOCK_BYTES, session_module.SCAN_MIN_LINES = piece_bytes, scan_min_lines
    try:
        yield
    finally:
        session_module.BULK_BLOCK_BYTES, session_module.SCAN_MIN_LINES = saved


def split_lines(data: bytes) -> list[bytes]:
    """The lines of `data` as LineSplitter and feed_block see them."""
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    return lines


# --- strategies ------------------------------------------------------------------------

_ODD_NUMBERS = ["nan", "-nan", "inf", "-inf", "NaN", "1.", ".5", "-.5", "--1", "1.2.3", "-", "", "+1", "1e400",
                "-1e-400", "0.000000000000001", "-0", "-0.0", "1234567890123456", "123456789012345.6", "00042.10"]
numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(lambda x: f"{x:.4f}"),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.integers(-(10**20), 10**20).map(str),
    st.sampled_from(_ODD_NUMBERS),
    # the strings of -?[0-9.]{1,18}; st.from_regex draws them six times slower
    st.tuples(st.sampled_from(["", "-"]), st.text("0123456789.", min_size=1, max_size=18)).map("".join),
)
plain_numbers = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False).map(lambda x: f"{x:.4f}")
steps = st.one_of(st.integers(0, 10**6), st.integers(-5, 10**22), st.sampled_from([10**15, 10**15 + 1, 2**63]))


@st.composite
def iter_lines(draw: st.DrawFn, step: int | None = None, numbers: st.SearchStrategy[str] = numbers) -> bytes:
    it = draw(steps) if step is None else step
    loss, ms, mfu = draw(numbers), draw(numbers), draw(numbers)
    form = draw(st.integers(0, 5))
    text = f"iter {it}: loss {loss}, time {ms}ms"
    if form in (0, 1, 2):
        text += f", mfu {mfu}%"
    elif form == 3:
        text = text.upper()
    elif form == 4:
        text += draw(st.sampled_from(["\r", " trailing", "%", ", mfu 5%x", "\x1b[0m"]))
    return text.encode()


@st.composite
def eval_lines(draw: st.DrawFn) -> bytes:
    return f"step {draw(steps)}: train loss {draw(numbers)}, val loss {draw(numbers)}".encode()


noise = st.one_of(
    st.binary(max_size=80).map(lambda b: b.replace(b"\n", b" ")),
    st.text(max_size=80).map(lambda s: s.replace("\n", " ").encode("utf-8", "surrogatepass")),
    st.sampled_from([b"", b"   ", b"\r", b"\x1b]0;title\x07", b"\x1b[2J\x1b[H", b"[bold]x[/]", b"\xff\xfe\xfd"]),
)


#: Built once: hypothesis labels a sampled_from by hashing every element (20,000 lines here).
_REAL_NANOGPT_LINE = st.sampled_from(REAL_NANOGPT)


@st.composite
def truncated(draw: st.DrawFn) -> bytes:
    line = draw(_REAL_NANOGPT_LINE)
    return line[: draw(st.integers(0, len(line)))]


@st.composite
def iteration_stretch(draw: st.DrawFn) -> list[bytes]:
    """A stretch of plain `iter` lines long enough for the bulk path, with steps that mostly
    go up but may repeat or go back."""
    n = draw(st.integers(BULK_MIN_LINES, 3 * BULK_MIN_LINES))
    step = draw(st.integers(0, 10**6))
    out = []
    for _ in range(n):
        step += draw(st.sampled_from([1, 1, 1, 10, 0, -3, -(10**6)]))
        form = draw(st.sampled_from(["mfu", "mfu", "plain", "crlf"]))
        loss, ms, mfu = draw(plain_numbers), draw(plain_numbers), draw(plain_numbers)
        text = f"iter {max(step, 0)}: loss {loss}, time {ms}ms"
        text += {"mfu": f", mfu {mfu}%", "plain": "", "crlf": f", mfu {mfu}%\r"}[form]
        out.append(text.encode())
    return out


single_lines = st.one_of(
    st.sampled_from(REAL_NANOGPT), iter_lines(), eval_lines(), noise, truncated(),
)
logs = st.lists(st.one_of(single_lines.map(lambda line: [line]), iteration_stretch()), max_size=12).map(
    lambda parts: [line for part in parts for line in part]
)


# --- the bulk path is the line path ------------------------------------------------------

@SETTINGS
@given(lines=logs, t=st.none() | st.floats(0, 2e9), fmt=st.sampled_from(["auto", "nanogpt"]),
       cuts=st.lists(st.integers(0, 400), max_size=4), piece_bytes=st.sampled_from([1 << 22, 1, 64, 700]),
       scan_min_lines=st.sampled_from([1, 20, 256]))
def test_bulk_path_folds_in_exactly_what_the_line_path_does(lines, t, fmt, cuts, piece_bytes, scan_min_lines) -> None:
    data = b"".join(line + b"\n" for line in lines)
    one_by_one = session(fmt)
    changed_lines = [one_by_one.feed(line, t) for line in split_lines(data)]
    bulk = session(fmt)
    # Blocks of whole lines, cut anywhere, as read_blocks hands them over, and fed in
    # pieces of any size.
    bounds = sorted({0, len(lines), *(c for c in cuts if c < len(lines))})
    with bulk_sizes(piece_bytes, scan_min_lines):
        changed_bulk = [bulk.feed_block(b"".join(line + b"\n" for line in lines[a:b]), t) for a, b in
                        itertools.pairwise(bounds)]
    assert fingerprint(bulk) == fingerprint(one_by_one)
    assert any(changed_bulk) == any(changed_lines)
    many = session(fmt)
    with bulk_sizes():
        many.feed_many(split_lines(data), t)
    assert fingerprint(many) == fingerprint(one_by_one)


@SETTINGS
@given(lines=st.lists(iter_lines(numbers=numbers), min_size=1, max_size=40))
def test_the_bulk_reader_agrees_with_the_parser_on_every_line_it_accepts(lines) -> None:
    from monitor.core.formats.bulk import nanogpt as scan_iterations
    from monitor.core.lines import line_bounds

    data = b"\n".join(lines)
    starts, ends = line_bounds(data)
    cols = scan_iterations(data, starts, ends)
    for i, line in enumerate(split_lines(data)):
        if not cols.ok[i]:
            continue
        event = Parser().parse(line.decode())
        assert isinstance(event, Iteration), line
        got = (int(cols.iter[i]), float(cols.loss[i]), float(cols.step_time_s[i]), float(cols.mfu[i]))
        want = (event.iter, event.loss, event.step_time_s, math.nan if event.mfu is None else event.mfu)
        assert repr(got) == repr(want), line


def test_plain_iteration_lines_are_read_in_bulk() -> None:
    """The property above is only as good as the bulk reader's reach: real lines qualify."""
    from monitor.core.formats.bulk import nanogpt as scan_iterations
    from monitor.core.lines import line_bounds

    data = (SAMPLES / "recorded" / "compiled" / "run.log").read_bytes()
    starts, ends = line_bounds(data)
    cols = scan_iterations(data, starts, ends)
    iter_lines_count = sum(1 for line in split_lines(data) if line.startswith(b"iter "))
    assert iter_lines_count > 400
    assert cols.ok.sum() == iter_lines_count


# --- nothing raises ---------------------------------------------------------------------

@SETTINGS
@given(data=st.binary(max_size=4000), fmt=st.sampled_from(FORMAT_NAMES))
def test_random_bytes_never_raise(data, fmt) -> None:
    s = session(fmt)
    with bulk_sizes():
        s.feed_block(data, 1.0)
    for line in split_lines(data):
        s.feed(line, 2.0)
    json.loads(s.snapshot(now=3.0, charts=True).to_json())


@SETTINGS
@given(lines=st.lists(st.one_of(st.sampled_from(REAL_ANY), noise, truncated(), iter_lines(), eval_lines()),
                      max_size=60),
       fmt=st.sampled_from(FORMAT_NAMES))
def test_real_lines_of_every_family_mixed_with_noise_never_raise(lines, fmt) -> None:
    s = session(fmt)
    s.feed_many(lines, 5.0)
    json.loads(s.snapshot(now=10.0, charts=True).to_json())


@SETTINGS
@given(line=st.one_of(st.sampled_from(REAL_ANY), iter_lines(), eval_lines(), noise).map(
    lambda b: b.decode("utf-8", "replace")), family=st.sampled_from(sorted(FAMILIES)))
def test_every_family_parser_returns_instead_of_raising(line, family) -> None:
    FAMILIES[family].make_parser().parse(line)


finite_or_not = st.floats(allow_nan=True, allow_infinity=True)
events = st.one_of(
    st.builds(Iteration, iter=steps, loss=st.none() | finite_or_not, step_time_s=st.none() | finite_or_not,
              mfu=st.none() | finite_or_not, max_iters=st.none() | st.integers(-10, 10**18),
              train_time_s=st.none() | finite_or_not),
    st.builds(Eval, iter=steps, val_loss=st.none() | finite_or_not, train_loss=st.none() | finite_or_not),
)


@SETTINGS
@given(evs=st.lists(st.tuples(events, st.none() | st.floats(-1e10, 1e10)), max_size=80))
def test_run_state_takes_any_iterations_and_evals(evs) -> None:
    s = session("nanogpt")
    for event, t in evs:
        s.state.line_seen(t)
        s.state.apply(event, t)
    for run in s.state.runs:
        kept = run.iters.values
        assert np.all(np.diff(kept) > 0), "steps within a run only go up"
        assert np.all(np.abs(kept) <= 10**15)
    json.loads(s.snapshot(now=2e9, charts=True).to_json())


def test_a_thousand_digit_step_is_noise_not_a_crash() -> None:
    big = "9" * 5000
    p = Parser()
    for line in (f"iter {big}: loss 1.0, time 1.00ms", f"step {big}: train loss 1, val loss 2",
                 f"tokens per iteration will be: {big}", f"found vocab_size = {big}",
                 f"number of parameters: {big}M", "number of parameters: 1.2.3M", "tokens per iteration will be: ,"):
        assert p.parse(line) is None, line[:40]
    s = session()
    s.feed_many([b"iter 0: loss 1.0, time 1.00ms", b"iter 99999999999999999: loss 1.0, time 1.00ms",
                 b"iter 1: loss 1.0, time 1.00ms"])
    assert s.state.current.iters.values.tolist() == [0, 1]


# --- every good iteration counted, runs split where the counter goes back --------------

safe_noise = st.one_of(
    st.binary(max_size=60).map(lambda b: b"> " + b.replace(b"\n", b" ").replace(b"\r", b" ")),
    st.text(max_size=60).map(lambda s: ("# " + s.replace("\n", " ").replace("\r", " ")).encode("utf-8", "replace")),
)


def _good_line(step: int, loss: float) -> bytes:
    return f"iter {step}: loss {loss:.4f}, time 12.50ms, mfu 30.00%".encode()


@SETTINGS
@given(steps_=st.lists(st.integers(0, 10**9), unique=True, min_size=1, max_size=200).map(sorted),
       data=st.data(), bulk=st.booleans())
def test_every_good_iteration_among_noise_is_counted_exactly(steps_, data, bulk) -> None:
    losses = [data.draw(st.floats(0, 20, allow_nan=False)) for _ in steps_]
    lines: list[bytes] = []
    for step, loss in zip(steps_, losses):
        lines.extend(data.draw(st.lists(safe_noise, max_size=3)))
        lines.append(_good_line(step, loss))
        if data.draw(st.booleans()):
            lines.append(_good_line(step, loss))  # a repeated line
    s = session()
    if bulk:
        with bulk_sizes():
            s.feed_block(b"\n".join(lines))
    else:
        for line in lines:
            s.feed(line)
    assert len(s.state.runs) == 1
    assert s.state.current.iters.values.tolist() == steps_
    assert s.state.current.loss.values.tolist() == [float(f"{x:.4f}") for x in losses]
    assert s.state.lines == len(lines)


@SETTINGS
@given(runs=st.lists(st.lists(st.integers(0, 10**6), unique=True, min_size=1, max_size=60).map(sorted),
                     min_size=1, max_size=6),
       bulk=st.booleans())
def test_runs_split_exactly_where_the_counter_goes_back(runs, bulk) -> None:
    # Each run starts below where the previous one ended.
    fixed: list[list[int]] = []
    for steps_ in runs:
        if fixed:
            shift = fixed[-1][-1] - steps_[0] - 1 if steps_[0] >= fixed[-1][-1] else 0
            steps_ = [x + shift for x in steps_]
            if steps_[0] < 0:
                steps_ = [x - steps_[0] for x in steps_]
                if steps_[0] >= fixed[-1][-1]:
                    continue
        fixed.append(steps_)
    lines = [_good_line(step, 1.0) for steps_ in fixed for step in steps_]
    s = session()
    if bulk:
        with bulk_sizes():
            s.feed_block(b"\n".join(lines))
    else:
        s.feed_many([line.decode() for line in lines])
    assert [run.iters.values.tolist() for run in s.state.runs] == fixed


def test_numbers_at_the_edges_of_the_bulk_reader() -> None:
    """float() and the bulk reader meet on the values that are hardest to get right."""
    values = ["0.1", "0.3", "1.7976931348623157", "9007199254740993", "123456789012345", "12345678901234.5",
              "0.000000000000001", "999999999999999", "-0.0", "5.", "0.30000000000000004"]
    lines = [f"iter {i}: loss {v}, time {v}ms, mfu {v}%".encode() for i, v in enumerate(values)] * BULK_MIN_LINES
    s, ref = session(), session()
    with bulk_sizes():
        s.feed_block(b"\n".join(lines))
    for line in lines:
        ref.feed(line)
    assert fingerprint(s) == fingerprint(ref)


@SETTINGS
@given(ops=st.lists(st.one_of(
    st.tuples(st.just("append"), st.sampled_from([math.nan, 1.5, -0.0, math.inf])),
    st.tuples(st.just("extend"), st.lists(st.sampled_from([math.nan, 2.5]), max_size=5)),
    st.tuples(st.just("set_last"), st.just(7.0)),
), max_size=30))
def test_a_nan_column_holds_what_a_column_holds(ops) -> None:
    from monitor.core.run import NanColumn

    plain, lazy = Column(), NanColumn()
    for op, arg in ops:
        if op == "set_last" and not len(plain):
            continue
        for col in (plain, lazy):
            getattr(col, op)(np.array(arg) if op == "extend" else arg)
    assert len(lazy) == len(plain)
    assert lazy.values.tobytes() == plain.values.tobytes()


@SETTINGS
@given(lines=logs, trailing_newline=st.booleans(), block_bytes=st.integers(1, 300))
@example(lines=[b"\r", b""], trailing_newline=True, block_bytes=1)  # `\r\n\n` a byte at a time
@example(lines=[b"\r"], trailing_newline=False, block_bytes=1)  # a stream too short to tell its encoding
def test_reading_in_blocks_of_any_size_is_reading_line_by_line(tmp_path_factory, lines, trailing_newline,
                                                               block_bytes) -> None:
    from monitor.sources.logfile import read_blocks, read_lines

    log = tmp_path_factory.mktemp("blocks") / "train.log"
    log.write_bytes(b"\n".join(lines) + (b"\n" if trailing_newline else b""))
    whole, tail, _ = read_lines(str(log))
    one_by_one = session()
    for line in [*whole, *([tail] if tail else [])]:
        one_by_one.feed(line)
    blocks = session()
    with bulk_sizes():
        for block in read_blocks(str(log), block_bytes=block_bytes):
            blocks.feed_block(block)
    assert fingerprint(blocks) == fingerprint(one_by_one)


def test_every_sample_log_reads_the_same_in_bulk_and_line_by_line() -> None:
    for path in ALL_LOGS:
        data = path.read_bytes()
        one_by_one, bulk = session(), session()
        for line in split_lines(data):
            one_by_one.feed(line)
        with bulk_sizes():
            bulk.feed_block(data)
        assert fingerprint(bulk) == fingerprint(one_by_one), path.name
        assert bulk.snapshot(now=CLOCK).to_json() == one_by_one.snapshot(now=CLOCK).to_json(), path.name


def test_a_long_log_goes_through_the_bulk_path_and_a_few_new_lines_do_not(monkeypatch) -> None:
    from monitor.core.run import RunState

    bulk_rows: list[int] = []

    def counting(fold):
        def counted(self, iters, *rest):
            bulk_rows.append(len(iters))
            return fold(self, iters, *rest)
        return counted

    for name in ("extend_iterations", "append_iterations"):
        monkeypatch.setattr(RunState, name, counting(getattr(RunState, name)))
    s = session()
    s.feed_block((SAMPLES / "recorded" / "eager_log_every_iter" / "run.log").read_bytes())
    assert sum(bulk_rows) > 1900 and s.state.current.n_iters == 2001
    bulk_rows.clear()
    s.feed_block(b"".join(_good_line(3000 + i, 1.0) + b"\n" for i in range(10)), 5.0)
    assert bulk_rows == [] and s.state.current.last_iter == 3009


def test_an_iteration_ends_a_config_dump_in_bulk_too() -> None:
    lines = [b"Overriding config with config/x.py:", b"# a comment", b"max_iters = 3000",
             *(_good_line(i, 2.0) for i in range(40)), b"max_iters = 5", b"grad norm 0.5",
             *(line for i in range(40, 80) for line in (_good_line(i, 1.0), b"grad norm 0.5")),
             b"/x/train.py:1: UserWarning: w", *(line for i in range(80, 90) for line in (_good_line(i, 1.0), b"w"))]
    data = b"".join(line + b"\n" for line in lines)
    one_by_one, bulk = session(), session()
    for line in lines:
        one_by_one.feed(line)
    with bulk_sizes():
        bulk.feed_block(data)
    assert fingerprint(bulk) == fingerprint(one_by_one)
    assert bulk.state.current.config["max_iters"] == 3000  # the later line was noise, not config
    assert bulk.state.current.n_iters == 90 and bulk.state.lines == len(lines)
