"""Plan: what a run intends to do (how many steps, how often it logs and evaluates),
from the log where it says so, else from the family's defaults or the user's flags.

PURE ring: no I/O, no textual/watchdog/pynvml imports.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from monitor.core.formats import FAMILIES, Family
from monitor.core.run import Run


@dataclass(frozen=True, slots=True)
class Plan:
    max_iters: int | None
    max_iters_source: str | None  # "log" | "flag" | "default"
    final_iter: int | None  # the last step number the log will print
    log_interval: int
    eval_interval: int | None
    eval_iters: int | None
    grad_accum: int | None
    batch_size: int | None
    block_size: int | None
    tokens_per_iter: int | None
    n_layer: int | None
    n_head: int | None
    n_embd: int | None
    #: the family's printed step time includes the eval/checkpoint pause of eval steps
    eval_in_step_time: bool = False
    #: how many steps after an eval's step the step whose line pays for it comes: 0 where the
    #: eval runs before its step's line (nanoGPT: `step N: … val loss` then `iter N`), 1 where
    #: it runs after it (llm.c's stdout: `step N/M …` then `val loss`, paid by step N+1)
    eval_step_offset: int = 0
    #: the model is torch.compile'd (the first eval and step then include compilation);
    #: None when the log does not say and the family has no default
    compiled: bool | None = None
    #: the run numbers its first step 0 (else 1)
    zero_based: bool = True
    #: how many optimizer steps the run takes in all; None without a max_iters
    steps_total: int | None = None
    #: the family's default max_iters, not assumed: the log holds none of the run's start-up (it
    #: starts mid-run, or is a capture without config lines), so the run may have set its own
    default_not_assumed: int | None = None


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)) and math.isfinite(value) and abs(value) < 1e15:
        return int(value)
    return None


def make_plan(run: Run, fmt: str | None, max_iters_flag: int | None = None) -> Plan:
    family: Family | None = FAMILIES.get(fmt or "")
    defaults = family.defaults if family else {}
    flags: dict[str, object] | None = {"max_iters": max_iters_flag} if max_iters_flag else None

    def get(key: str) -> int | None:
        s = run.setting(key, defaults, flags)
        return None if s is None else _int(s.value)

    setting = run.setting("max_iters", defaults, flags)
    max_iters: int | None
    source: str | None
    if run.printed_max_iters is not None and not flags:
        max_iters, source = run.printed_max_iters, "log"
    elif run.share_max_iters is not None and not flags:
        # computed from the shares its own step lines print (a setting may be the stage's before)
        max_iters, source = run.share_max_iters, "log"
    elif setting is not None and (value := _int(setting.value)) is not None and value >= 0:
        # (a negative total is a switch, not a step count: nanochat's `num_iterations = -1` means
        # "from the data ratio"; nanoGPT's loop with -1 stops after step 0)
        max_iters, source = value, setting.source
    else:
        max_iters, source = None, None
    total_steps = run.total_steps
    if run.ended and total_steps is not None and not flags:
        # The end summary counts the steps the run took (autoresearch's `num_steps:`): that is
        # its total, whatever a share of its time budget suggested while it ran.
        max_iters, source = total_steps, "log"
    elif run.ended and run.crash is None and source == "default" and run.last_iter is not None:
        # The trainer said its loop is over (a fork's "training done") and never printed its
        # total: the run's last step is its total, not the family's default. (A process that
        # exited on an error or Ctrl+C stopped short of its total: `time`'s report says only
        # that it exited.)
        max_iters, source = run.last_iter, "log"
    dropped = None
    if source == "default" and not startup_read(run):
        dropped, max_iters, source = max_iters, None, None
    log_interval = max(1, get("log_interval") or 1)
    zero_based = _zero_based(run, family)
    final = steps_total = None
    if max_iters is not None:
        final, last_step = _final_iters(run, family, max_iters, log_interval)
        steps_total = max(0, last_step + (1 if zero_based else 0))
    grad_accum, batch, block = get("gradient_accumulation_steps"), get("batch_size"), get("block_size")
    tokens = run.tokens_per_iter
    printed = all(key in run.config for key in ("gradient_accumulation_steps", "batch_size", "block_size"))
    if tokens is None and printed and grad_accum and batch and block:
        # All three printed (a config dump): train.py's own product, for one process. A
        # default filled in for any of them would make the number up.
        tokens = grad_accum * batch * block
    eval_interval = get("eval_interval")
    compile_setting = run.setting("compile", defaults)
    compiled = True if run.compiling else None if compile_setting is None else bool(compile_setting.value)
    return Plan(
        max_iters=max_iters,
        max_iters_source=source,
        final_iter=final,
        log_interval=log_interval,
        eval_interval=eval_interval if eval_interval and eval_interval > 0 else None,
        eval_iters=get("eval_iters"),
        grad_accum=grad_accum,
        batch_size=batch,
        block_size=block,
        tokens_per_iter=tokens,
        n_layer=get("n_layer"),
        n_head=get("n_head"),
        n_embd=get("n_embd"),
        eval_in_step_time=_eval_in_step_time(run, family),
        eval_step_offset=eval_step_offset(run),
        compiled=compiled,
        zero_based=zero_based,
        steps_total=steps_total,
        default_not_assumed=dropped,
    )


def startup_read(run: Run) -> bool:
    """True when the log holds some of the process's start-up (settings, tokens per iteration,
    the model's size or how it was initialised, the command that ran it without a config file):
    only then does a family's default total hold."""
    launched = run.launched is not None and not run.launched.config_file
    return run.tokens_per_iter is not None or run.params is not None or run.init is not None or bool(run.config) or launched


def _zero_based(run: Run, family: Family | None) -> bool:
    # A parser says so for a file variant that counts differently from its family
    # (llm.c's logger file counts from 0, its stdout from 1).
    value = run.config.get("zero_based")
    if isinstance(value, bool):
        return value
    return family is None or family.zero_based


def _eval_in_step_time(run: Run, family: Family | None) -> bool:
    # A parser says so for a script whose clock differs from its family's (build-nanogpt's
    # `dt` runs from the top of its loop, eval included; train_gpt2.cu's leaves evals out).
    value = run.config.get("eval_in_step_time")
    if isinstance(value, bool):
        return value
    return family.eval_in_step_time if family else False


def eval_step_offset(run: Run) -> int:
    """Plan.eval_step_offset: as the run's parser says for its script (0 unless it says)."""
    value = run.config.get("eval_step_offset")
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 1 else 0


def _final_iters(run: Run, family: Family | None, max_iters: int, log_interval: int) -> tuple[int, int]:
    """The last step the log will print and the last step the run takes."""
    offset = _int(run.config.get("final_iter_offset"))
    if offset is not None:  # a stage or file variant that stops short of the family's rule
        return max_iters - offset, max_iters - offset
    if family is None:
        return max_iters, max_iters
    return family.final_iter(max_iters, log_interval), family.final_iter(max_iters, 1)
