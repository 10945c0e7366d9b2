"""The bulk readers of nanoGPT, nanochat, llm.c and modded-nanogpt (formats/bulk.py) against
their line parsers (hypothesis): any log of their step lines, with odd numbers, signs, nan,
repeated and backward steps, CRLF endings, printed times, evals, stage changes and noise, leaves
the same run state when read in bulk as when fed line by line; and real logs are mostly read in
bulk."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys

import pytest
from conftest import ROOT
from hypothesis import example, given, settings
from hypothesis import strategies as st
from test_hostile import SETTINGS, bulk_sizes, fingerprint, noise, numbers, session, split_lines

from monitor.core.formats import FAMILIES
from monitor.core.lines import line_bounds
from monitor.session import Session

_PLAIN = st.floats(min_value=-1e5, max_value=1e5, allow_nan=False)
_UNSIGNED = st.floats(min_value=0, max_value=1e5, allow_nan=False)
_VALUE_FORM = st.integers(0, 3)


def value(draw: st.DrawFn) -> str:
    """A field's number: plain, unsigned (twice as likely), or any of `numbers`."""
    form = draw(_VALUE_FORM)
    return f"{draw(_PLAIN):.4f}" if form == 0 else draw(numbers) if form == 3 else unsigned(draw)


def unsigned(draw: st.DrawFn) -> str:
    return f"{draw(_UNSIGNED):.2f}"

# The strategies below are built once, and a line draws only the fields it prints: drawing, not
# reading, was 80% of the test's time, most of it building a fresh strategy (a list of drawn
# alternatives for sampled_from) and drawing the alternatives it then threw away.
_TOK = st.integers(0, 10**10)
_TOTAL = st.integers(1, 10**6)
_TOTAL_MODDED = st.integers(1, 10**5)
_UNIT = st.floats(0, 1)
_Z = st.floats(-9, 9)
_NANOCHAT_TOTALS = st.sampled_from(["/21400", "/00020", ""])  # no total: mid_train, another stage
_MODDED_KINDS = st.sampled_from(["train", "train", "train", "val"])


def pick(draw: st.DrawFn, n: int) -> int:
    """Which of n forms a line takes (0 first, as sampled_from would shrink)."""
    return draw(st.integers(0, n - 1))


def nanochat_step(draw: st.DrawFn, step: int) -> str:
    tok = draw(_TOK)
    grad = f" | grad norm: {value(draw)}" if draw(st.booleans()) else ""
    total = draw(_NANOCHAT_TOTALS)
    return (f"step {step:05d}{total} ({unsigned(draw)}%) | loss: {value(draw)}{grad} | lrm: {value(draw)} | "
            f"dt: {value(draw)}ms | tok/sec: {tok:,} | mfu: {value(draw)} | total time: {value(draw)}m")


def llmc_step(draw: st.DrawFn, step: int) -> str:
    """A step line of llm.c (train_gpt2.cu, train_gpt2.py, main.log) or build-nanogpt (stdout, log.txt)."""
    form = pick(draw, 6)
    if form == 0:
        tail = "" if pick(draw, 2) == 0 else f" lr:{value(draw)} norm:{value(draw)}"
        return f"s:{step} trl:{value(draw)}{tail}"
    if form == 1:
        return (f"step {step:4d}/{draw(_TOTAL)} | train loss {value(draw)} | norm {value(draw)} | "
                f"lr {lr(draw)} | ({value(draw)} ms | {unsigned(draw)} tok/s)")
    if form == 2:
        return f"{step} train {value(draw)}"
    if form == 3:
        template = pick(draw, 5)
        if template == 0:
            return (f"step {step:5d} | loss: {value(draw)} | lr {lr(draw)} | norm: {value(draw)} | dt: {value(draw)}ms | "
                    f"tok/sec: {unsigned(draw)}")
        if template == 1:
            return f"step {step:4d} | loss: {value(draw)} | norm: {value(draw)} | dt: {value(draw)}ms | tok/sec: {unsigned(draw)}"
        if template == 2:
            return f"step {step} | loss: {value(draw)} | dt: {value(draw)}ms | tok/sec: {unsigned(draw)}"
        if template == 3:
            return f"step {step}, loss: {value(draw)}, dt: {value(draw)}ms, tok/sec: {unsigned(draw)}"
        return f"step {step}, loss: {value(draw)}"
    z = pick(draw, 3)
    zs = "+nanz" if z == 0 else f"{draw(_Z):+.2f}z" if z == 1 else f"{value(draw)}z"
    return (f"step {step:4d}/{draw(_TOTAL)} | loss {value(draw)} ({zs})| norm {value(draw)} ({zs})| "
            f"lr {lr(draw)} | {value(draw)} ms | {value(draw)}% bf16 MFU | {unsigned(draw)} tok/s")


