"""A log no family recognises is skimmed in bulk, not read line by line: the lines a skim
leaves unmarked are exactly those the line path does nothing with, and a family line that
comes late (after megabytes of noise) is still found, with what came before it replayed."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_hostile import REAL_ANY, SETTINGS, bulk_sizes, fingerprint, session

from monitor.core.formats import AutoParser
from monitor.core.formats.prefix import strip
from monitor.core.formats.skim import Backlog, marked_lines
from monitor.core.lines import decode, line_bounds, segments
from monitor.session import Session

SPLICES = [b"\x1b[0m", b"\x01", b"\x7f", b"\xc2\x85", b"\x1b]0;t\x07", b"\r", b"\t", b"\xff", b"\x00"]
PREFIXES = [b"", b"2024-05-02 14:10:07 ", b"[rank3]: ", b"1776142684.924 ", b"INFO:root:", b" 0: ",
            b"W1023 19:25:18.123000 1234 torch/distributed/run.py:766] "]


#: Built once: hypothesis labels a sampled_from by hashing every element, and REAL_ANY holds tens
#: of thousands of lines (built in each draw, labelling took 86% of the test).
_REAL_OR_NOISE = st.one_of(st.sampled_from(REAL_ANY), st.binary(max_size=60).map(lambda b: b.replace(b"\n", b"")))
_SPLICE = st.sampled_from(SPLICES)


@st.composite
def hostile_line(draw: st.DrawFn, prefixes: list[bytes] = PREFIXES) -> bytes:
    """A real line of any family, or noise, with a prefix, escapes and controls spliced in."""
    line = draw(_REAL_OR_NOISE)
    for _ in range(draw(st.integers(0, 2))):
        at = draw(st.integers(0, len(line)))
        line = line[:at] + draw(_SPLICE) + line[at:]
    return draw(st.sampled_from(prefixes)) + line


#: Logs whose lines carry one kind of prefix, or none, or any mix of them (rank-tagged lines
#: among timestamped ones too).
hostile_logs = st.one_of(
    st.sampled_from(PREFIXES).flatmap(lambda prefix: st.lists(hostile_line([b"", prefix]), min_size=1, max_size=40)),
    st.lists(hostile_line(), min_size=1, max_size=40))


def acts(line: bytes, stamps: bool = True) -> bool:
    """True when the line path does anything with `line` but count and keep it, before a
    family is known and outside a traceback (Session._events, AutoParser.feed); with
    `stamps`, a printed time counts (it does until the first is read)."""
    for segment in segments(decode(line)):
        stripped = strip(segment)
        if stripped is not None and (stamps and stripped.printed_s is not None or stripped.launch):
            return True
        parser = AutoParser()
        if parser.feed(None, segment if stripped is None else stripped.text) or parser.name is not None:
            return True
        if not parser.skimming:
            return True
    return False


@SETTINGS
@given(st.lists(hostile_line(), min_size=1, max_size=20))
def test_every_line_the_line_path_acts_on_is_marked(lines: list[bytes]) -> None:
    data = b"".join(line.replace(b"\n", b"") + b"\n" for line in lines)
    starts, _ = line_bounds(data)
    signals, stamps = marked_lines(data, len(starts), stamps=True)
    marked = set(signals.tolist()) | set(stamps.tolist())
    lines = data.split(b"\n")[:-1]
    assert all(i in marked for i, line in enumerate(lines) if acts(line))


#: A line of each kind the line path acts on, most with escapes or controls spliced in.
ACTED_ON = [
    b"it\x1b[1mer 5: loss 4.2, time 100.00ms", b"ITER 5: LOSS 4.2, TIME 100.00MS", b"\xc4\xb0ter 5: loss 4.2, time 1.0ms",
    b"\xc5\xbftep 5: train loss 1.0, val loss 2.0", b"it\xc2\x85er 5: loss 4.2, time 100.00ms",
    b"ste\x01p 00001/00010 (10.00%) | loss: 3.2 | dt: 10ms", b"Step 00001/00651 | Training loss: 0.84",
    b"step    1/74 | train loss 11.0 | norm 15.4", b"iteration 5, loss: 3.2", b"s:100 trl:3.2",
    b"step:10/100 train_time:1000ms step_avg:100ms", b"10/100 train_loss:3.2 train_time:1.0m", b"12 | loss 3.2 | lr 1e-4 | 50ms",
    b"Created a PretokDataset", b"tokens per iteration will be: 8,192", b"Overriding config with c.py:",
    b"compiling the model... (takes a ~minute)", b"using fused AdamW: True", b"Initializing a new model from scratch",
    b"Resuming training from out", b"Autodetected device type: cuda", b"COMPUTE_DTYPE: bf16",
    b"GPU: H100 | Peak FLOPS (BF16): 989e12", b"| Parameter             | Value", b"Multi-GPU support is disabled. Using a single GPU.",
    b"Traceback (most recent call last):", b"KeyboardInterrupt", b"/x.py:3: UserWarning: w", b"RuntimeError: CUDA oom",
    b"Killed", b"Segmentation fault", b"a.out: f.cu:12: int main(): Assertion `x' failed.", b"[CUDA ERROR] at file f.cu:265:",
    b"W1023 19:25:18.123000 1234 torch/distributed/run.py:766] Setting OMP_NUM_THREADS",
    b"INFO:torch.distributed.run:starting", b"\x1b]0;title\x07iter 5: loss 4.2, time 100.00ms",
    b"terminate called after throwing an instance of 'std::bad_alloc'",
    b"[PG 0 Rank 1] Watchdog caught collective operation timeout: WorkNCCL(SeqNum=5, OpType=ALLREDUCE) ran for 600000 ms",
]


@pytest.mark.parametrize("line", ACTED_ON)
def test_each_kind_of_line_acted_on_is_marked_after_the_first_time(line: bytes) -> None:
    assert acts(line, stamps=False), "not a line the line path acts on: the case tests nothing"
    signals, _ = marked_lines(b"nothing\n" + line + b"\nnothing\n", 3, stamps=False)
    assert signals.tolist() == [1]


@SETTINGS
@given(hostile_logs, st.sampled_from([1, 5, 256]))
def test_skimming_reads_what_the_line_path_reads(lines: list[bytes], scan_min_lines: int) -> None:
    data = b"".join(line.replace(b"\n", b"") + b"\n" for line in lines)
    one_by_one, bulk = session(), session()
    for line in data.split(b"\n")[:-1]:
        one_by_one.feed(line, 7.0)
    with bulk_sizes(scan_min_lines=scan_min_lines):
        bulk.feed_block(data, 7.0)
    assert fingerprint(bulk) == fingerprint(one_by_one)
    assert bulk.printed_clock.first_printed_s == one_by_one.printed_clock.first_printed_s
    assert [x[:2] for x in bulk.parser._held if x[1]] == [x[:2] for x in one_by_one.parser._held if x[1]]


def test_a_family_line_after_megabytes_of_noise_is_found_with_its_config(monkeypatch) -> None:
    rng = random.Random(5)
    noise = rng.randbytes(3 << 20).replace(b"\n", b" ")
    noise = b"\n".join(noise[i : i + 200] for i in range(0, len(noise), 200)) + b"\n"
    config = b"Overriding config with config/train.py:\nmax_iters = 5000\nbatch_size = 12\n\n"
    log = noise + config + b"number of parameters: 10.65M\n" + noise + b"iter 0: loss 4.2, time 100.00ms, mfu 1.00%\n"
    fed = []
    monkeypatch.setattr(Session, "feed", lambda self, line, t=None, _feed=Session.feed: fed.append(1) or _feed(self, line, t))
    s = session()
    s.feed_block(log, 1.0)
    snap = s.snapshot(2.0)
    assert (snap.format, snap.iter, snap.max_iters, snap.max_iters_source) == ("nanogpt", 0, 5000, "log")
    assert snap.params == 10_650_000
    assert s.state.lines == log.count(b"\n")
    # the noise before any family line is skimmed; after a start-up line's guess (nanoGPT's and
    # others'), lines are read one by one until a step line decides the family
    assert len(fed) < noise.count(b"\n") + 500  # the first noise: only its few marked lines


def test_the_backlog_keeps_the_last_lines_within_its_bounds() -> None:
    data = b"".join(b"line %d\n" % i for i in range(100))
    starts, ends = line_bounds(data)
    kept = Backlog(max_lines=30, max_bytes=10**6)
    kept.add_skimmed(1.0, data, starts[:60], ends[:60])
    kept.add(2.0, "text", [])
    kept.add_skimmed(3.0, data, starts[60:], ends[60:])
    assert [text for _, text, _ in kept] == [f"line {i}" for i in range(70, 100)]
    small = Backlog(max_lines=1000, max_bytes=70)  # "line NN" is 7 bytes: about 10 lines
    small.add_skimmed(1.0, data, starts, ends)
    assert [text for _, text, _ in small][-1] == "line 99" and 8 <= len(list(small)) <= 11


def test_a_printed_clock_starts_at_the_first_stamp_even_in_bulk() -> None:
    noise = b"".join(b"nothing here %d\n" % i for i in range(1000))
    data = noise + b"2024-05-02 14:10:07 still nothing\n" + noise
    s = session()
    s.feed_block(data, 1.0)
    assert s.printed_clock.first_printed_s == 1714659007.0  # 2024-05-02 14:10:07 UTC


def test_a_native_crash_split_over_two_lines_is_read_whole_when_skimmed() -> None:
    """C++'s `terminate called …` waits for its `what():` line, which holds no signal of its
    own: the skim must not pass over it while the first is pending."""
    noise = [b"plain text %d" % i for i in range(300)]
    lines = [*noise, b"terminate called after throwing an instance of 'std::bad_alloc'", b"  what():  std::bad_alloc",
             *noise]
    data = b"".join(line + b"\n" for line in lines)
    one_by_one, bulk = session(), session()
    for line in lines:
        one_by_one.feed(line, 7.0)
    with bulk_sizes(scan_min_lines=256):
        bulk.feed_block(data, 7.0)
    assert fingerprint(bulk) == fingerprint(one_by_one)
    assert bulk.state.current.error == "std::bad_alloc: std::bad_alloc"
