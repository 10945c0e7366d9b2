"""Parser for karpathy/nanochat's scripts (base_train, mid_train, chat_sft, chat_rl), every
line variant since October 2025; one file may hold several stages, each its own run.

PURE ring: no I/O, no textual/watchdog/pynvml imports.
"""

from __future__ import annotations

import math
import re
from dataclasses import replace

from monitor.core.events import (
    ConfigValue,
    Eval,
    Event,
    Iteration,
    ModelInit,
    Params,
    RunStarted,
    TokensPerIter,
    TrainingEnded,
)
from monitor.core.formats.common import INT, NOT_FLOAT, NUM, OWN, STEP, PythonErrors, literal, number
from monitor.core.formats.scan import IterationColumns

NAME = "nanochat"

# base_train's defaults: validation bpb every 250 steps, the CORE metric every 2000.
DEFAULTS: dict[str, object] = {"eval_interval": 250, "core_metric_every": 2000}

# Keys echoed by a terminal while the job ran (`^[[A`, `^[[B`), glued to the next line.
_ECHO = re.compile(r"(?:\^\[\[?[\d;]*[A-Za-z~])+")
# base_train `step 00100/21400 (0.47%) | loss: …`; mid_train and today's chat_sft print no
# total, only the share of their data consumed.
# A fork prints `(final)` where the share was on its last step (`step 01680/01680 (final) | loss: …`);
# a port prints no share after its total (`step 00050/300 | loss: 7.6973 | dt: 38ms | tok/s: …`):
# a line needs one of the two.
_STEP = re.compile(rf"step {INT}(?:/{INT})?(?: \((?:([\d.]+)%|final)\))? \| loss: +{NUM}")
_DT = re.compile(r"\| dt: ([\d.]+)ms")
_MFU = re.compile(r"\| (?:bf16_)?mfu: ([\d.]+)")
_TOTAL_TIME = re.compile(r"\| total time: ([\d.]+)m")
# autoresearch (nanochat's train loop on a time budget): `| remaining: 12s` ends its step line,
# whose share is then of the budget's time; a fork that runs a fixed number of steps prints
# `| remaining: 99 steps`, the steps after this one.
_REMAINING = re.compile(r"\| remaining: (\d+)(s| steps)\s*$")
# autoresearch's summary once the loop is over, after a `---` line: `val_bpb:          1.77`
# (`skipped` in a fork), `training_seconds: 300.9`, `num_steps:        87`.
_SUMMARY_KEY = re.compile(r"(val_bpb|training_seconds|num_steps):\s+(\S+)\s*$")
# October 2025 chat_sft: `Step 00000/00651 | Training loss: 0.84| lrm: …`; chat_rl: `Step 3/467 | Average reward: …`.
_STEP_CAPITAL = re.compile(rf"Step {INT}/{INT} \| (Training loss|Average reward): {NUM}")
_EVAL = re.compile(rf"Step {INT} \| ([A-Za-z][\w /@.-]*?): {NUM}")
_OVERRIDE = re.compile(r"Overriding: (\w+) = (.*)$")
# base_train `Total batch size 524,288 => gradient accumulation steps: 1`; an autoresearch fork
# `Total batch size: 8192`.
_BATCH = re.compile(r"Total batch size:? (\d[\d,]{0,24})(?![\d,])(?: => gradient accumulation steps|\s*$)")
_PARAMS = re.compile(r"(?:Number of parameters: |total\s+: )(\d[\d,]{0,24})(?![\d,])\s*$")
_SEQ = re.compile(rf"Tokens / micro-batch / rank: \d+ x {INT} =")
_MODEL_KEY = re.compile(rf'\s*"?(num_layers|model_dim|num_heads|n_layer|n_embd|n_head|sequence_len)"?: {INT},?\s*$')
_RESUME = re.compile(rf"Resuming optimization from step {INT}")
# base_train: `Calculated number of iterations from target data:param ratio: 21,400` (or from
# target FLOPs), `Using user-provided number of iterations: 20`.
_ITERATIONS = re.compile(r"(?:Calculated number of iterations from .{1,80}|Using user-provided number of iterations): "
                         r"(\d[\d,]{0,24})(?![\d,])" + NOT_FLOAT)
