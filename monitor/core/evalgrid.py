"""The evals that show a run's eval interval, when the log does not print it: those on the
grid the evals make, a final eval off it left out.

PURE ring: no I/O, no textual/watchdog/pynvml imports.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from functools import reduce

#: Evals on one grid before a later one off it reads as the loop's final eval.
GRID_EVALS = 2


def grid_steps(steps: Iterable[int]) -> list[int]:
    """The eval steps above 0 (ascending, once each) that lie on the evals' grid: all of them,
    but the last when it falls off the grid of at least GRID_EVALS before it. Training loops
    evaluate every N steps and at their last step wherever it falls (`if step % N == 0 or
    last_step`: build-nanogpt, llm.c, nanochat), so a finished run's last eval may be off the
    grid (19072 after 250, 500, ..., 19000): it would make the evals' greatest common divisor 2."""
    seen = sorted({s for s in steps if s > 0})
    if len(seen) > GRID_EVALS:
        grid = reduce(math.gcd, seen[:-1])
        if seen[-1] % grid:
            return seen[:-1]
    return seen

