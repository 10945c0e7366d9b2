"""Parser for karpathy/nanoGPT's train.py, model.py and configurator.py output.

PURE ring: no I/O, no textual/watchdog/pynvml imports.
"""

from __future__ import annotations

import ast
import re
from dataclasses import replace

from monitor.core.events import (
    Checkpoint,
    Compiling,
    ConfigValue,
    Eval,
    Event,
    Iteration,
    Launched,
    ModelInit,
    Params,
    RunStarted,
    SamplerOutput,
    TokensPerIter,
    TrainingEnded,
    VocabSize,
)
from monitor.core.formats.common import (
    NOT_FLOAT,
    NUM,
    OWN,
    SHARED,
    STEP,
    PythonErrors,
    bar_step,
    constant,
    literal,
    number,
)
from monitor.core.formats.scan import IterationColumns

NAME = "nanogpt"

# train.py's own defaults, in force when the config is not printed.
DEFAULTS: dict[str, object] = {
    "max_iters": 600000,
    "eval_interval": 2000,
    "log_interval": 1,
    "eval_iters": 200,
    "batch_size": 12,
    "block_size": 1024,
    "gradient_accumulation_steps": 40,
    "n_layer": 12,
    "n_head": 12,
    "n_embd": 768,
    "compile": True,
    "always_save_checkpoint": True,
}

# Whole numbers are bounded: int() refuses text of more than 4300 digits (RunState drops
# steps too large to be real ones), and a token count or vocab size must fit an int64.
_STEP = r"(\d{1,4000})"
# A fork that times its steps on a CPU prints seconds: `iter 1: loss 3.1276, time 41.66s`.
# Forks that keep several counters name them and put the run's own last, before the colon
# (`local_iter 1 total_iter 11: loss …`, `global_iter 11: …`): the number before the colon is the step.
_SCOPE = r"(?:[a-z][a-z0-9]{0,20}_){1,3}"
_ITER = re.compile(
    rf"(?:{_SCOPE}iter \d{{1,12}},? ){{0,3}}(?:{_SCOPE})?iter {_STEP}: loss {NUM}(?: \w+)?, time {NUM}(ms|s)\b"
    rf"(?:, mfu {NUM}%)?",
    re.IGNORECASE,
)
# Forks add fields between the two losses (`train perplexity 7.8959, `): any `, name value`.
_EVAL = re.compile(rf"step {_STEP}: train loss {NUM}(?: \w+)?(?:, (?!val loss)[^,]{{1,80}})*, val loss {NUM}", re.IGNORECASE)
# A fork's eval line without its step (Intel's GPT-2 module: `eval: train loss 3.0947, val loss
# 3.0770`): it runs before the step it is printed before, as train.py's does.
_EVAL_NO_STEP = re.compile(rf"eval: train loss {NUM}, val loss {NUM}")
# saforem2/wordplay (nanoGPT's train.py rewritten around ezpz): `step=10 loss=3.2386 dt=85.2848
# dtf=4.6529 dtb=77.9241 sps=93.8033 mtps=1.5369 mfu=4.3692 train_loss=4.2922 val_loss=4.2905`.
# Its dt was milliseconds in 2024-04 and seconds from 2024-07 (the legend says so, the line
# does not): the step time comes from the logger's printed times instead.
_KV_STEP = re.compile(rf"step={_STEP} loss={NUM}")
_KV_FIELD = re.compile(rf" (mfu|train_loss|val_loss)={NUM}")
# A JSON dump of the settings (wordplay's config: `        "max_iters": 100,`).
_JSON_SETTING = re.compile(r'\s+"(\w{1,40})": ([^,{\[]{1,100}?),?\s*$')
_JSON_WORDS = {"true": True, "false": False, "null": None}
# The command that ran train.py, at a shell prompt or in zsh's `time` report: environment
# settings (`CUDA_VISIBLE_DEVICES=0`), the launcher, then train.py and its arguments (up to the
# report's `142911.57s user …`).
_COMMAND = re.compile(r"(?:\$\s+)?(?:[A-Za-z_]\w{0,40}=\S*\s+){0,8}(?:\S*/)?(?:python[\d.]*|torchrun|accelerate launch|deepspeed|uv run)\s"
                      r"(?:[^\n]*?\s)?(?:\S*/)?train\.py((?:\s+(?!\d+(?:\.\d+)?s user\b)\S+){0,64})")
