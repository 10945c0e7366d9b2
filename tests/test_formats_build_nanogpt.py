"""karpathy/build-nanogpt's train_gpt2.py, read under llmc (llm.c's train_gpt2.py grew from it): its
stdout of every form its history printed, its log/log.txt, and what they say of the run."""

from __future__ import annotations

import pytest
from conftest import FakeClock
from hypothesis import given, settings
from hypothesis import strategies as st
from test_bulk_families import same_state
from test_hostile import SETTINGS as HOSTILE
from test_hostile import bulk_sizes, noise, numbers, session

from monitor.core.events import ConfigValue, Eval, Iteration, TokensPerIter
from monitor.core.formats import AutoParser, llmc
from monitor.core.report import Options
from monitor.session import Session

SETTINGS = (ConfigValue("zero_based", True), ConfigValue("final_iter_offset", 1), ConfigValue("eval_in_step_time", True))


@pytest.mark.parametrize(("line", "step", "loss", "step_time_s"), [
    # today's: f"step {step:5d} | loss: {loss:.6f} | lr {lr:.4e} | norm: {norm:.4f} | dt: {dt*1000:.2f}ms | tok/sec: …"
    ("step 19072 | loss: 3.567126 | lr 6.0000e-05 | norm: 0.7298 | dt: 10752.14ms | tok/sec: 48761.26", 19072, 3.567126, 10.75214),
    ("step     0 | loss: 10.890430 | lr 8.3916e-07 | norm: 6.5682 | dt: 10578.11ms | tok/sec: 49563.48", 0, 10.89043, 10.57811),
    # the video's earlier commits, which forks froze: no lr, no norm; `step {i}, loss: …`
    ("step   12 | loss: 6.123456 | norm: 1.2345 | dt: 333.10ms | tok/sec: 49186.12", 12, 6.123456, 0.3331),
    ("step 3 | loss: 7.002 | dt: 1042.50ms | tok/sec: 15716.07", 3, 7.002, 1.0425),
    ("step 49, loss: 6.5713677406311035, dt: 1210.52ms, tok/sec: 13535.11", 49, 6.5713677406311035, 1.21052),
    ("step 0, loss: 10.98", 0, 10.98, None),
    ("step 5 | loss: nan | lr 6.0000e-04 | norm: nan | dt: 155.00ms | tok/sec: 1.0", 5, float("nan"), 0.155),
])
def test_step_lines_of_every_form(line: str, step: int, loss: float, step_time_s: float | None) -> None:
    events = llmc.Parser().parse(line)
    assert isinstance(events, tuple) and events[:3] == SETTINGS  # the first line says how it counts
    it = events[3]
    assert isinstance(it, Iteration) and it.iter == step and it.mfu is None and it.max_iters is None
    assert it.loss == pytest.approx(loss, nan_ok=True)
    assert it.step_time_s == (None if step_time_s is None else pytest.approx(step_time_s))
    assert llmc.sniff(line) == 3


def test_stdout_evals_belong_to_the_step_they_precede() -> None:
    """The eval runs at the top of its step, before that step's line (and inside its dt)."""
    parser = llmc.Parser()
    assert parser.parse("total desired batch size: 524288") == TokensPerIter(524288)
    assert parser.parse("=> calculated gradient accumulation steps: 32") == ConfigValue("gradient_accumulation_steps", 32)
    assert parser.parse("validation loss: 10.8906") == (*SETTINGS, Eval(0, 10.8906))
    assert parser.parse("HellaSwag accuracy: 2503/10042=0.2493") == Eval(0, None, metric="HellaSwag", score=0.2493)
    parser.parse("step   249 | loss: 6.466522 | lr 2.0979e-04 | norm: 0.8814 | dt: 159.04ms | tok/sec: 3296673.91")
    assert parser.parse("validation loss: 6.5193") == Eval(250, 6.5193)
    assert parser.parse("HellaSwag accuracy: 2454/10042=0.2444") == Eval(250, None, metric="HellaSwag", score=0.2444)


