"""Plan: what a run intends to do (how many steps, how often it logs and evaluates),
from the log where it says so, else from the family's defaults or the user's flags.

PURE ring: no I/O, no textual/watchdog/pynvml imports.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from monitor.formats import FAMILIES, Family
from monitor.run import Run


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
    elif setting is not None and _int(setting.value) is not None:
        max_iters, source = _int(setting.value), setting.source
    else:
        max_iters, source = None, None
    log_interval = max(1, get("log_interval") or 1)
    final = None
    if max_iters is not None:
        final = family.final_iter(max_iters, log_interval) if family else max_iters
    grad_accum, batch, block = get("gradient_accumulation_steps"), get("batch_size"), get("block_size")
    tokens = run.tokens_per_iter
    if tokens is None and grad_accum and batch and block and run.setting("batch_size", {}, None):
        tokens = grad_accum * batch * block  # printed config, single process
    eval_interval = get("eval_interval")
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
    )
