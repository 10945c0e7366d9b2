"""Parser for KellerJordan/modded-nanogpt's train_gpt.py output (records 2024 to now, track 3)
and its descendants' (openai/parameter-golf: `500/20000 train_loss: 3.02 train_time: 0.8m`).

PURE ring: no I/O, no textual/watchdog/pynvml imports.
"""

from __future__ import annotations

import math
import re
from dataclasses import replace

from monitor.core.events import (
    Compiling,
    ConfigValue,
    Eval,
    Event,
    Iteration,
    RunStarted,
    ScheduleChanges,
    TokensPerIter,
    TrainingEnded,
)
from monitor.core.formats.common import INT, NUM, OWN, SHARED, STEP, PythonErrors, number
from monitor.core.formats.scan import IterationColumns

NAME = "modded"

# Records validate every 125 steps (val_loss_every); the total is on every line.
DEFAULTS: dict[str, object] = {"eval_interval": 125}

# `train_time` is the cumulative training clock, validation excluded: ms in the records,
# seconds (`12.345s`) in track 3. The f-string templates in the source dump carry `{step}`,
# never digits, so they cannot match.
# A fork puts a comma after the step and a token count before the fields: `step:20/30, tokens
# seen:1.25M, avg_train_loss:7.6095 time:76/4s step_avg:129ms`.
_STEP = re.compile(rf"step:{INT}/{INT}(?=,? |$)")
# parameter-golf's later scripts drop `step:`, put a space after each colon, keep the clock in
# minutes (`0.8m`) and print validation lines without it.
_BARE_STEP = re.compile(rf"{INT}/{INT}(?= (?:train|val)_loss: ?[-+\dni])")
# The fields after `step:N/M`, read by key in any order; keys the parser does not know
# (`val_bpb:`, `step_avg:`, `lr:`) are skipped.
_FIELD = re.compile(rf" +(\w+): ?{NUM}(ms|s|m)?(?= |$)")
_KEYS = ("train_loss", "val_loss", "train_time")
# Forks' names for the same fields (parameter-golf's XNOR-Net record: `step:1000/100000
# loss:3.6041 t:38617ms step_avg:38.6ms`; its evolution-strategy stage prints `fitness:`, no loss).
# Forks that print the train loss as a mean over the logging interval name it `avg_train_loss:`.
_ALIASES = {"loss": "train_loss", "t": "train_time", "avg_train_loss": "train_loss"}
_SOURCE_START = ("import ", "from ", '"""', "#", "=" * 20)
# The header a run prints after its source, which ends the source and starts the run; also what
# llm.c's train_gpt2.py prints first: `Running PyTorch 2.5.1+cu124`, 2024's records `Running pytorch
# 2.4.1+cu121 compiled for CUDA 12.1`, llm.c's `Running pytorch 2.11.0+cu130`.
_SHARED_START = ("Running Python ", "Running PyTorch ", "Running pytorch ")
# `Sampling steps [0, 1, 458, 459, 460, 461, …] for warmup`: every stage transition s of the
# schedule appears as s-2 … s+1 (steps 0 and 1 always).
_WARMUP = re.compile(r"Sampling steps \[([\d, ]{0,2000})\] for warmup")
# Track 3 scripts may stop before their schedule's end: `Using run_stop_step=2925 train_steps=3020`.
_STOP = re.compile(rf"Using run_stop_step={INT}")
# A wall-clock cap ends training early: `stopping_early: wallclock_cap train_time:600038ms step:13780/20000`.
_STOPPED_EARLY = "stopping_early:"
_STOPPED_AT = re.compile(rf" step:{INT}/{INT}(?= |$)")
# The tokens of one optimizer step, all ranks together, where the script prints its settings:
# parameter-golf's `train_batch_tokens: 786432` (one per line, or several `key:value` on one),
# track 3's `Using … train_batch_tokens=524288 …`. Source lines (`h.train_batch_tokens,`) hold no digits there.
_BATCH_TOKENS = re.compile(r"(?<![\w.])train_batch_tokens(?::|=) ?(\d{1,12})(?!\S)")
# parameter-golf's settings dump (`Hyperparameters:`, then `  key: value` a line): its total, as
# the plan's setting. (Its `val_loss_every` is not given: a modded eval is paid between a step's
# train line and its val line, which the eval pause model does not place yet.)
_DUMP_SETTINGS = {"iterations": "max_iters"}
_DUMP_LINE = re.compile(rf"  (\w+): {INT}\s*$")
# parameter-golf's own start-up lines (`train_shards: 80`, `val_tokens: 47851520`,
# `model_params:35945671`, `warmup_cu_buckets:…`, `warmup_step: 1/20`): the family before a step.
_OWN_START = re.compile(r"(?:train_shards|val_tokens|model_params): ?\d+\s*$|warmup_cu_buckets:|(?:loop_)?warmup_step: ?\d+/\d+")


