"""Parser for karpathy/llama2.c's train.py output (and forks that drop the `mfu` field).

llama2.c's train.py is nanoGPT's with another step line: the config dump, `tokens per
iteration`, eval and `saving checkpoint` lines are nanoGPT's and read by its parser.
PURE ring: no I/O, no textual/watchdog/pynvml imports.
"""

from __future__ import annotations

import re

from monitor.core.events import ConfigValue, Event, Iteration
from monitor.core.formats import nanogpt
from monitor.core.formats.common import INT, NUM, OWN, STEP, number

NAME = "llama2c"

# train.py's own defaults, in force when the config is not printed.
DEFAULTS: dict[str, object] = {
    "max_iters": 100000,
    "eval_interval": 2000,
    "log_interval": 1,
    "eval_iters": 100,
    "batch_size": 128,
    "block_size": 256,
    "gradient_accumulation_steps": 4,
    "compile": True,
    "always_save_checkpoint": False,
}

# f"{iter_num} | loss {lossf:.4f} | lr {lr:e} | {dt*1000:.2f}ms | mfu {running_mfu*100:.2f}%"
_STEP = re.compile(rf"{INT} \| loss {NUM} \| lr {NUM} \| {NUM}ms(?: \| mfu {NUM}%)?")
# train.py calls max_seq_len what nanoGPT calls block_size.
_KEYS = {"max_seq_len": "block_size"}


class Parser(nanogpt.Parser):
    """nanoGPT's parser with llama2.c's step line; `wrote out/model.bin` is the export that
    goes with the checkpoint just counted, not another one."""

    name = NAME

    def parse(self, line: str) -> Event | tuple[Event, ...] | None:
        if line[:1].isdigit():
            m = _STEP.match(line)
            if m is not None:
                ms, mfu = number(m.group(4)), number(m.group(5))
                return Iteration(
                    iter=int(m.group(1)),
                    loss=number(m.group(2)),
                    step_time_s=None if ms is None else ms / 1000.0,
                    mfu=None if mfu is None or mfu < 0 else mfu / 100.0,
                )
        event = super().parse(line)
        if isinstance(event, ConfigValue) and event.key in _KEYS:
            return ConfigValue(_KEYS[event.key], event.value)
        return event


def sniff(line: str) -> int:
    """Its step line decides (common.STEP); its dataset's start-up line is its own (OWN)."""
    if line[:1].isdigit():
        return STEP if _STEP.match(line) is not None else 0
    return OWN if line.startswith("Created a PretokDataset") else 0