# The summary every training script prints once its loop is over.
_SUMMARY = ("Peak memory usage:", "Total training time:", "Minimum validation bpb:")
#: A total read from a step's share (`(15.00%)`) is given once it is known to this fraction.
SHARE_TOTAL_PRECISION = 0.01

_PLAN_KEYS = {
    "num_layers": "n_layer",
    "n_layer": "n_layer",
    "model_dim": "n_embd",
    "n_embd": "n_embd",
    "num_heads": "n_head",
    "n_head": "n_head",
    "sequence_len": "block_size",
    "eval_every": "eval_interval",
}
# The last step line each stage prints, counted back from the total on its lines: base_train
# and chat_rl run steps 0..total-1 (the family rule); the October 2025 chat_sft only
# evaluates on its last pass, so its last training line is total-2.
_FINAL_OFFSET = {"sft": 2, "data": 0, "budget": 1}
# mid_train and today's chat_sft print steps 1..total, the last at (about) 100% of their data;
# autoresearch ("budget") steps 0..total-1, its total printed only in its summary.
_ONE_BASED = ("data",)
# Start-up lines only nanochat's common.py, checkpoint_manager.py, optimizer and scripts print
# (a log cut before its banner or its first step still shows its family): every script's batch
# lines, base_train's model and step-count lines, the checkpoint loaded by mid_train, chat_sft
# and chat_rl (their logging prefix stripped), the Muon parameter groups.
_OWN_LINES = ("Autodetected device type: ", "COMPUTE_DTYPE: ", "Tokens / micro-batch / rank: ", "Tokens / micro-batch: ",
              "Muon: Grouping ", "No model tag provided, guessing model tag: ", "Building model with config: {",
              "Scaling the LR for the AdamW parameters ", "Calculated number of iterations from ",
              "Using user-provided number of iterations: ", "Estimated FLOPs per token: ")