class Parser:
    """Stateful: the record files open with the training script's source, and per-step
    time is the difference between two readings of the cumulative clock."""

    name = NAME

    def __init__(self) -> None:
        self._errors = PythonErrors()
        self._seen_text = False
        self._in_source = False
        self._clock: tuple[int, float] | None = None  # (step, train_time_s) last read
        self._train_step: int | None = None  # last train line's step in this run
        self._stop_step: int | None = None  # the step the script stops at, where it says so
        self._held: Iteration | None = None  # a train line without a clock, until the next line

    def parse(self, line: str) -> Event | tuple[Event, ...] | None:
        """The line's events; a fork's train line without a clock is given with the next line
        that says something, merged into its val line where that comes next (the clock there
        times the step)."""
        held, self._held = self._held, None
        parsed = self._parse(line)
        if held is None:
            return parsed
        if parsed is None and self._held is None:
            # a line of no event between the two (an eval's timing, a memory report, a blank
            # line): the val line with the clock may still come
            self._held = held
            return None
        events = () if parsed is None else parsed if isinstance(parsed, tuple) else (parsed,)
        if events and isinstance(events[0], Iteration) and events[0].iter == held.iter and events[0].loss is None:
            return (replace(events[0], loss=held.loss), *events[1:])
        return (self._given(held), *events)

    def holds(self) -> bool:
        """True while a train line without a clock waits for the next line (see release)."""
        return self._held is not None

    def release(self) -> tuple[Event, ...]:
        """The held train line as it is, for a line that has not come (the log ended, or has
        been quiet): the step shows without its time."""
        held, self._held = self._held, None
        return () if held is None else (self._given(held),)

    def _given(self, held: Iteration) -> Iteration:
        """The held train line given as it is, without its time: its step is the run's latest."""
        if self._train_step is None or self._train_step < held.iter:
            self._train_step = held.iter
        return held

    def _parse(self, line: str) -> Event | tuple[Event, ...] | None:
        if line.startswith("step:") or line[:1].isdigit() and _BARE_STEP.match(line):
            self._in_source, self._seen_text = False, True
            return self._stopping(self._step_line(line))
        if not self._seen_text and line.strip():
            self._seen_text = True
            # A record file: the script's source comes first and is not log output.
            self._in_source = line.startswith(_SOURCE_START)
            if self._in_source:
                return None
        if self._in_source:
            # parameter-golf's log file frames its settings dump and the source with rules:
            # `Hyperparameters:` (settings follow) … `Source code:` (the script follows)
            if line.startswith(_SHARED_START) or line.rstrip() == "Hyperparameters:":
                self._in_source = False
                return RunStarted(text=line) if line.startswith(_SHARED_START) else None
            return None
        if line.startswith(_SHARED_START):
            # the header every run prints after its source: a new run's, read after another
            # run's steps (a log appended to, or cut and written again)
            return RunStarted(text=line)
        if line.rstrip() == "Source code:":
            self._in_source = True
            return None
        if line.startswith("  ") and (m := _DUMP_LINE.match(line)) is not None and m.group(1) in _DUMP_SETTINGS:
            return ConfigValue(_DUMP_SETTINGS[m.group(1)], int(m.group(2)))
        if line.startswith("Compiling model and warming up kernels"):
            return Compiling()
        if line.startswith("Sampling steps "):
            m = _WARMUP.match(line)
            return None if m is None else ScheduleChanges(_transitions(m.group(1)))
        if line.startswith(_STOPPED_EARLY):
            ended = TrainingEnded(line.strip(), goes_on=True)  # serialization and final evals follow
            m = _STOPPED_AT.search(line)
            if m is None:
                return ended
            # The step it stopped at: past the last train line printed (they come every
            # train_log_every steps), it is the run's last step.
            self._train_step = int(m.group(1))
            return (Iteration(iter=int(m.group(1)), loss=None, step_time_s=None, max_iters=int(m.group(2))), ended)
        if line.startswith("Using run_stop_step="):
            m = _STOP.match(line)
            self._stop_step = None if m is None else int(m.group(1))
            return None
        if "train_batch_tokens" in line and (m := _BATCH_TOKENS.search(line)) and int(m.group(1)) > 0:
            return TokensPerIter(int(m.group(1)))
        return self._errors.parse(line)

    def plain(self) -> bool:
        """Train lines read in bulk (bulk.modded) change nothing absorb() does not do, unless
        the run stops early (parse() then watches for the stop step)."""
        return self._stop_step is None and self._held is None

    def _stopping(self, parsed: Event | tuple[Event, ...] | None) -> Event | tuple[Event, ...] | None:
        """The step line's events, and the end of training once the stop step is reached."""
        if self._stop_step is None or parsed is None:
            return parsed
        events = parsed if isinstance(parsed, tuple) else (parsed,)
        if not any(isinstance(e, (Iteration, Eval)) and e.iter >= self._stop_step for e in events):
            return parsed
        stop, self._stop_step = self._stop_step, None
        return (*events, TrainingEnded(f"stopped at step {stop}, as the log's run_stop_step says"))

    def absorb(self, cols: IterationColumns, first: int, end: int) -> None:
        """Train lines read in bulk (consecutive lines), as parse() reads them: bulk.modded
        took each one's step time from the line before; the first's comes from the clock."""
        clock_s = cols.train_time_s
        assert clock_s is not None  # bulk.modded reads the clock
        step_time_s = self._step_time(int(cols.iter[first]), float(clock_s[first]))
        cols.step_time_s[first] = math.nan if step_time_s is None else step_time_s
        self._clock = (int(cols.iter[end - 1]), float(clock_s[end - 1]))
        self._train_step = int(cols.iter[end - 1])
        self._in_source, self._seen_text = False, True

    def _step_line(self, line: str) -> Event | tuple[Event, ...] | None:
        fields = _fields(line)
        if fields is None:
            return None
        step, total, values = fields
        clock_s = values.get("train_time")
        if "val_loss" not in values:
            if clock_s is None and line.startswith("step:"):  # its val line may follow with the clock
                self._held = Iteration(iter=step, loss=values.get("train_loss"), max_iters=total)
                return None
            self._train_step = step
            return Iteration(
                iter=step,
                loss=values.get("train_loss"),
                step_time_s=self._step_time(step, clock_s),
                max_iters=total,
                train_time_s=clock_s,
            )
        evaluation = Eval(iter=step, val_loss=values["val_loss"])
        if self._train_step is not None and step < self._train_step:
            self._train_step = None  # the counter went back: a new run
        if step == 0:
            self._clock = (0, clock_s) if clock_s is not None else None
            return (RunStarted(text=line), evaluation) if self._train_step is None else evaluation
        if self._train_step is not None and step <= self._train_step:
            return evaluation
        # No train line reached this step: a log with validation lines only (track 3
        # writes train lines to the console alone), so the val line is the progress mark.
        progress = Iteration(
            iter=step, loss=None, step_time_s=self._step_time(step, clock_s), max_iters=total, train_time_s=clock_s
        )
        return (progress, evaluation)

    def _step_time(self, step: int, clock_s: float | None) -> float | None:
        """Clock advance per step since the previous reading; None across a clock reset."""
        previous, self._clock = self._clock, (None if clock_s is None else (step, clock_s))
        if previous is None or clock_s is None or step <= previous[0] or clock_s < previous[1]:
            return None
        return (clock_s - previous[1]) / (step - previous[0])


