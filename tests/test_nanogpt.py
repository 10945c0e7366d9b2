"""The nanoGPT parser: every kind of line train.py, model.py and configurator.py print."""

from __future__ import annotations

import math

import pytest

from monitor.core.events import (
    Checkpoint,
    Compiling,
    ConfigValue,
    Crash,
    Eval,
    Iteration,
    ModelInit,
    Params,
    PyWarning,
    RunStarted,
    TokensPerIter,
    TracebackStarted,
    VocabSize,
)
from monitor.core.formats.nanogpt import Parser, final_iter, sniff


def parse(*lines: str) -> list:
    p = Parser()
    return [e for e in (p.parse(line) for line in lines) if e is not None]


def test_iteration_line_with_mfu() -> None:
    assert parse("iter 10: loss 3.1462, time 12.53ms, mfu 29.74%") == [
        Iteration(iter=10, loss=3.1462, step_time_s=0.01253, mfu=0.2974)
    ]


def test_mfu_sentinel_is_unknown() -> None:
    (e,) = parse("iter 0: loss 4.2667, time 36260.58ms, mfu -100.00%")
    assert e.mfu is None and e.step_time_s == pytest.approx(36.26058)


def test_older_iteration_line_without_mfu() -> None:
    (e,) = parse("iter 250: loss 2.0429, time 2573.69ms")
    assert e == Iteration(iter=250, loss=2.0429, step_time_s=2.57369, mfu=None)


def test_nan_loss_is_kept_as_nan() -> None:
    (e,) = parse("iter 425: loss nan, time 1440.00ms, mfu 0.01%")
    assert math.isnan(e.loss) and e.iter == 425


def test_bpc_variant() -> None:
    assert parse("iter 10: loss 9.8637 BPC, time 55.66ms, mfu 8.00%")[0].loss == 9.8637
    assert parse("step 0: train loss 12.5739 BPC, val loss 12.5744 BPC") == [
        Eval(iter=0, train_loss=12.5739, val_loss=12.5744)
    ]


def test_eval_and_checkpoint_lines() -> None:
    assert parse("step 250: train loss 1.9765, val loss 2.0727", "saving checkpoint to out-shakespeare-char") == [
        Eval(iter=250, train_loss=1.9765, val_loss=2.0727),
        Checkpoint(path="out-shakespeare-char"),
    ]


def test_config_dump_and_overrides() -> None:
    events = parse(
        "Overriding config with config/train_shakespeare_char.py:",
        "# train a miniature character-level shakespeare model",
        "",
        "out_dir = 'out-shakespeare-char'",
        "eval_interval = 250 # keep frequent because we'll overfit",
        "gradient_accumulation_steps = 5 * 8",
        "learning_rate = 1e-3 # with baby networks can afford to go a bit higher",
        "compile = False",
        "Overriding: max_iters = 2000",
        "tokens per iteration will be: 16,384",
    )
    assert events == [
        RunStarted("Overriding config with config/train_shakespeare_char.py:"),
        ConfigValue("out_dir", "out-shakespeare-char"),
        ConfigValue("eval_interval", 250),
        ConfigValue("gradient_accumulation_steps", 40),
        ConfigValue("learning_rate", 1e-3),
        ConfigValue("compile", False),
        ConfigValue("max_iters", 2000),
        TokensPerIter(16384),
    ]


def test_assignment_outside_the_config_dump_is_not_config() -> None:
    assert parse("eval_interval = 250") == []


def test_startup_lines() -> None:
    assert parse(
        "found vocab_size = 65 (inside data/shakespeare_char/meta.pkl)",
        "Initializing a new model from scratch",
        "Resuming training from out-shakespeare-char",
        "Initializing from OpenAI GPT-2 weights: gpt2-xl",
        "number of parameters: 10.65M",
        "compiling the model... (takes a ~minute)",
    ) == [
        VocabSize(65),
        ModelInit("scratch"),
        ModelInit("resume", "out-shakespeare-char"),
        ModelInit("pretrained", "gpt2-xl"),
        Params(10_650_000),
        Compiling(),
    ]


def test_python_warning() -> None:
    line = (
        "/home/user/nanoGPT/train.py:196: FutureWarning: `torch.cuda.amp.GradScaler(args...)` is deprecated."
    )
    assert parse(line, "  scaler = torch.cuda.amp.GradScaler(enabled=(dtype == 'float16'))") == [
        PyWarning("FutureWarning", "`torch.cuda.amp.GradScaler(args...)` is deprecated.")
    ]


def test_keyboard_interrupt_traceback_with_chained_exception() -> None:
    events = parse(
        "Traceback (most recent call last):",
        '  File "/home/user/nanoGPT/train.py", line 125, in get_batch',
        "    y = torch.stack([...])",
        "KeyboardInterrupt",
        "",
        "During handling of the above exception, another exception occurred:",
        "",
        "Traceback (most recent call last):",
        '  File "/home/user/nanoGPT/train.py", line 264, in <module>',
        "KeyboardInterrupt",
    )
    assert events == [
        TracebackStarted(),
        Crash("KeyboardInterrupt", interrupted=True),
        TracebackStarted(),
        Crash("KeyboardInterrupt", interrupted=True),
    ]


def test_error_traceback() -> None:
    events = parse(
        "Traceback (most recent call last):",
        '  File "train.py", line 1, in <module>',
        "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB",
    )
    assert events[-1] == Crash("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB")


def test_fatal_lines_outside_a_traceback() -> None:
    assert parse("Killed") == [Crash("Killed")]
    assert parse("RuntimeError: CUDA error: invalid device ordinal") == [
        Crash("RuntimeError: CUDA error: invalid device ordinal")
    ]


@pytest.mark.parametrize(
    "line",
    [
        "iter",
        "iter x: loss 1, time 2ms",
        "iter 10: loss",
        "iter 10: loss 1.0, time ms",
        "step 5: train loss",
        "number of parameters: lots",
        "tokens per iteration will be: many",
        "\ufffd\ufffd garbage \ufffd",
        "",
        "x" * 100_000,
        "the model is training [bold]fast[/]",
    ],
)
def test_malformed_lines_are_not_events(line: str) -> None:
    assert parse(line) == []


def test_huge_numbers_do_not_raise() -> None:
    (e,) = parse("iter 99999999999999999999: loss 1e400, time 1e999ms, mfu 1e308%")
    assert e.iter == 99999999999999999999 and math.isinf(e.loss)


def test_sniff_and_final_iter() -> None:
    assert sniff("iter 0: loss 4.2667, time 36260.58ms, mfu -100.00%")
    assert not sniff("step 00100/21400 (0.47%) | loss: 3.2 | dt: 476.00ms")
    assert final_iter(5000, 10) == 5000
    assert final_iter(2005, 10) == 2000
    assert final_iter(5000, 0) == 5000
