"""Family detection: a start-up line several families print is a guess, the first step line decides
(and the settings read before it stay); every pair of families whose lines can collide."""

from __future__ import annotations

import itertools
import json

import pytest
from conftest import FakeClock

from monitor.core.events import ConfigValue, Eval, Iteration, TokensPerIter
from monitor.core.formats import FAMILIES, AutoParser, evidence
from monitor.core.formats.common import OWN, SHARED, STEP
from monitor.core.report import Options
from monitor.session import Session

#: A start-up line that names each family only weakly (another family prints it too), with who
#: else prints it.
SHARED_START = {
    "nanogpt": ["using fused AdamW: True",  # model.py; llama2.c, llm.c's train_gpt2.py, build-nanogpt
                "compiling the model... (takes a ~minute)",  # train.py; llama2.c
                "Initializing a new model from scratch",  # train.py; llama2.c
                "tokens per iteration will be: 16,384",  # train.py; llama2.c
                "Overriding config with config/train_shakespeare_char.py:",  # configurator.py; llama2.c
                "step 0: train loss 4.2874, val loss 4.2823"],  # the eval line; llama2.c
    "llmc": ["total desired batch size: 524288",  # llm.c's train_gpt2.py; build-nanogpt, modded-nanogpt's first scripts
             "=> calculated gradient accumulation steps: 32",
             "validation loss: 10.9499",
             "HellaSwag accuracy: 2504/10042=0.2494"],
}
#: A line only that family prints, before its steps.
OWN_START = {
    "nanogpt": "Initializing from OpenAI GPT-2 weights: gpt2",
    "llmc": "| Parameter             | Value                                              |",
    "nanochat": "Autodetected device type: cuda",
    "llama2c": "Created a PretokDataset with rng seed 42",
}
#: The first step line of each family (of each script a family reads).
FIRST_STEP = {
    "nanogpt": "iter 0: loss 4.2649, time 29548.09ms, mfu -100.00%",
    "nanochat": "step 00000/21400 (0.00%) | loss: 11.090355 | lrm: 1.00 | dt: 26583.82ms | tok/sec: 19,722 | mfu: 0.86 | total time: 0.00m",
    "llmc": "step    1/400 | train loss 11.118857 | norm 50.8629 | lr 1.50e-05 | (3846.02 ms | 17040 tok/s)",
    "modded": "step:1/1390 train_time:151ms step_avg:nanms",
    "llama2c": "0 | loss 10.4211 | lr 0.000000e+00 | 16553.65ms | mfu -100.00%",
}
#: The start-up lines nanowatch reads a setting from, and the setting: kept when a step line of
#: another family takes over.
SETTING = {
    "nanogpt": ("tokens per iteration will be: 16,384", TokensPerIter(16384)),
    "llmc": ("total desired batch size: 524288", TokensPerIter(524288)),
}


def test_every_family_rates_its_lines() -> None:
    for name, lines in SHARED_START.items():
        assert all(FAMILIES[name].sniff(line) == SHARED for line in lines), name
    for name, line in OWN_START.items():
        assert FAMILIES[name].sniff(line) == OWN, name
    for name, line in FIRST_STEP.items():
        assert evidence(line) == (name, STEP), name


PAIRS = [(a, line, b) for a, lines in SHARED_START.items() for line in lines for b in FIRST_STEP if b != a]


@pytest.mark.parametrize(("guess", "start", "family"), PAIRS, ids=[f"{a}:{line[:24]}->{b}" for a, line, b in PAIRS])
def test_a_shared_start_up_line_gives_way_to_the_first_step_line(guess: str, start: str, family: str) -> None:
    auto = AutoParser()
    auto.feed(None, start)
    assert auto.name == guess and not auto.decided
    events = [e for _, e in auto.feed(None, FIRST_STEP[family])]
    assert auto.name == family and auto.decided
    assert any(isinstance(e, Iteration) for e in events)


OWN_PAIRS = [(a, line, b) for a, lines in SHARED_START.items() for line in lines[:1] for b in OWN_START if b != a]


@pytest.mark.parametrize(("guess", "start", "family"), OWN_PAIRS, ids=[f"{a}->{b}" for a, _, b in OWN_PAIRS])
def test_a_line_only_one_family_prints_outweighs_a_shared_one(guess: str, start: str, family: str) -> None:
    auto = AutoParser()
    auto.feed(None, start)
    auto.feed(None, OWN_START[family])
    assert auto.name == family and not auto.decided


@pytest.mark.parametrize(("a", "b"), [(a, b) for a, b in itertools.permutations(FIRST_STEP, 2)])
def test_a_decided_family_stays_whatever_follows(a: str, b: str) -> None:
    auto = AutoParser()
    auto.feed(None, FIRST_STEP[a])
    auto.feed(None, SHARED_START["nanogpt"][0])
    auto.feed(None, OWN_START.get(b, FIRST_STEP[b]))
    assert auto.name == a