def _fields(line: str) -> tuple[int, int, dict[str, float | None]] | None:
    """(step, total, known fields) of a `step:N/M key:value …` line with a training clock
    (`train_time:` in ms, or s in track 3), or of a bare `N/M train_loss: …` line (clock in
    minutes, none on validation lines), else None."""
    m = _STEP.match(line)
    bare = m is None
    if m is None:
        m = _BARE_STEP.match(line)
    if m is None:
        return None
    values: dict[str, float | None] = {}
    for key, value, unit in _FIELD.findall(line, m.end()):
        key = _ALIASES.get(key, key) if not bare else key
        if key in _KEYS and key not in values and (unit or key != "train_time"):
            values[key] = _seconds(number(value), unit) if key == "train_time" else number(value)
    # A fork's train line may carry no training clock (its val line at the same step does).
    if "train_time" not in values and not ("train_loss" in values or bare and "val_loss" in values):
        return None
    return int(m.group(1)), int(m.group(2)), values


def _seconds(value: float | None, unit: str) -> float | None:
    if value is None or math.isnan(value):
        return None
    return value / 1000.0 if unit == "ms" else value * 60.0 if unit == "m" else value


def sniff(line: str) -> int:
    """common.STEP for a train or validation line of modded-nanogpt (they decide), OWN for
    parameter-golf's start-up lines, SHARED for the `Running PyTorch …` header, else 0."""
    if (line.startswith("step:") or line[:1].isdigit()) and _fields(line) is not None:
        return STEP
    if _OWN_START.match(line):
        return OWN
    return SHARED if line.startswith(_SHARED_START) else 0


def _transitions(listed: str) -> tuple[int, ...]:
    """The stage transitions behind a warm-up list: the second-to-last step of each run of
    consecutive steps from 2 on (a transition s is warmed as s-2 … s+1)."""
    steps = sorted({int(x) for x in listed.replace(" ", "").split(",") if x.isdigit() and int(x) >= 2})
    groups: list[list[int]] = []
    for step in steps:
        if groups and step == groups[-1][-1] + 1:
            groups[-1].append(step)
        else:
            groups.append([step])
    return tuple(group[-1] - 1 for group in groups)