#: A command line is short: a longer line is not matched (a hostile megabyte line costs no regex time).
MAX_COMMAND_CHARS = 4096
_OVERRIDE_ARG = re.compile(r"--(\w{1,40})=(.{1,100})")
_OVERRIDE_FILE = re.compile(r"Overriding config with (.+):\s*$")
_OVERRIDE_KEY = re.compile(r"Overriding: (\w+) = (.*)$")
# train.py's `tokens per iteration will be: N`; forks print `total number of tokens per iteration: N`.
# wordplay: `Tokens per iteration: 131,072`.
_TOKENS = re.compile(r"(?:total number of )?tokens per iteration(?: will be)?: (\d[\d,]{0,30})(?![\d,])" + NOT_FLOAT, re.IGNORECASE)
_VOCAB = re.compile(r"found vocab_size = (\d{1,18})(?!\d)" + NOT_FLOAT)
_PARAMS = re.compile(r"number of parameters: (\d{1,15}(?:\.\d*)?)M")
# train.py's f"iter {iter_num}: loss {lossf:.4f}, time {dt*1000:.2f}ms, mfu {running_mfu*100:.2f}%"
# Start-up lines of train.py and model.py that other families print too: llama2.c's train.py
# (nanoGPT's descendant) prints them all; model.py's configure_optimizers (`using fused AdamW:`)
# lives on in llm.c's train_gpt2.py and build-nanogpt. Only a step line tells these apart.
_SHARED_LINES = ("compiling the model... (takes a ~minute)", "using fused AdamW: ", "Initializing a new model from scratch",
                 "Resuming training from ")
# nanoGPT's own: llama2.c does not start from GPT-2's weights.
_OWN_LINES = ("Initializing from OpenAI GPT-2 weights",)
# A fork that prints its settings as `name: value` pairs, several to a line (pfnet-research/
# GenerRNA: `learning_rate: 0.0001, max_iters: 1000000, `): a line made only of such pairs.
_PAIRS = re.compile(r"\s*[A-Za-z_]\w*: [^,:]+?(?:, [A-Za-z_]\w*: [^,:]+?)*,?\s*$")
_PAIR = re.compile(r"([A-Za-z_]\w*): ([^,:]+?)\s*(?:,|$)")
#: train.py's settings (the names configurator.py may override): a pair is read as a
#: setting only under one of these names.
TRAIN_SETTINGS = frozenset((
    "out_dir", "eval_interval", "log_interval", "eval_iters", "eval_only", "always_save_checkpoint", "init_from",
    "wandb_log", "wandb_project", "wandb_run_name", "dataset", "gradient_accumulation_steps", "batch_size",
    "block_size", "n_layer", "n_head", "n_embd", "dropout", "bias", "learning_rate", "max_iters", "weight_decay",
    "beta1", "beta2", "grad_clip", "decay_lr", "warmup_iters", "lr_decay_iters", "min_lr", "backend", "device",
    "dtype", "compile",
))
# The end-of-training summary forks print after their loop (SakanaAI/AI-Scientist's nanoGPT
# template: `training done`, `Best validation loss: …`, `Total train time: 87.15 mins`; Intel's
# GPT-2 module: `Training completed! Total time taken: 00:11:52`).
_END_LINES = ("training done", "Total train time: ", "Training completed! Total time taken: ")
# sample.py's own lines (nanoGPT's, and llama2.c's separator): text generation, not training.
_SAMPLER_LINES = ("Loading meta from ", "No meta.pkl found, assuming GPT-2 encodings")
_SAMPLE_RULE = "---------------"