def test_log_txt_lines() -> None:
    parser = llmc.Parser()
    assert parser.parse("0 val 10.8906") == (*SETTINGS, Eval(0, 10.8906))
    assert parser.parse("0 hella 0.2493") == Eval(0, None, metric="HellaSwag", score=0.2493)
    assert parser.parse("0 train 10.890430") == Iteration(0, 10.89043)
    assert parser.parse("19072 train 3.567126") == Iteration(19072, 3.567126)
    assert parser.parse("19072 train 3.5 extra") is None


@pytest.mark.parametrize("line", ["step 1/74: train loss 4.6 (took 80 ms)", "step 0: train loss 4.28, val loss 4.28",
                                  "step 00100/21400 (0.47%) | loss: 3.2 | dt: 476.00ms", "300 | loss 6.81 | lr 1e-4 | 8101.10ms",
                                  "step:1/1390 train_time:151ms step_avg:nanms", "100 train_loss: 3.0 train_time: 0.8m"])
def test_other_trainers_lines_are_not_build_nanogpts(line: str) -> None:
    assert llmc._BUILD_STEP.match(line) is None and llmc._BUILD_LOG.match(line) is None


STDOUT = """using device: cuda
total desired batch size: 524288
=> calculated gradient accumulation steps: 32
found 99 shards for split train
found 1 shards for split val
num decayed parameter tensors: 50, with 124,354,560 parameters
num non-decayed parameter tensors: 98, with 121,344 parameters
using fused AdamW: True
validation loss: 10.9499
HellaSwag accuracy: 2504/10042=0.2494
step     0 | loss: 10.955019 | lr 8.3916e-07 | norm: 15.3426 | dt: 75229.21ms | tok/sec: 6969.21
step     1 | loss: 10.902682 | lr 1.6783e-06 | norm: 14.8635 | dt: 10453.95ms | tok/sec: 50152.16
step     2 | loss: 10.803941 | lr 2.5175e-06 | norm: 14.4644 | dt: 10473.97ms | tok/sec: 50056.27""".splitlines()


def test_a_run_reads_as_llmc_counting_from_zero_to_max_steps_less_one() -> None:
    """max_steps is hard-coded (19073) and never printed: with --max-iters 19073 the run's last
    step is 19072 and its tokens are 19073 steps of the printed batch."""
    s = Session(Options(max_iters=19073), FakeClock())
    for line in STDOUT:
        s.feed(line)
    snap = s.snapshot()
    assert (s.format, snap.iter, snap.max_iters, snap.tokens_per_iter) == ("llmc", 2, 19073, 524288)
    assert snap.progress == pytest.approx(2 / 19072)  # of the way to the last step
    assert snap.tokens_total == 19073 * 524288


def test_without_max_steps_nothing_is_made_up() -> None:
    s = Session(Options(), FakeClock())
    for line in STDOUT:
        s.feed(line)
    snap = s.snapshot()
    assert snap.max_iters is None and any("max_iters unknown" in w for w in snap.warnings)


def test_the_eval_in_a_steps_dt_is_a_pause_not_the_pace() -> None:
    """dt at an eval step holds the eval (~9.6 s against ~0.16 s): the pause, not the step time."""
    lines = [f"step {i:5d} | loss: 5.0 | lr 6.0e-04 | norm: 1.0 | dt: 160.00ms | tok/sec: 3276800.00" for i in range(1, 250)]
    lines += ["validation loss: 6.5193", "HellaSwag accuracy: 2454/10042=0.2444",
              "step   250 | loss: 5.0 | lr 6.0e-04 | norm: 1.0 | dt: 9760.00ms | tok/sec: 53718.03"]
    lines += [f"step {i:5d} | loss: 5.0 | lr 6.0e-04 | norm: 1.0 | dt: 160.00ms | tok/sec: 3276800.00" for i in range(251, 300)]
    s = Session(Options(max_iters=19073), FakeClock())
    for line in ["validation loss: 10.9", *lines]:
        s.feed(line)
    snap = s.snapshot()
    assert snap.step_time_s == pytest.approx(0.16, rel=0.01)
    assert snap.eval_time_s == pytest.approx(9.6, rel=0.02)