@pytest.mark.parametrize("guess", list(SETTING))
def test_settings_read_under_a_guess_stay_and_nothing_is_given_twice(guess: str) -> None:
    line, setting = SETTING[guess]
    other = "llmc" if guess == "nanogpt" else "nanogpt"
    auto = AutoParser()
    first = [e for _, e in auto.feed(None, line)]
    assert setting in first
    taken = [e for _, e in auto.feed(None, FIRST_STEP[other])]
    assert auto.name == other
    assert setting not in taken  # given once: the run keeps it
    s = Session(Options(), FakeClock())
    for text in (line, FIRST_STEP[other]):
        s.feed(text)
    assert s.format == other and s.state.current.tokens_per_iter == setting.tokens


def test_the_family_that_takes_over_reads_the_kept_lines_again() -> None:
    """llm.c's train_gpt2.py: its batch line, then nanoGPT's optimizer line, then a val line
    (llm.c's, unread under the nanoGPT guess) and the first step."""
    auto = AutoParser()
    given = []
    for line in ("using fused AdamW: True", "total desired batch size: 65536", "=> calculated gradient accumulation steps: 4",
                 "val loss 11.116883039474487", FIRST_STEP["llmc"]):
        given += [e for _, e in auto.feed(None, line)]
    assert auto.name == "llmc"
    assert given == [TokensPerIter(65536), ConfigValue("gradient_accumulation_steps", 4),
                     Eval(0, 11.116883039474487), ConfigValue("eval_step_offset", 1), ConfigValue("eval_in_step_time", True),
                     Iteration(1, 11.118857, pytest.approx(3.84602), None, 400)]


LLMC_TRAIN_GPT2_PY = """Running pytorch 2.11.0+cu130
using device: cuda
total desired batch size: 65536
=> calculated gradient accumulation steps: 4
DataLoader: total number of tokens: 1,003,854 across 1 files
DataLoader: total number of tokens: 111,540 across 1 files
num decayed parameter tensors: 50, with 124,318,464 parameters
num non-decayed parameter tensors: 98, with 121,344 parameters
using fused AdamW: True
using regular AdamW
val loss 11.116883039474487
step    1/400 | train loss 11.118857 | norm 50.8629 | lr 1.50e-05 | (3846.02 ms | 17040 tok/s)
step    2/400 | train loss 9.386082 | norm 26.6985 | lr 3.00e-05 | (404.55 ms | 161995 tok/s)
step    3/400 | train loss 8.243235 | norm 16.0721 | lr 4.50e-05 | (402.72 ms | 162734 tok/s)""".splitlines()


@pytest.mark.parametrize("bulk", [False, True])
def test_llmc_train_gpt2py_reads_as_llmc_by_default(bulk: bool) -> None:
    """The recorded H200 run of llm.c's train_gpt2.py: it prints nanoGPT's `using fused AdamW:`
    before its first step; that line had made it nanoGPT, with no iteration read."""
    s = Session(Options(), FakeClock())
    if bulk:
        s.feed_block("\n".join(LLMC_TRAIN_GPT2_PY).encode() + b"\n")
    else:
        for line in LLMC_TRAIN_GPT2_PY:
            s.feed(line)
    snap = s.snapshot()
    assert (s.format, snap.iter, snap.max_iters, snap.tokens_per_iter) == ("llmc", 3, 400, 65536)
    assert [e.val_loss for e in s.state.current.evals] == [11.116883039474487]


def test_the_bulk_reader_waits_for_the_deciding_step_line() -> None:
    auto = AutoParser()
    auto.feed(None, "using fused AdamW: True")
    assert auto.scan_iterations is None  # nanoGPT's guess: its bulk reader would read only its own lines
    auto.feed(None, FIRST_STEP["nanogpt"])
    assert auto.scan_iterations is FAMILIES["nanogpt"].scan_iterations


@pytest.mark.parametrize(("name", "status", "iter_", "max_iters"), [("h200_d12_finished.log", "finished", 400, 400),
                                                                    ("h200_d12_interrupted.log", "interrupted", 600, 700)])
def test_recorded_llmc_train_gpt2py_runs_read_right_by_default(name: str, status: str, iter_: int, max_iters: int,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    from pathlib import Path

    from monitor.cli import main

    path = Path(__file__).parent / "data" / "llmc_train_gpt2py" / name
    assert main(["replay", str(path), "--once", "--json", "--no-gpu"]) in (0, None)
    record = json.loads(capsys.readouterr().out)
    assert (record["format"], record["status"], record["iter"], record["max_iters"]) == ("llmc", status, iter_, max_iters)
    assert record["tokens_per_iter"] == 65536 and record["step_time_s"] == pytest.approx(0.405, rel=0.02)