class Parser:
    """Stateful line parser: the config dump and tracebacks span several lines."""

    name = NAME

    def __init__(self) -> None:
        self._in_config = False
        self._errors = PythonErrors()
        self._kv_iter: int | None = None  # wordplay's last step line
        self._kv_losses: tuple[float | None, float | None] | None = None  # the eval its lines repeat
        self._iters: tuple[int | None, int | None] = (None, None)  # the last two `iter` lines' steps
        self._resumed = False  # a resumed run's first step is not printed before its first `iter` line
        self._held_eval: Eval | None = None  # an eval without its step, until that line
        self._bar_done: int | None = None  # the steps done on the last tqdm bar read

    def _next_iter(self) -> int:
        """The step the next `iter` line will print: the last one plus the logging interval the
        last two show (1 after a single line, 0 before any)."""
        before, last = self._iters
        if last is None:
            return 0
        return last + (last - before if before is not None and last > before else 1)

    def parse(self, line: str) -> Event | tuple[Event, ...] | None:
        if self._in_config:
            event = self._config_line(line)
            if self._in_config:
                return event
        head = line[:1]
        m = _ITER.match(line) if head == "i" or line.find("_iter ", 0, 80) >= 0 else None
        if m is not None:
            mfu = number(m.group(5))
            step, self._iters = int(m.group(1)), (self._iters[1], int(m.group(1)))
            self._resumed = False
            event = Iteration(
                iter=step,
                loss=number(m.group(2)),
                step_time_s=_seconds(number(m.group(3)), m.group(4)),
                mfu=None if mfu is None or mfu < 0 else mfu / 100.0,
            )
            held, self._held_eval = self._held_eval, None
            return event if held is None else (replace(held, iter=step), event)
        if head == "e" and line.startswith("eval: "):
            m = _EVAL_NO_STEP.match(line)
            if m is not None:
                evaluated = Eval(iter=self._next_iter(), train_loss=number(m.group(1)), val_loss=number(m.group(2)))
                if not self._resumed:
                    return evaluated
                self._held_eval = evaluated  # a resumed run's: its step comes with the next `iter` line
                return None
        elif head == "s":
            if line.startswith("step="):
                m = _KV_STEP.match(line)
                if m is not None:
                    return self._kv_step(m, line)
            m = _EVAL.match(line)
            if m is not None:
                return Eval(iter=int(m.group(1)), train_loss=number(m.group(2)), val_loss=number(m.group(3)))
            if line.startswith("saving checkpoint to "):
                return Checkpoint(path=line[len("saving checkpoint to ") :].strip())
        elif head == "O":
            m = _OVERRIDE_FILE.match(line)
            if m is not None:
                self._in_config, self._iters = True, (None, None)
                return RunStarted(text=line)
            m = _OVERRIDE_KEY.match(line)
            if m is not None:
                return ConfigValue(key=m.group(1), value=literal(m.group(2)))
        if "loss=" in line and (bar := bar_step(line)) is not None:
            return self._bar(*bar)
        if len(line) <= MAX_COMMAND_CHARS and "train.py" in line and (m := _COMMAND.match(line)) is not None:
            launched = _launched(m.group(1).split())
            rest = self._errors.parse(line)  # zsh's `time` report ends the same line
            return launched if rest is None else (launched, rest)
        started = self._startup(line)
        if isinstance(started, (ModelInit, TrainingEnded)):  # a run starts or ends: the next counts anew
            self._iters, self._resumed = (None, None), isinstance(started, ModelInit) and started.kind == "resume"
        return started or self._errors.parse(line)

    def _bar(self, done: int, total: int, step_time_s: float | None, loss: float | None) -> Event | None:
        """A fork's tqdm bar (`14035/100000 [20:48:41<125:50:55,  5.27s/it, loss=10.9801, …]`): a
        step when its count moves on, as the bar first shows it (redraws of the same count are
        the next step's loss, not yet counted); the count is the step, the bar's total the run's."""
        if done == self._bar_done:
            return None
        self._bar_done = done
        return Iteration(iter=done, loss=loss, step_time_s=step_time_s, max_iters=total)

    def holds(self) -> bool:
        """True while an eval without its step waits for the `iter` line that prints it."""
        return self._held_eval is not None

    def release(self) -> tuple[Event, ...]:
        """What is held for a line that did not come (the log ended): a resumed run's eval
        without its step, at step 0 of the count (its step is not printed)."""
        held, self._held_eval = self._held_eval, None
        return () if held is None else (held,)

    def _kv_step(self, m: re.Match[str], line: str) -> Event | tuple[Event, ...]:
        """wordplay's step line; the train/val losses it repeats are an eval's, which ran
        after the step line before the one where they first change (at step 0 for the first)."""
        step = int(m.group(1))
        fields = {k: number(v) for k, v in _KV_FIELD.findall(line, m.end())}
        mfu = fields.get("mfu")
        event = Iteration(iter=step, loss=number(m.group(2)), step_time_s=None,
                          mfu=None if mfu is None or mfu < 0 else mfu / 100.0)
        losses = (fields.get("train_loss"), fields.get("val_loss"))
        before, self._kv_iter = self._kv_iter, step
        if before is None:  # its eval runs after a step line: the next step pays for it
            event = (ConfigValue("eval_step_offset", 1), event)  # type: ignore[assignment]
        if losses[1] is None or losses == self._kv_losses:
            return event
        self._kv_losses = losses
        evaluated = Eval(iter=0 if before is None else before, train_loss=losses[0], val_loss=losses[1])
        return (evaluated, *event) if isinstance(event, tuple) else (evaluated, event)

    def plain(self) -> bool:
        """True when an `iter` line would leave the parser as it is (not inside a config
        dump): the bulk path may then fold such lines in without parse()."""
        return not self._in_config and self._held_eval is None

    def absorb(self, cols: IterationColumns, first: int, end: int) -> None:
        """`iter` lines read in bulk (bulk.nanogpt): their steps, as parse() keeps them."""
        before = int(cols.iter[end - 2]) if end - first >= 2 else self._iters[1]
        self._iters, self._resumed = (before, int(cols.iter[end - 1])), False

    def _config_line(self, line: str) -> Event | None:
        """One line of the dumped config file (configurator.py prints the whole file): its
        assignments of literals are settings; its other statements (`import time`, an
        assignment computed at run time, a block's body) are skipped. The first line that
        is not Python, or is one of train.py's own, ends the dump."""
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or line[:1].isspace():
            return None
        if not line.startswith(("Overriding", "tokens per iteration", "total number of tokens")):
            try:
                tree = ast.parse(stripped)
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                tree = None
                if stripped.endswith(("(", "[", "{", ",", "\\", ":")):
                    return None  # the first line of a statement that goes on
            if tree is not None:
                return _assignment(tree)
        self._in_config = False
        return None

    @staticmethod
    def _startup(line: str) -> Event | tuple[Event, ...] | None:
        if line.startswith(("tokens per iteration", "Tokens per iteration", "total number of tokens per iteration")):
            m = _TOKENS.match(line)
            return TokensPerIter(int(m.group(1).replace(",", ""))) if m else None
        if line.startswith("found vocab_size"):
            m = _VOCAB.match(line)
            return VocabSize(int(m.group(1))) if m else None
        if line.startswith("number of parameters: "):
            m = _PARAMS.match(line)
            return Params(round(float(m.group(1)) * 1e6)) if m else None
        if line.startswith("Initializing a new model from scratch"):
            return ModelInit("scratch")
        if line.startswith("Resuming training from "):
            return ModelInit("resume", line[len("Resuming training from ") :].strip())
        if line.startswith("Initializing from OpenAI GPT-2 weights"):
            return ModelInit("pretrained", line.partition(":")[2].strip())
        if line.startswith("compiling the model"):
            return Compiling()
        if line.startswith(_END_LINES):
            return TrainingEnded(line.strip())
        if line.startswith(_SAMPLER_LINES) or line.rstrip() == _SAMPLE_RULE:
            return SamplerOutput(line.strip())
        if line[:1].isspace() and '"' in line[:44]:
            return _json_setting(line)
        return _settings(line) if ": " in line else None


