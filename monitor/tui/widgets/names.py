"""Text cut to a width in terminal cells (`shorten`), and log names cut so that the rows still
tell them apart: the part where a name differs from the others is kept, with its extension
(`llmc_gpt2_124M_run1.log` in 10 cells is `…_run1.log`, not `llmc_….log` as its neighbour
`…run2.log` would read too).

UI ring: text only (terminal cells by rich.cells); no I/O.
"""

from __future__ import annotations

import functools
import itertools
import os
from collections.abc import Sequence

from rich.cells import cell_len

ELLIPSIS = "…"
#: A cut name's start is shown when it has at least this many cells (`llm…`), else the end has them.
MIN_HEAD_CELLS = 3


def fit_names(names: Sequence[str], width: int) -> list[str]:
    """`names` (already escaped for a terminal), each in at most `width` cells, an ellipsis where
    one was cut. A name that does not fit is cut in the middle, its start and its end kept (its
    extension with them), where the cut still shows what no other name in `names` has: the cut
    moves along for a name whose start and end are shared (`run1.log` and `run2.log`)."""
    return list(_fitted(tuple(names), width))


@functools.lru_cache(maxsize=4)
def _fitted(names: tuple[str, ...], width: int) -> tuple[str, ...]:
    """fit_names, kept for the table's next redraw (its names and width seldom change)."""
    if width < 1:
        return tuple("" for _ in names)
    starts, ends = _distinct_spans(names)
    return tuple(_fit(name, width, start, end) for name, start, end in zip(names, starts, ends))


def _distinct_spans(names: Sequence[str]) -> tuple[list[int], list[int]]:
    """For each name, the first character past the longest start it shares with another name
    (`name[:start + 1]` is no other's start) and the one before the longest end it shares
    (`name[end - 1:]` is no other's end): indices, start < len(name), 0 < end."""
    heads = _shared_starts(names)
    tails = _shared_starts([name[::-1] for name in names])
    starts = [max(0, min(h, len(name) - 1)) for name, h in zip(names, heads)]
    ends = [max(1, len(name) - t) for name, t in zip(names, tails)]
    return starts, ends


def _shared_starts(names: Sequence[str]) -> list[int]:
    """The longest start each name shares with another: with a neighbour in sorted order."""
    shared = [0] * len(names)
    order = sorted(range(len(names)), key=names.__getitem__)
    for i, j in itertools.pairwise(order):
        common = len(os.path.commonprefix([names[i], names[j]]))
        shared[i], shared[j] = max(shared[i], common), max(shared[j], common)
    return shared


def _fit(name: str, width: int, start: int, end: int) -> str:
    """`name` cut in the middle, where the cut falls so that the start up to `start` or the end
    from `end - 1` shows (no other name starts or ends so): the end when it can, the more of it
    the less room a start would have."""
    if cell_len(name) <= width:
        return name
    room = max(0, width - 1)
    head_room = (room + 1) // 2  # the plain middle cut
    need_head, need_tail = cell_len(name[: start + 1]), cell_len(name[end - 1 :])
    if need_head > head_room and need_tail > room - head_room:  # it would hide what tells it apart
        if need_tail <= room:
            head_room = (room - need_tail) // 2
            head_room = head_room if head_room >= MIN_HEAD_CELLS else 0
        elif need_head < room:
            head_room = need_head
        else:  # neither fits: a short start and the rest of the end, as most likely to differ
            head_room = min(MIN_HEAD_CELLS, room)
    return _cut(name, head_room, room)


def shorten(text: str, width: int, *, middle: bool) -> str:
    """`text` in at most `width` terminal cells, an ellipsis where it was cut: in the middle for
    a log's name (its start and its end, `…/run.log`, tell logs apart), else at the end."""
    if cell_len(text) <= width:
        return text
    room = max(0, width - 1)
    if not middle:
        return f"{_take(text, room)}{ELLIPSIS}"
    return _cut(text, (room + 1) // 2, room)


def _cut(text: str, head_room: int, room: int) -> str:
    """`text` as its start in `head_room` cells, an ellipsis, and its end in what is left of `room`."""
    head = _take(text, head_room)
    tail = _take(text[::-1], room - cell_len(head))[::-1]
    return f"{head}{ELLIPSIS}{tail}"


def _take(text: str, width: int) -> str:
    """The longest start of `text` in `width` cells (a wide character is not split)."""
    used = 0
    for i, char in enumerate(text):
        used += cell_len(char)
        if used > width:
            return text[:i]
    return text
