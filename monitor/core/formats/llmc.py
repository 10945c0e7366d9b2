"""Parser for karpathy/llm.c output: train_gpt2cu/train_gpt2.py stdout (every line variant
since April 2024) and the `-o` logger file main.log (`s:N trl:X`, `s:N tel:X`); and for
karpathy/build-nanogpt's train_gpt2.py ("Let's reproduce GPT-2 (124M)") and its forks, stdout
and log/log.txt (`N train X`, `N val X`, `N hella X`). build-nanogpt is the script llm.c's
train_gpt2.py grew from (the same start-up lines, model and loop): JSON's five family names
have it as `llmc`. Its steps count from 0 and its `dt` includes the eval at the top of its step.

PURE ring: no I/O, no textual/watchdog/pynvml imports.
"""

from __future__ import annotations

import re

from monitor.core.evalgrid import grid_steps
from monitor.core.events import (
    Checkpoint,
    ConfigValue,
    Eval,
    Event,
    Iteration,
    ModelInit,
    Params,
    TokensPerIter,
    TrainingEnded,
)
from monitor.core.formats.common import INT, NUM, OWN, SHARED, STEP, PythonErrors, literal, number
from monitor.core.formats.scan import IterationColumns

NAME = "llmc"

# train_gpt2.cu's defaults: validation every 20 steps (-v).
DEFAULTS: dict[str, object] = {"eval_interval": 20}

# `step    1/74 | loss 11.0 (+nanz)| norm …| lr …| 4688.25 ms | 28.8% bf16 MFU | …`, and the
# older `step 1/74: train loss 4.6 (took 80 ms)` / `step 1: train loss … (took … ms)` shapes.
_STEP = re.compile(rf"step\s+{INT}(?:/{INT})?(?::| \|) (?:train )?loss\s+{NUM}")
# train_gpt2.py of April 2024: `iteration 0, loss: 2.864, time: 2833.053ms` (its first days:
# no time).
_ITERATION = re.compile(rf"iteration {INT}, loss: {NUM}(?:, time: ([\d.]+)ms)?")
_MS = re.compile(r"\(?(?:took )?([\d.]+) ms\b")
_PY_MS = re.compile(r"\| \([\d.]+ ms \|")
_MFU = re.compile(r"\| (-?[\d.]+)% [\w ]*MFU")
_VAL = re.compile(rf"val loss {NUM}\s*$")
_LOGGER = re.compile(rf"s:{INT} (trl|tel|eval):{NUM}")
_OWN_LINES = ("| Parameter             | Value", "Multi-GPU support is disabled. Using a single GPU.")
# train_gpt2.cu's start-up after its table: `num_parameters: 124475904 => bytes: 248951808`,
# `allocated 237 MiB for model parameters`, `allocating 359 MiB for activations`, `=> setting
# grad_accum_steps=32`, `HellaSwag eval not found at …`, and its batch line (tokens per step).
_OWN_START = re.compile(r"num_parameters: \d+ => bytes: |allocat(?:ed|ing) \d+ MiB for |=> setting grad_accum_steps="
                        r"|HellaSwag eval not found at |batch_size B=\d+ \* seq_len T=\d+ ")
_CU_BATCH = re.compile(rf"batch_size B=\d+ \* seq_len T=\d+ \* num_processes=\d+ and total_batch_size={INT}\s*$")
_CU_ACCUM = re.compile(rf"=> setting grad_accum_steps={INT}\s*$")
_ROW = re.compile(r"\|\s*([^|]+?)\s*\|\s*([^|]*?)\s*\|\s*$")
_HELLASWAG = re.compile(r"HellaSwag: \d+/\d+ = ([\d.]+)")
_PARAMS = re.compile(rf"num_parameters: {INT}")
_CHECKPOINT = re.compile(r"Writing (?:checkpoint|model) (?:at step (\d+)|to (.+))")
# What each script prints once its loop is over: train_gpt2.cu's `total average iteration
# time: …`, train_gpt2.py's `final 20 iters avg: …` (and, in its April 2024 form, the
# `---------------` closing the one sample it draws after the loop).
_END = re.compile(r"total average iteration time: |final \d+ iters avg: ")
_APRIL_END = "-" * 15