def _json_setting(line: str) -> Event | None:
    """One line of a JSON dump of the settings: train.py's settings only."""
    m = _JSON_SETTING.match(line)
    if m is None or m.group(1) not in TRAIN_SETTINGS:
        return None
    text = m.group(2).strip()
    return ConfigValue(key=m.group(1), value=_JSON_WORDS[text] if text in _JSON_WORDS else literal(text))


def _settings(line: str) -> tuple[Event, ...] | None:
    """A line of `name: value` pairs with at least one of train.py's settings among them:
    those settings (other names are the fork's own); None for any other line."""
    if _PAIRS.match(line) is None:
        return None
    pairs = [(m.group(1), m.group(2)) for m in _PAIR.finditer(line) if m.group(1) in TRAIN_SETTINGS]
    return tuple(ConfigValue(key=key, value=literal(value)) for key, value in pairs) or None


def _assignment(tree: ast.Module) -> Event | None:
    """`name = literal` as a setting; any other statement is none."""
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Assign):
        return None
    node = tree.body[0]
    if len(node.targets) != 1 or not isinstance(node.targets[0], ast.Name):
        return None
    try:
        return ConfigValue(key=node.targets[0].id, value=constant(node.value))
    except ValueError:
        return None  # computed when the run starts (`'run' + str(time.time())`): unknown here


def sniff(line: str) -> int:
    """What the line says of the family (common.SHARED, OWN, STEP; 0 when it is not nanoGPT's):
    the `iter` line decides; the eval line, the tokens line, the config dump's head and the
    start-up lines of _SHARED_LINES are llama2.c's too."""
    if _ITER.match(line) or line.startswith("step=") and _KV_STEP.match(line):
        return STEP
    if line.startswith(_OWN_LINES):
        return OWN
    if _EVAL.match(line) or _TOKENS.match(line) or _OVERRIDE_FILE.match(line) or line.startswith(_SHARED_LINES):
        return SHARED
    return 0


def _launched(args: list[str]) -> Launched:
    """train.py's arguments as configurator.py reads them: `--key=value` settings, and any other
    argument a config file."""
    settings = []
    config_file = False
    for arg in args:
        m = _OVERRIDE_ARG.fullmatch(arg)
        if m is not None:
            settings.append((m.group(1), literal(m.group(2))))
        else:
            config_file = True
    return Launched(tuple(settings), config_file)


def final_iter(max_iters: int, log_interval: int) -> int:
    """The last iteration nanoGPT logs: the loop runs 0..max_iters inclusive."""
    step = max(1, log_interval)
    return (max_iters // step) * step


def _seconds(value: float | None, unit: str) -> float | None:
    return None if value is None else value / 1000.0 if unit.lower() == "ms" else value