def lr(draw: st.DrawFn) -> str:
    return f"{draw(_UNIT):.2e}" if pick(draw, 2) == 0 else value(draw)


def modded_step(draw: st.DrawFn, step: int) -> str:
    loss = f"train_loss:{value(draw)} " if draw(st.booleans()) else ""
    avg = "nan" if pick(draw, 2) == 0 else unsigned(draw)
    if draw(_MODDED_KINDS) == "val":
        return f"step:{step}/{draw(_TOTAL_MODDED)} val_loss:{value(draw)} train_time:{unsigned(draw)}ms step_avg:{avg}ms"
    return f"step:{step}/{draw(_TOTAL_MODDED)} {loss}train_time:{value(draw)}ms step_avg:{avg}ms"


def nanogpt_step(draw: st.DrawFn, step: int) -> str:
    if draw(st.integers(0, 7)) == 0:
        return f"step {step}: train loss {value(draw)}, val loss {value(draw)}"
    form = pick(draw, 3)
    mfu = "" if form == 0 else f", mfu {value(draw)}%" if form == 1 else ", mfu -100.00%"
    return f"iter {step}: loss {value(draw)}, time {value(draw)}ms{mfu}"


STEP_LINES = {"nanogpt": nanogpt_step, "nanochat": nanochat_step, "llmc": llmc_step, "modded": modded_step}
OTHER_LINES = {
    "nanogpt": ["step 250: train loss 3.1, val loss 3.2", "saving checkpoint to out", "Overriding: max_iters = 5000",
                "iter 7: loss nan, time 3.0ms, mfu 5.0%", "/x/train.py:1: UserWarning: w", "RuntimeError: boom"],
    "nanochat": ["Step 00250 | Validation bpb: 0.9512", "Step 02000 | CORE metric: 0.2", "Overriding: depth = 20",
                 "Step 00001/00651 | Training loss: 0.84| lrm: 1.0", "^[[Astep 00002/21400 (0.01%) | loss: 3.0"],
    "llmc": ["val loss 3.2511", "s:250 tel:3.30", "HellaSwag: 2500/10042 = 0.249", "| train_num_batches | 74 |",
             "Writing checkpoint at step 250", "Traceback (most recent call last):", "RuntimeError: boom",
             "validation loss: 3.2", "HellaSwag accuracy: 2982/10042=0.2970", "250 val 3.2", "250 hella 0.29"],
    "modded": ["import os", "Running Python 3.12", "Sampling steps [0, 1, 458, 459, 460, 461] for warmup",
               "Compiling model and warming up kernels", "step:0/1390 val_loss:10.83 train_time:0ms step_avg:nanms"],
}


_MOVES = st.sampled_from([1, 1, 1, 10, 0, -3, -(10**5)])


@st.composite
def stretch(draw: st.DrawFn, family: str) -> list[bytes]:
    """Step lines whose steps mostly go up, and may repeat or go back."""
    step = draw(st.integers(0, 10**5))
    out = []
    for _ in range(draw(st.integers(1, 40))):
        step = max(0, step + draw(_MOVES))
        line = STEP_LINES[family](draw, step).encode()
        kind = draw(st.integers(0, 11))
        # CRLF; a printed time before the line (it moves the clock: what came before is folded in first)
        out.append(line + b"\r" if kind == 0 else b"2026-11-30 10:%02d:00 " % (step % 60) + line if kind == 1 else line)
    return out


#: A crash the run then goes on after (the rows after it note that: they fold in in order).
CRASH = "Traceback (most recent call last):\n  File \"train.py\", line 1, in <module>\nRuntimeError: boom"