# train_gpt2.py's (and build-nanogpt's) `total desired batch size: 524288` (tokens per optimizer
# step, all ranks) and `=> calculated gradient accumulation steps: 32`.
_BATCH = re.compile(rf"total desired batch size: {INT}\s*$")
_ACCUM = re.compile(rf"=> calculated gradient accumulation steps: {INT}\s*$")
# build-nanogpt: f"step {step:5d} | loss: {loss:.6f} | lr {lr:.4e} | norm: {norm:.4f} | dt: {dt*1000:.2f}ms |
# tok/sec: {tps:.2f}", and the forms of its history that forks kept: `step {i}, loss: {x}` (no time
# yet), `step {i}, loss: {x}, dt: {ms:.2f}ms, tok/sec: …`, `step {i:4d} | loss: … | dt: …` (no lr/norm),
# and followers' names for it (`step 0001, loss: …, norm: …, lr: …, time: 449.89ms, tokens/sec: …`).
_BUILD_STEP = re.compile(rf"step\s+{INT}(?:,| \|) loss: {NUM}")
_BUILD_DT = re.compile(r"\b(?:dt|time): ?([\d.]+) ?ms\b")
_BUILD_VAL = re.compile(rf"validation loss: {NUM}\s*$")
_BUILD_HELLASWAG = re.compile(r"HellaSwag accuracy: \d+/\d+=([\d.]+)")
# build-nanogpt's log/log.txt: f"{step} train {loss:.6f}", f"{step} val {val:.4f}", f"{step} hella {acc:.4f}".
_BUILD_LOG = re.compile(rf"{INT} (train|val|hella) {NUM}\s*$")
# Start-up lines several trainers print (llm.c's train_gpt2.py, build-nanogpt, the first
# modded-nanogpt scripts): weak evidence of the family (see formats.AutoParser).
_SHARED_LINES = ("total desired batch size: ", "=> calculated gradient accumulation steps: ", "validation loss: ",
                 "HellaSwag accuracy: ")
#: What build-nanogpt's lines say of its run, given with its first line: steps count from 0 and
#: the last is max_steps - 1 (range(max_steps)); a step's `dt` runs from the top of the loop,
#: so it includes the eval and HellaSwag pass done at that step.
_BUILD_SETTINGS = (ConfigValue("zero_based", True), ConfigValue("final_iter_offset", 1),
                   ConfigValue("eval_in_step_time", True))
#: Where stdout's eval sits against its step lines, said with the first step line. train_gpt2.cu and
#: train_gpt2.py print `step N/M` for loop index N-1, then evaluate at the top of loop N: the eval
#: logged after line N is paid by step N+1 (train_gpt2.py's clock starts before it, so its printed
#: time holds it; the .cu's starts after it). train_gpt2.c prints the loop index (`step N: …`): its
#: eval after line N-1 is step N's, before that step, as nanoGPT's.
_ONE_BASED_SETTINGS = (ConfigValue("eval_step_offset", 1),)
_PY_SETTINGS = (ConfigValue("eval_step_offset", 1), ConfigValue("eval_in_step_time", True))

# Rows of the startup parameter table, as the plan's setting names.
_TABLE_KEYS = {
    "train_num_batches": "max_iters",
    "val_loss_every": "eval_interval",
    "micro batch size B": "batch_size",
    "sequence length T": "block_size",
    "num_layers L": "n_layer",
    "num_heads NH": "n_head",
    "channels C": "n_embd",
}