def test_detected_after_shared_start_up_lines() -> None:
    auto = AutoParser()
    for line in STDOUT[:10]:
        auto.feed(None, line)
    assert not auto.decided
    auto.feed(None, STDOUT[10])
    assert auto.name == "llmc" and auto.decided


# --- the bulk path ------------------------------------------------------------------------------
# bulk.llmc reads the step lines of train_gpt2.cu, train_gpt2.py, the logger and build-nanogpt (stdout and
# log.txt); the first logger and build-nanogpt line of a buffer, and every other line, are left to
# the parser. Whatever the mix, and whatever detection guessed first, the bulk path must leave the
# run state the line path leaves.

value = st.one_of(st.floats(0, 1e4, allow_nan=False).map(lambda x: f"{x:.6f}"), numbers)


@st.composite
def llmc_line(draw: st.DrawFn, step: int) -> str:
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return f"{step} {draw(st.sampled_from(['train', 'val', 'hella']))} {draw(value)}"
    if kind == 1:
        return draw(st.sampled_from([f"validation loss: {draw(value)}", f"HellaSwag accuracy: 2454/10042={draw(value)}",
                                     f"step {step}, loss: {draw(value)}", f"s:{step} trl:{draw(value)}",
                                     f"val loss {draw(value)}"]))
    if kind == 2:
        return (f"step {step:4d}/{draw(st.integers(1, 10**5))} | train loss {draw(value)} | norm {draw(value)} | "
                f"lr 6.00e-04 | ({draw(value)} ms | 162318 tok/s)")
    if kind == 3:
        return (f"step {step:4d}/{draw(st.integers(1, 10**5))} | loss {draw(value)} (+0.01z)| norm {draw(value)} (+0.00z)| "
                f"lr 6.00e-04 | {draw(value)} ms | 31.2% bf16 MFU | 9 tok/s")
    return f"step {step:5d} | loss: {draw(value)} | lr 6.0000e-04 | norm: {draw(value)} | dt: {draw(value)}ms | tok/sec: 1.00"


START = ["using fused AdamW: True", "total desired batch size: 524288", "=> calculated gradient accumulation steps: 2",
         "tokens per iteration will be: 16,384", "Created a PretokDataset with rng seed 42", "Autodetected device type: cuda",
         "iter 0: loss 4.2649, time 29548.09ms, mfu -100.00%", "step:1/1390 train_time:151ms step_avg:nanms"]


@st.composite
def logs(draw: st.DrawFn) -> list[bytes]:
    out = [line.encode() for line in draw(st.lists(st.sampled_from(START), max_size=3))]
    step = draw(st.integers(0, 10**4))
    for _ in range(draw(st.integers(1, 40))):
        step = max(0, step + draw(st.sampled_from([1, 1, 1, 250, 0, -3])))
        out.append(draw(st.one_of(llmc_line(step).map(str.encode), noise)) if draw(st.integers(0, 5)) else
                   draw(st.sampled_from(START)).encode())
    return out


@settings(HOSTILE)
@given(lines=logs(), fmt=st.sampled_from(["auto", "llmc"]), piece_bytes=st.sampled_from([1 << 22, 1, 300]))
def test_bulk_path_is_the_line_path(lines: list[bytes], fmt: str, piece_bytes: int) -> None:
    by_line = session(fmt)
    for line in lines:
        by_line.feed(line)
    bulk = session(fmt)
    with bulk_sizes(piece_bytes, scan_min_lines=1):
        bulk.feed_block(b"".join(line + b"\n" for line in lines))
    same_state(bulk, by_line)