def _logs(family: str) -> st.SearchStrategy[list[bytes]]:
    single = st.one_of(st.sampled_from([text.encode() for text in [*OTHER_LINES[family], CRASH]]), noise)
    parts = st.lists(st.one_of(single.map(lambda text: text.split(b"\n")), stretch(family)), min_size=1, max_size=10)
    return parts.map(lambda ps: [line for part in ps for line in part])


LOGS = {family: _logs(family) for family in STEP_LINES}
_RANK_TAGS = st.sampled_from([b"[rank%d]: ", b"[default%d]:", b"[1,%d]<stdout>: ", b"%d: "])


@st.composite
def cases(draw: st.DrawFn) -> tuple[str, list[bytes], list[int]]:
    """A family, a log of its lines, and where the log is cut into blocks."""
    family = draw(st.sampled_from(list(STEP_LINES)))
    lines = draw(LOGS[family])
    if draw(st.integers(0, 3)) == 0:  # a launcher's rank tag before every line (the bulk path reads without them)
        tag = draw(_RANK_TAGS)
        lines = [tag % draw(st.integers(0, 1)) + line for line in lines]
    return family, lines, draw(st.lists(st.integers(0, len(lines)), max_size=3))


_LLMC_STEP = b"step    1/9 | loss 3.1 (+0.10z)| norm 0.5 (+0.00z)| lr 6.00e-04 | 40.5 ms | 31.2% bf16 MFU | 9 tok/s"
_NANOCHAT_STEP = b"step %05d/21400 (0.10%%) | loss: -47189 | lrm: 1.0 | dt: 4.5ms | tok/sec: 1,000 | mfu: 9.1 | total time: 0.1m"


# print_blob: a failure prints the @reproduce_failure blob that replays its very example (one was
# seen once in a combined run and never again; see test_bulk_columns_do_not_depend_on_the_hash_seed).
@settings(SETTINGS, max_examples=3 * SETTINGS.max_examples, print_blob=True)
# The first logger line after stdout's steps: it says the logger counts from 0, a new run.
@example(case=("llmc", [_LLMC_STEP, b"s:2 trl:3.0"], []), t=None, piece_bytes=1 << 22)
# A negative number without a point.
@example(case=("nanochat", [_NANOCHAT_STEP % 1, _NANOCHAT_STEP % 2], []), t=None, piece_bytes=1 << 22)
@given(case=cases(), t=st.none() | st.floats(0, 2e9), piece_bytes=st.sampled_from([1 << 22, 1, 300]))
def test_bulk_path_is_the_line_path(case: tuple[str, list[bytes], list[int]], t: float | None, piece_bytes: int) -> None:
    family, lines, cuts = case
    one_by_one = session(family)
    for line in lines:
        one_by_one.feed(line, t)
    bulk = session(family)
    with bulk_sizes(piece_bytes, scan_min_lines=1):
        for a, b in itertools.pairwise(sorted({0, len(lines), *cuts})):
            bulk.feed_block(b"".join(line + b"\n" for line in lines[a:b]), t)
    same_state(bulk, one_by_one)


def test_rank_tags_time_and_name_ranks_as_the_line_path() -> None:
    """A block opening with a rank tag: its tagged step lines print no time, and decide nothing
    of the printed times (a later timed step line does, on both paths); a tagged error keeps
    its rank."""
    step = b"[rank0]: iter %d: loss 3.0, time 10.0ms, mfu 5.0%%"
    lines = [step % i for i in range(5)]
    lines += [b"[rank0]: 2026-11-30 10:00:%02d " % i + (step % i)[9:] for i in range(5, 10)]
    lines += [b"[rank1]: Traceback (most recent call last):", b'[rank1]:   File "train.py", line 1, in <module>',
              b"[rank1]: RuntimeError: boom"]
    by_line = session("nanogpt")
    for line in lines:
        by_line.feed(line, 100.0)
    bulk = session("nanogpt")
    with bulk_sizes(scan_min_lines=1):
        bulk.feed_block(b"".join(line + b"\n" for line in lines), 100.0)
    same_state(bulk, by_line)
    assert bulk.printed_clock.in_use and bulk.state.current.error == "RuntimeError: boom (rank 1)"