class Parser:
    """Stateful: tracebacks span lines, and the logger file counts steps from 0."""

    name = NAME

    def __init__(self) -> None:
        self._errors = PythonErrors()
        self._logger_seen = False
        #: the last step line's step, of any form (None before the first): stdout's evals carry
        #: no step, they follow it (build-nanogpt's precede the next)
        self._last_step: int | None = None
        self._val_steps: tuple[int | None, int | None] = (None, None)  # the logger's last two evals
        self._april_script = False  # train_gpt2.py's first form (`iteration N, loss: …`) printed the lines
        self._build_seen = False
        self._build_val_steps: list[int] = []  # build-nanogpt's validation steps above 0, in order
        self._build_total: int | None = None  # its max_steps, once its last validation said it
        #: stdout's step lines count from 0 (train_gpt2.c): an eval after line N is step N+1's;
        #: None before the first step line
        self._zero_based_stdout: bool | None = None
        #: the parameter table's `batch size B` and `sequence length T` rows, in the table of
        #: April-May 2024 that prints no `total batch size` (see _table_row)
        self._table_b: int | None = None
        self._table_t: int | None = None

    def parse(self, line: str) -> Event | tuple[Event, ...] | None:
        head = line[:1]
        if head == "s":
            if line.startswith("step"):
                return self._step(line) or self._build_step_line(line)
            m = _LOGGER.match(line)
            if m is not None:
                return self._logger(m)
        elif head.isdigit():
            m = _BUILD_LOG.match(line)
            if m is not None:
                return self._build_log(m)
        elif head == "i":
            m = _ITERATION.match(line)
            if m is not None:
                self._last_step = int(m.group(1))
                self._april_script = True
                return Iteration(iter=int(m.group(1)), loss=number(m.group(2)), step_time_s=_seconds(m.group(3)))
        elif head == "v":
            m = _VAL.match(line)
            if m is not None:
                return Eval(iter=self._stdout_eval_step(), val_loss=number(m.group(1)))
            m = _BUILD_VAL.match(line)
            if m is not None:
                return self._build_val(self._build_next(), number(m.group(1)))
        elif head == "H":
            m = _HELLASWAG.match(line)
            if m is not None:
                return Eval(iter=self._stdout_eval_step(), val_loss=None, metric="HellaSwag", score=number(m.group(1)))
            m = _BUILD_HELLASWAG.match(line)
            if m is not None:
                return self._build(Eval(iter=self._build_next(), val_loss=None, metric="HellaSwag", score=number(m.group(1))))
        elif head == "t" and line.startswith("total desired"):
            m = _BATCH.match(line)
            return TokensPerIter(int(m.group(1))) if m is not None and int(m.group(1)) > 0 else None
        elif head == "=":
            m = _ACCUM.match(line) or _CU_ACCUM.match(line)
            if m is not None:
                return ConfigValue("gradient_accumulation_steps", int(m.group(1)))
        elif head == "b":
            m = _CU_BATCH.match(line)
            if m is not None and int(m.group(1)) > 0:
                return TokensPerIter(int(m.group(1)))
        elif head == "|":
            return self._table_row(line)
        elif head == "n":
            m = _PARAMS.match(line)
            if m is not None:
                return Params(int(m.group(1)))
        elif head == "W":
            m = _CHECKPOINT.match(line)
            if m is not None:
                return Checkpoint(path=m.group(2), step=None if m.group(1) is None else int(m.group(1)))
        elif head in ("t", "f") and _END.match(line) or head == "-" and self._april_end(line):
            return TrainingEnded(line.strip())
        return self._errors.parse(line)

    def _april_end(self, line: str) -> bool:
        """The dashes closing the first train_gpt2.py's one sample (later forms print them
        around every sample, mid-run: they end nothing there)."""
        return self._april_script and line.rstrip() == _APRIL_END

    def plain(self) -> bool:
        """A step line read in bulk (bulk.llmc) needs only absorb(): the reader leaves the first
        logger and build-nanogpt line of its buffer to parse(), which says how they count; once
        build-nanogpt's total is known, parse() gives it with a step line."""
        return self._build_total is None

    def absorb(self, cols: IterationColumns, first: int, end: int) -> None:
        """Rows read in bulk: the evals that follow go by the last of them."""
        self._last_step = int(cols.iter[end - 1])

    def _stdout_eval_step(self) -> int:
        """The step a stdout eval (`val loss`, `HellaSwag:`) belongs to: the last step line's,
        or the next one's where the lines count from 0 (train_gpt2.c)."""
        if self._last_step is None:
            return 0
        return self._last_step + (1 if self._zero_based_stdout else 0)

    def _step(self, line: str) -> Event | tuple[Event, ...] | None:
        m = _STEP.match(line)
        if m is None:
            return None
        self._last_step = int(m.group(1))
        rest = line[m.end() :]
        ms, mfu = _MS.search(rest), _MFU.search(rest)
        step_ms = number(ms.group(1)) if ms else None
        mfu_pct = number(mfu.group(1)) if mfu else None
        event = self._iteration(m, step_ms, mfu_pct)
        if self._zero_based_stdout is not None:
            return event
        self._zero_based_stdout = m.group(2) is None
        if self._zero_based_stdout:
            return event
        # train_gpt2.py's line: `| train loss X | … | (12.3 ms | 456 tok/s)`
        return (*(_PY_SETTINGS if _PY_MS.search(rest) else _ONE_BASED_SETTINGS), event)

    @staticmethod
    def _iteration(m: re.Match[str], step_ms: float | None, mfu_pct: float | None) -> Iteration:
        return Iteration(
            iter=int(m.group(1)),
            loss=number(m.group(3)),
            step_time_s=None if step_ms is None else step_ms / 1000.0,
            # llm.c prints -100.0% on a GPU missing from its table of peaks.
            mfu=None if mfu_pct is None or mfu_pct < 0 else mfu_pct / 100.0,
            max_iters=int(m.group(2)) if m.group(2) else None,
        )

    def _build_step_line(self, line: str) -> Event | tuple[Event, ...] | None:
        m = _BUILD_STEP.match(line)
        if m is None:
            return None
        step = self._last_step = int(m.group(1))
        dt = _BUILD_DT.search(line, m.end())
        return self._build(Iteration(iter=step, loss=number(m.group(2)), step_time_s=_seconds(dt.group(1) if dt else None),
                                     max_iters=self._build_total))

    def _build_log(self, m: re.Match[str]) -> Event | tuple[Event, ...]:
        step, kind, value = int(m.group(1)), m.group(2), number(m.group(3))
        if kind == "train":
            self._last_step = step
            return self._build(Iteration(iter=step, loss=value, max_iters=self._build_total))
        if kind == "val":
            return self._build_val(step, value)
        return self._build(Eval(iter=step, val_loss=None, metric="HellaSwag", score=value))

    def _build_val(self, step: int, value: float | None) -> Event | tuple[Event, ...]:
        """build-nanogpt's validation at `step`; one off the grid of those before it is the loop's
        last (`step % 250 == 0 or last_step`): max_steps, printed nowhere, is that step + 1, and
        the step lines after it carry it."""
        if step > 0 and (not self._build_val_steps or step > self._build_val_steps[-1]):
            self._build_val_steps.append(step)
            if len(grid_steps(self._build_val_steps)) < len(self._build_val_steps):
                self._build_total = step + 1
        return self._build(Eval(iter=step, val_loss=value))

    def _build_next(self) -> int:
        """The step a build-nanogpt eval belongs to: it runs at the top of the step it precedes."""
        return 0 if self._last_step is None else self._last_step + 1

    def _build(self, event: Event) -> Event | tuple[Event, ...]:
        """The event, with what build-nanogpt's lines say of the run before the first of them."""
        if self._build_seen:
            return event
        self._build_seen = True
        return (*_BUILD_SETTINGS, event)

    def _logger(self, m: re.Match[str]) -> Event | tuple[Event, ...]:
        step, kind, value = int(m.group(1)), m.group(2), number(m.group(3))
        if kind == "trl":
            self._last_step = step
            event: Event = Iteration(iter=step, loss=value)
        elif kind == "tel":
            event = Eval(iter=step, val_loss=value)
            if self._is_final_eval(step) and self._logger_seen:
                # The loop's last pass evaluates at step == total and trains no more.
                return (event, TrainingEnded(f"final validation at step {step} (the run's total)", total_steps=step))
        else:
            event = Eval(iter=step, val_loss=None, metric="HellaSwag", score=value)
        if self._logger_seen:
            return event
        self._logger_seen = True
        # The logger writes the 0-based loop index (stdout prints index + 1); the last
        # training line is therefore total - 1.
        return (ConfigValue("zero_based", True), ConfigValue("final_iter_offset", 1), event)

    def _is_final_eval(self, step: int) -> bool:
        """True for the logger's eval of the loop's last pass: train_gpt2.cu evaluates every
        val_loss_every steps and at step == total, right after training line total - 1. An
        eval there that is off the evals' grid can only be that last one."""
        before, last = self._val_steps
        self._val_steps = (last, step)
        if before is None or last is None or last <= before or self._last_step is None or step != self._last_step + 1:
            return False
        return step % (last - before) != 0

    def _table_row(self, line: str) -> Event | None:
        m = _ROW.match(line)
        if m is None:
            return None
        key, raw = m.group(1), m.group(2)
        value = literal(raw)
        if key == "Parameter":  # the table's head: a new table, a new process
            self._table_b = self._table_t = None
        if key == "total batch size":
            self._table_b = None  # (the table with gradient accumulation says the total itself)
            return TokensPerIter(value) if isinstance(value, int) and value > 0 else None
        if key == "num_processes" and self._table_b and self._table_t and isinstance(value, int) and value > 0:
            # train_gpt2cu before gradient accumulation (to late May 2024): a step is one
            # micro-batch per process, B * T * num_processes tokens (its tok/s is that over the
            # step's time); its table has no total row, and its last section is this one.
            return TokensPerIter(self._table_b * self._table_t * value)
        if key == "batch size B" and isinstance(value, int) and value > 0:
            self._table_b = value
        elif key == "sequence length T" and isinstance(value, int) and value > 0:
            self._table_t = value
        if key == "num_parameters":
            return Params(value) if isinstance(value, int) else None
        if key == "resume" and value == 1:
            return ModelInit("resume")
        if key == "max_steps" and isinstance(value, int) and value > 0:
            return ConfigValue("max_iters", value)
        if key in _TABLE_KEYS:
            return ConfigValue(_TABLE_KEYS[key], value)
        return None