class Parser:
    """Stateful: a change of line shape is a new stage (a new run), tracebacks span lines."""

    name = NAME

    def __init__(self) -> None:
        self._errors = PythonErrors()
        self._stage: str | None = None
        self._share = _ShareTotal()
        self._last_step: int | None = None  # autoresearch's summary evaluates after it
        self._total: int | None = None  # the total base_train's step lines print

    def parse(self, line: str) -> Event | tuple[Event, ...] | None:
        if line[:1] == "^":
            line = _ECHO.sub("", line, count=1)
        head = line[:1]
        if head == "s":
            m = _step_match(line)
            if m is not None:
                iteration = _step(m, line)
                remaining = _REMAINING.search(line, m.end())
                stage = "base" if m.group(2) else "data" if remaining is None else "budget"
                if stage != self._stage:
                    self._share = _ShareTotal(fetched_ahead=stage == "data")
                self._last_step = iteration.iter
                self._total = iteration.max_iters if stage == "base" else None
                if remaining is not None and remaining.group(2) == " steps":  # the steps left give the total
                    iteration = replace(iteration, max_iters=iteration.iter + 1 + int(remaining.group(1)))
                elif iteration.max_iters is None and m.group(3) is not None:  # the share of the stage done gives its total
                    # (on a time budget, the total at the pace so far, until the summary says)
                    iteration = replace(iteration, share_total=self._share.add(iteration.iter, m.group(3)))
                return self._staged(stage, line, iteration)
        elif head == "S":
            return self._capital(line)
        elif head == "O":
            m = _OVERRIDE.match(line)
            if m is not None:
                key = m.group(1)
                return ConfigValue(_PLAN_KEYS.get(key, key), literal(m.group(2)))
        return self._startup(line) or self._errors.parse(line)

    def plain(self) -> bool:
        """True when a base_train step line would leave the parser as it is (bulk.nanochat)."""
        return self._stage == "base"

    def absorb(self, cols: IterationColumns, first: int, end: int) -> None:
        """base_train step lines read in bulk (bulk.nanochat): the last one's step and total, as parse() keeps them."""
        self._last_step = int(cols.iter[end - 1])
        total = math.nan if cols.max_iters is None else float(cols.max_iters[end - 1])
        self._total = int(total) if math.isfinite(total) else None

    def _capital(self, line: str) -> Event | tuple[Event, ...] | None:
        m = _STEP_CAPITAL.match(line)
        if m is not None:
            stage = "sft" if m.group(3) == "Training loss" else "rl"
            self._total = None  # its evaluation at its total is no base_train's last pass
            value = number(m.group(4))
            iteration = Iteration(
                iter=int(m.group(1)),
                loss=value if stage == "sft" else None,
                max_iters=int(m.group(2)),
            )
            return self._staged(stage, line, iteration)
        m = _EVAL.match(line)
        if m is None:
            return None
        metric, value = m.group(2), number(m.group(3))
        step = int(m.group(1))
        if "loss" in metric.lower() or "bpb" in metric.lower():
            evaluated = Eval(iter=step, val_loss=value, metric=metric.replace("Validation", "val"))
            if step == self._total:  # base_train's last pass: it evaluates, samples, saves and stops
                self._total = None
                return evaluated, TrainingEnded(line.strip(), goes_on=True)
            return evaluated
        return Eval(iter=step, val_loss=None, metric=metric, score=value)

    def _staged(self, stage: str, line: str, iteration: Iteration) -> Event | tuple[Event, ...]:
        if stage == self._stage:
            return iteration
        self._stage = stage
        # Another script took over: a new run, with that stage's last-step rule.
        events: tuple[Event, ...] = (RunStarted(text=line), ConfigValue("final_iter_offset", _FINAL_OFFSET.get(stage)),
                                     ConfigValue("zero_based", stage not in _ONE_BASED))
        if stage == "budget":  # autoresearch evaluates once, when its time is up: no eval interval
            events += (ConfigValue("eval_interval", 0),)
        return (*events, iteration)

    def _startup(self, line: str) -> Event | None:
        if line.startswith(_SUMMARY):
            return TrainingEnded(line.strip())
        m = _SUMMARY_KEY.match(line)
        if m is not None:
            return self._summary(m.group(1), m.group(2))
        m = _ITERATIONS.match(line)
        if m is not None:
            return ConfigValue("max_iters", int(m.group(1).replace(",", "")))
        m = _BATCH.match(line)
        if m is not None:
            return TokensPerIter(int(m.group(1).replace(",", "")))
        m = _PARAMS.match(line)
        if m is not None:
            return Params(int(m.group(1).replace(",", "")))
        m = _SEQ.match(line)
        if m is not None:
            return ConfigValue("block_size", int(m.group(1)))
        m = _MODEL_KEY.match(line)
        if m is not None:
            return ConfigValue(_PLAN_KEYS[m.group(1)], int(m.group(2)))
        m = _RESUME.match(line)
        if m is not None:
            return ModelInit("resume", f"step {m.group(1)}")
        return None

    def _summary(self, key: str, value: str) -> Event | None:
        """autoresearch's end summary: its val bpb; that the loop is over, and its step count."""
        if key == "val_bpb":
            bpb = number(value)  # a fork prints `skipped`
            if bpb is None or self._last_step is None:
                return None
            return Eval(iter=self._last_step, val_loss=bpb, metric="val_bpb")
        steps = literal(value) if key == "num_steps" else None
        total = steps if isinstance(steps, int) and steps > 0 else None
        return TrainingEnded(f"{key}: {value}", total_steps=total)


