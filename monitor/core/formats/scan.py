"""Read many log lines of known shapes at once: the bulk path of a cold open.

A shape is literal text around numbers, such as `iter {}: loss {}, time {}ms`. A line's
layout is its text with every digit made `0`: lines of one layout have their numbers in the
same columns, in the same format. Each layout a buffer holds is checked once against the
shapes, in Python (is it the shape's literal text, and is each number the reader keeps or
checks a plain decimal?); the lines are matched to their layout with one dict look-up each,
and only the numbers kept are decoded, with numpy, into the very float float() gives. Every
other line is left to the family's ordinary parser (Family.scan_iterations).

PURE ring: numpy only; no I/O, no textual/watchdog/pynvml imports.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

import numpy as np

from monitor.core.lines import MAX_SEGMENT_CHARS

_NUMERIC = b"0123456789.-+"
#: A decoded number has at most this many characters (its sign and point included): its
#: digits then make an integer below 10**15, exact in float64 (2**53 ~ 9.007e15).
MAX_CHARS = 15
_PAD = 24  # zero bytes around the text: the 16 bytes before any number's end lie inside
_POW10 = 10.0 ** np.arange(MAX_CHARS + 1)
#: bytes.translate's table for a line's layout: every digit made `0`
_LAYOUT = bytes(ord("0") if ord("0") <= c <= ord("9") else c for c in range(256))

#: How a shape's number is read: a plain integer (`\d+`), a decimal with an optional sign
#: (the parsers' NUM), a decimal without one (`[\d.]+`), or not at all (the parser never
#: reads it: any run of number characters will do).
INTEGER, SIGNED, UNSIGNED, FREE = range(4)
# A number of each kind in a layout (its digits made 0), when the parser reads it exactly
# as float() or int() reads it.
_PLAIN = {
    INTEGER: re.compile(rb"0+"),
    SIGNED: re.compile(rb"[-+]?0+(?:\.0*)?"),
    UNSIGNED: re.compile(rb"0+(?:\.0*)?"),
    FREE: re.compile(rb"[-+.0]+"),
}
_RUN = re.compile(rb"[-+.0]+")


@dataclass(frozen=True, slots=True)
class Shape:
    """`literals[0]` number `literals[1]` number ... `literals[-1]`: one literal more than
    numbers. `kinds[j]` says how number j is read."""

    literals: tuple[bytes, ...]
    kinds: tuple[int, ...]

    def __post_init__(self) -> None:
        if any(b in _NUMERIC for lit in self.literals for b in lit):
            raise ValueError("a literal may not hold digits, '.', '-' or '+': it would split a number")
        if len(self.kinds) != self.fields:
            raise ValueError(f"{self.fields} numbers, {len(self.kinds)} kinds")

    @staticmethod
    def of(text: str, integers: tuple[int, ...] = (), unsigned: tuple[int, ...] = (),
           free: tuple[int, ...] = ()) -> Shape:
        """The shape of `text` with `{}` for each number (SIGNED unless listed otherwise):
        `Shape.of("iter {}: loss {}", integers=(0,))`."""
        literals = tuple(part.encode() for part in text.split("{}"))
        kinds = tuple(FREE if j in free else INTEGER if j in integers else UNSIGNED if j in unsigned else SIGNED
                      for j in range(len(literals) - 1))
        return Shape(literals, kinds)

    @property
    def fields(self) -> int:
        return len(self.literals) - 1


@dataclass(frozen=True, slots=True)
class IterationColumns:
    """Iteration lines read in bulk: `ok[i]` says whether line i is one; the other
    columns hold its values (NaN where the line does not print one), as Iteration would."""

    ok: np.ndarray
    iter: np.ndarray
    loss: np.ndarray
    step_time_s: np.ndarray
    mfu: np.ndarray
    #: a cumulative training clock (s) and the run's printed total of steps, where printed
    train_time_s: np.ndarray | None = None
    max_iters: np.ndarray | None = None


#: A Variant's column that the line does not print: NaN there.
MISSING = -1
#: (shape, picks): `picks[c]` is the index of the shape's number that goes to output column
#: c, or MISSING.
Variants = tuple[tuple[Shape, tuple[int, ...]], ...]


@dataclass(frozen=True, slots=True)
class _Number:
    """Where a kept number ends in its layout's lines, and its format, over the 16 bytes
    before its end: where its digits are (a 0x0F mask per 64-bit word, the earlier word
    first), whether it has a point, digits after it, a minus sign."""

    end: int
    digits: tuple[int, int]
    point: bool
    decimals: int
    negative: bool


def _layout(layout: bytes, variants: Variants, by_literals: dict[tuple[bytes, ...], int]) -> tuple[int, tuple[_Number | None, ...]] | None:
    """(variant, the kept numbers per output column) when lines of this layout are read
    exactly by a variant, else None. A kept number is never FREE (its format is checked)."""
    body = layout[:-1] if layout.endswith(b"\r") else layout  # segments() drops the piece after a last \r
    if len(body) > MAX_SEGMENT_CHARS:  # the parser would see it cut short
        return None
    runs = [m.span() for m in _RUN.finditer(body)]
    edges = [0, *itertools.chain.from_iterable(runs), len(body)]
    v = by_literals.get(tuple(body[a:b] for a, b in zip(edges[0::2], edges[1::2])))
    if v is None:
        return None
    shape, picks = variants[v]
    for (a, b), kind in zip(runs, shape.kinds):
        if _PLAIN[kind].fullmatch(body, a, b) is None or (kind != FREE and b - a > MAX_CHARS):
            return None
    return v, tuple(None if j == MISSING else _number(body, *runs[j]) for j in picks)


def _number(body: bytes, start: int, end: int) -> _Number:
    text = body[start:end].rjust(16, b" ")
    point = text.find(b".")

    mask = bytes(0x0F if c == ord("0") else 0 for c in text)
    digits = int.from_bytes(mask[:8], "little"), int.from_bytes(mask[8:], "little")
    return _Number(end, digits, point >= 0, 15 - point if point >= 0 else 0, text.lstrip().startswith(b"-"))


_NONE = _Number(0, (0, 0), False, 0, False)


class Lines:
    """Consecutive lines of a buffer (`starts`, `ends` as lines.line_bounds gives them: ends
    exclude the `\\n`, a `\\r` before it is the line's), each with its layout. O(bytes)."""

    def __init__(self, data: bytes, starts: np.ndarray, ends: np.ndarray) -> None:
        self.starts = starts
        n = len(starts)
        lo = int(starts[0]) if n else 0
        text = data[lo : int(ends[-1]) if n else 0]
        raw = np.frombuffer(text, dtype=np.uint8)
        # Zeros around it, whole 64-bit words: the 16 bytes before any number's end lie inside.
        padded = np.zeros(len(text) + 2 * _PAD + (-len(text) % 8), dtype=np.uint8)
        padded[_PAD : _PAD + len(text)] = raw
        self._words = padded.view("<u8")
        self._base = lo - _PAD  # offset in the padding = offset in data - base
        self.layouts = text.translate(_LAYOUT).split(b"\n") if n else []
        if len(self.layouts) != n:
            raise ValueError("Lines: starts and ends must be consecutive lines of the buffer")

    def decode(self, hi: np.ndarray, formats: _Formats, of: np.ndarray) -> np.ndarray:
        """The numbers (float64) that end at `hi`, row i of the format `of[i]` in `formats`.

        The digits make an integer mantissa below 10**15 and the point a power of ten: one
        IEEE division of two exact values, correctly rounded, as float() rounds the text.
        The 16 bytes before each end are read as two 64-bit words, and their digits turned
        into numbers eight at a time (SWAR; Lemire, "Parsing series of integers with SIMD").
        """
        at = hi - 16 - self._base
        word, shift = at >> 3, ((at & 7) << 3).astype(np.uint64)
        back = np.uint64(64) - shift  # a shift by 64 gives 0 in numpy: the shift-0 case
        w1, w2 = self._words[word + 1], self._words[word + 2]
        last = w1 >> shift
        last |= w2 << back
        digits = _eight_digits(last & formats.digits[1][of])
        if formats.wide:
            first = self._words[word] >> shift
            first |= w1 << back
            first &= formats.digits[0][of]
            digits += _eight_digits(first) * np.uint64(10**8)
        # The point's byte holds no digit: the digits read as the integer part times
        # 10 ** (decimals + 1) plus the digits after the point. Exact below 10**15.
        if formats.point:
            below = formats.below[of]
            digits = digits // formats.above[of] * below + digits % below
            value = digits.astype(np.float64) / formats.scale[of]
        else:
            value = digits.astype(np.float64)
        # + 0.0: a printed `-0` is 0, as number() reads it (never shown as `-0.0%`)
        return np.where(formats.negative[of], -value, value) + 0.0 if formats.negative.any() else value


class _Formats:
    """The formats of one output column, one per layout, as arrays (see _Number)."""

    def __init__(self, numbers: list[_Number]) -> None:
        self.end = np.array([x.end for x in numbers])
        self.digits = tuple(np.array([x.digits[i] for x in numbers], dtype=np.uint64) for i in (0, 1))
        self.wide = any(x.digits[0] for x in numbers)  # a number of more than 8 bytes
        self.point = any(x.point for x in numbers)
        # the digits as read split at the point: value = digits // above * below + digits % below
        self.above = np.array([10 ** (x.decimals + 1) if x.point else 1 for x in numbers], dtype=np.uint64)
        self.below = np.array([10**x.decimals if x.point else 1 for x in numbers], dtype=np.uint64)
        self.scale = _POW10[[x.decimals for x in numbers]]
        self.negative = np.array([x.negative for x in numbers])


_MASKS = tuple(np.uint64(m) for m in (0x0F000F000F000F00, 0x000F000F000F000F, 0x00FF000000FF0000, 0x000000FF000000FF,
                                       0x0000FFFF00000000, 0x000000000000FFFF))
_SHIFTS = tuple(np.uint64(x) for x in (8, 16, 32))
_TENS = tuple(np.uint64(x) for x in (10, 100, 10000))


def _eight_digits(v: np.ndarray) -> np.ndarray:
    """The 8-digit numbers whose digits (0-9, most significant first) are the bytes of `v`
    (which it overwrites): pairs of digits, then of pairs, then of quads."""
    for i, (shift, ten) in enumerate(zip(_SHIFTS, _TENS)):
        high = v & _MASKS[2 * i]
        high >>= shift
        v &= _MASKS[2 * i + 1]
        v *= ten
        v += high
    return v


def read_variants(lines: Lines, variants: Variants) -> tuple[np.ndarray, list[np.ndarray]]:
    """Lines that are exactly one of several shapes, and chosen numbers of each.

    A line is read by the first variant whose literal text it has. Returns (ok, columns):
    `ok[i]` is True for a line read exactly; `columns[c][i]` its number for column c
    (float64, NaN for MISSING; integers stay exact below 2**53, MAX_CHARS keeps them there).
    """
    n = len(lines.layouts)
    width = len(variants[0][1])
    by_literals: dict[tuple[bytes, ...], int] = {}
    for v, (shape, _) in enumerate(variants):
        by_literals.setdefault(shape.literals, v)
    heads = tuple({shape.literals[0] for shape, _ in variants})
    found: dict[bytes, int] = {}
    layouts: list[tuple[int, tuple[_Number | None, ...]]] = []
    for layout in set(lines.layouts):
        read = _layout(layout, variants, by_literals) if layout.startswith(heads) else None
        if read is not None:
            found[layout] = len(layouts)
            layouts.append(read)
    ids = np.fromiter(map(found.get, lines.layouts, itertools.repeat(-1)), dtype=np.int64, count=n)
    ok = ids >= 0
    columns = [np.full(n, np.nan) for _ in range(width)]
    if not layouts:
        return ok, columns
    rows = np.flatnonzero(ok)
    ids = ids[rows]
    for c in range(width):
        formats = [numbers[c] or _NONE for _, numbers in layouts]
        printed = [x is not _NONE for x in formats]
        if not any(printed):
            continue
        kept, of = rows, ids
        if not all(printed):
            has = np.array(printed)[ids]
            kept, of = rows[has], ids[has]
        table = _Formats(formats)
        columns[c][kept] = lines.decode(lines.starts[kept] + table.end[of], table, of)
    return ok, columns