def _seconds(ms: str | None) -> float | None:
    value = number(ms)
    return None if value is None else value / 1000.0


def sniff(line: str) -> int:
    """What the line says of the family (used by format detection): common.STEP for a step line
    of any of its scripts and files, OWN for train_gpt2.cu's start-up, SHARED for the start-up
    and eval lines llm.c's train_gpt2.py and build-nanogpt share with other trainers, else 0."""
    if line.startswith("step"):
        m = _STEP.match(line)
        # nanoGPT's eval line is `step N: train loss X, val loss Y`; llm.c's has a time.
        if m is not None and (m.group(2) is not None or "took" in line):
            return STEP
        # nanochat's step line has the same head; its `| lrm:` (the LR multiplier) is its own
        return STEP if _BUILD_STEP.match(line) and "| lrm: " not in line else 0
    if _LOGGER.match(line) or _ITERATION.match(line) or _BUILD_LOG.match(line):
        return STEP
    # train_gpt2.cu's start-up: its parameter table's head, its single-GPU notice
    if line.startswith(_OWN_LINES) or _OWN_START.match(line):
        return OWN
    return SHARED if line.startswith(_SHARED_LINES) else 0


def final_iter(max_iters: int, _log_interval: int) -> int:
    """stdout numbers steps 1..total: the last line is the total."""
    return max_iters