class _ShareTotal:
    """A stage's step count from the share of it its step lines print (`step 00298
    (99.33%)`): each line bounds the total within the rounding of its share; the bounds of
    all lines together give it once they hold one whole number (or are within
    SHARE_TOTAL_PRECISION of each other).

    With `fetched_ahead`, two readings of the share are followed: the steps done over the
    total, and the batches fetched over the batches there are, one ahead of the steps
    (mid_train and chat_sft fetch the next batch before they print: `step 00001 (20.00%)` of
    10 batches, the last step printed at 100% being 9). The reading whose lines have agreed the longest gives the
    total, the first on a tie; a reading whose next line does not fit its bounds starts again
    from that line (a new stage, a resumed run, or a share that is only approximate)."""

    def __init__(self, fetched_ahead: bool = False) -> None:
        # (a time budget's share is of its time: only the first reading applies)
        self._readings = [_Reading(0), _Reading(1)] if fetched_ahead else [_Reading(0)]

    def add(self, step: int, share_text: str) -> int | None:
        share = float(share_text)
        half = 0.5 * 10.0 ** -len(share_text.partition(".")[2])  # the rounding of the printed share
        if step <= 0 or share <= half:
            return None
        for reading in self._readings:
            reading.add(step, share, half)
        best = max(self._readings, key=lambda reading: reading.agreed)  # the first of equals
        return best.total()


class _Reading:
    """Bounds on the total from lines read as (step + ahead) / total = share."""

    def __init__(self, ahead: int) -> None:
        self.ahead = ahead
        self.low, self.high = 0.0, math.inf
        #: how many lines in a row have fitted the bounds
        self.agreed = 0

    def add(self, step: int, share: float, half: float) -> None:
        done = step + self.ahead
        low, high = 100.0 * done / (share + half), 100.0 * done / (share - half)
        if low > self.high or high < self.low:  # the share does not follow the steps: start again
            self.low, self.high, self.agreed = low, high, 1
        else:
            self.low, self.high, self.agreed = max(self.low, low), min(self.high, high), self.agreed + 1

    def total(self) -> int | None:
        """The last step the stage prints, once the bounds pin the total (None before)."""
        first, last = math.ceil(self.low), math.floor(self.high)
        if first == last:
            return first - self.ahead
        middle = (self.low + self.high) / 2
        if self.high - self.low <= SHARE_TOTAL_PRECISION * middle:
            return round(middle) - self.ahead
        return None


def _step(m: re.Match[str], line: str) -> Iteration:
    rest = line[m.end() :]
    dt_ms, mfu_pct, total_min = (_field(pattern, rest) for pattern in (_DT, _MFU, _TOTAL_TIME))
    return Iteration(
        iter=int(m.group(1)),
        loss=number(m.group(4)),
        step_time_s=None if dt_ms is None else dt_ms / 1000.0,
        mfu=None if mfu_pct is None else mfu_pct / 100.0,
        max_iters=int(m.group(2)) if m.group(2) else None,
        # `total time` sums dt over steps after the 10th: compile and evals are left out.
        train_time_s=None if total_min is None else total_min * 60.0,
    )


def _step_match(line: str) -> re.Match[str] | None:
    """A step line: with its total, its share, or both, or the LR multiplier (`step 00050 | loss: …`
    alone is another trainer's, build-nanogpt's; a paste trimmed to `step 00401 | loss: … | lrm: 1.00`
    keeps nanochat's own field)."""
    m = _STEP.match(line)
    own = m is not None and (m.group(2) is not None or "(" in line[: m.start(4)] or "| lrm: " in line[m.end() :])
    return m if own else None


def _field(pattern: re.Pattern[str], text: str) -> float | None:
    found = pattern.search(text)
    return None if found is None else number(found.group(1))


def sniff(line: str) -> int:
    """What the line says of the family: common.STEP for a step line of any stage, OWN for a
    start-up or eval line only nanochat prints, 0 for any other line."""
    if line[:1] == "^":
        line = _ECHO.sub("", line, count=1)
    if line.startswith("step "):
        return STEP if _step_match(line) is not None else 0
    if line.startswith(_OWN_LINES) or line.startswith("GPU: ") and "| Peak FLOPS (BF16): " in line:
        return OWN
    if line.startswith("Total batch size "):
        m = _BATCH.match(line)
        return OWN if m is not None and "=> gradient accumulation steps" in line else 0
    if line.startswith("Step "):
        if _STEP_CAPITAL.match(line) is not None:
            return STEP
        m = _EVAL.match(line)
        return OWN if m is not None and m.group(2) in ("Validation bpb", "CORE metric") else 0
    return 0


def final_iter(max_iters: int, _log_interval: int) -> int:
    """base_train runs steps 0..total-1 and logs every one."""
    return max_iters - 1