_COLUMNS_DIGEST = """
import hashlib, sys
import numpy as np
from monitor.core.formats import FAMILIES
from monitor.core.lines import line_bounds
data = b"".join(open(path, "rb").read() for path in sys.argv[1:])
starts, ends = line_bounds(data)
digest = hashlib.sha256()
for family in FAMILIES.values():
    if family.scan_iterations is not None:
        cols = family.scan_iterations(data, starts, ends)
        for column in (cols.ok, cols.iter, cols.loss, cols.step_time_s, cols.mfu, cols.train_time_s, cols.max_iters):
            digest.update(b"-" if column is None else np.ascontiguousarray(column).tobytes())
print(digest.hexdigest())
"""


def test_bulk_columns_do_not_depend_on_the_hash_seed() -> None:
    """The bulk readers visit a buffer's layouts in set order, which the hash seed of each
    process decides: the columns they read must not depend on it (every family's reader, over
    logs of many layouts)."""
    paths = [str(ROOT / p) for p in ("sample_logs/nanochat/jonhenshaw_speedrun_gradnorm_aborted.log",
                                     "sample_logs/modded_nanogpt/mng_2026-07-17_current_format.log",
                                     "tests/data/llmc_train_gpt2py/h200_d12_finished.log",
                                     "sample_logs/field/buildnanogpt_2n8g_smaller_slurm_stdout_excerpt.log")]
    digests = {subprocess.run([sys.executable, "-c", _COLUMNS_DIGEST, *paths], capture_output=True, text=True,
                              check=True, cwd=ROOT, env={**os.environ, "PYTHONHASHSEED": str(seed)}).stdout
               for seed in (1, 2, 3)}
    assert len(digests) == 1 and len(digests.pop().strip()) == 64


def same_state(bulk: Session, by_line: Session) -> None:
    """The two sessions hold the same run state; the cheapest difference is named first, in
    a short message (the shrinker calls this for every log it tries)."""
    for what, a, b in (("lines", bulk.state.lines, by_line.state.lines), ("format", bulk.format, by_line.format),
                       ("runs", len(bulk.state.runs), len(by_line.state.runs))):
        if a != b:
            raise AssertionError(f"bulk and line paths differ: {what} {a!r} vs {b!r}")
    for i, (a, b) in enumerate(zip(*(fingerprint(s)[2] for s in (bulk, by_line)))):
        fields = [k for (k, x), (_, y) in zip(a, b) if x != y]
        if fields:
            raise AssertionError(f"bulk and line paths differ: run {i}'s {', '.join(fields)}")


@pytest.mark.parametrize(("family", "path", "share"), [
    ("nanochat", "sample_logs/nanochat/chirag9127_speedrun_d20.log", 0.93),
    ("nanochat", "sample_logs/nanochat/jonhenshaw_speedrun_gradnorm_aborted.log", 0.99),
    ("llmc", "sample_logs/llmc/llmc_main_log_gpt2_124M_8xH100.log", 0.99),
    ("llmc", "tests/data/llmc_train_gpt2py/h200_d12_finished.log", 0.99),
    ("llmc", "sample_logs/field/buildnanogpt_2n8g_smaller_slurm_stdout_excerpt.log", 0.99),
    ("llmc", "sample_logs/field/buildnanogpt_2n8g_smaller_log_txt_excerpt.log", 0.99),
    ("modded", "sample_logs/modded_nanogpt/mng_2024-10-20_ScaleUp1B_20344steps.log", 0.99),
    ("modded", "sample_logs/modded_nanogpt/mng_2026-07-17_current_format.log", 0.99),
])
def test_real_step_lines_are_read_in_bulk(family: str, path: str, share: float) -> None:
    """The property above is only as good as the readers' reach: real step lines qualify
    (CRLF included; the rest are evals, other stages and the first steps' nan fields)."""
    data = (ROOT / path).read_bytes()
    starts, ends = line_bounds(data)
    cols = FAMILIES[family].scan_iterations(data, starts, ends)  # type: ignore[misc]
    step_lines = sum(1 for line in split_lines(data) if line.startswith((b"step", b"s:")) and b"val" not in line
                     and b"tel:" not in line or b" train " in line)
    assert cols.ok.sum() >= share * step_lines
    whole = session(family)
    with bulk_sizes():
        whole.feed_block(data)
    by_line = session(family)
    for line in split_lines(data):
        by_line.feed(line)
    same_state(whole, by_line)
