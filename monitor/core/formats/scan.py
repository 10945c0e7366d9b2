"""Read many log lines of one fixed shape at once with numpy: the bulk path of a cold open.

A shape is literal text around numbers, such as `iter {}: loss {}, time {}ms`. A line is
read only when it is exactly that text with plain decimals in the holes (digits, at most
one point, a leading sign, 15 digits at most): for those numpy computes the very float
that float() gives. Every other line is left to the family's ordinary parser, and so is
every line a family's parser would read with a changed state (Family.scan_iterations).

PURE ring: numpy only; no I/O, no textual/watchdog/pynvml imports.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Bytes that may appear in a number: digits, the decimal point and the signs.
_NUMERIC = np.zeros(256, dtype=bool)
_NUMERIC[list(b"0123456789.-+")] = True
#: More digits than this may not be exact in float64 (2**53 ~ 9.007e15), so such lines are
#: left to float().
MAX_DIGITS = 15
_MAX_CHARS = MAX_DIGITS + 2  # sign and point
_POW10 = 10.0 ** np.arange(MAX_DIGITS + 1)
_POW10_INT = 10 ** np.arange(_MAX_CHARS + 1, dtype=np.int64)
_WEIGHTS = _POW10_INT[_MAX_CHARS - 1 :: -1].copy()  # 10**16 ... 10**0, one per column
_BITS = 1 << np.arange(_MAX_CHARS - 1, -1, -1, dtype=np.int32)  # 2**16 ... 2**0


@dataclass(frozen=True, slots=True)
class Shape:
    """`literals[0]` number `literals[1]` number ... `literals[-1]`: one literal more than
    numbers. `integers` are the indices of numbers that must be plain non-negative integers,
    `unsigned` those that may not start with a sign (a parser's `[\\d.]+`), `free` those the
    parser never reads (any run of number characters will do; their values are not read)."""

    literals: tuple[bytes, ...]
    integers: tuple[int, ...] = ()
    unsigned: tuple[int, ...] = ()
    free: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if any(_NUMERIC[b] for lit in self.literals for b in lit):
            raise ValueError("a literal may not contain digits, '.', '-' or '+': it would split a number")

    @staticmethod
    def of(text: str, integers: tuple[int, ...] = (), unsigned: tuple[int, ...] = (),
           free: tuple[int, ...] = ()) -> Shape:
        """The shape of `text` with `{}` for each number: `Shape.of("iter {}: loss {}")`."""
        return Shape(tuple(part.encode() for part in text.split("{}")), integers, unsigned, free)

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


class Tokens:
    """The runs of number characters in a buffer, found once and shared by every shape."""

    def __init__(self, buf: np.ndarray) -> None:
        # Zeros around it let a window of up to _MAX_CHARS bytes end at any offset, and
        # one of 8 bytes start at any offset.
        self._padded = np.concatenate((np.zeros(_MAX_CHARS, dtype=np.uint8), buf, np.zeros(8, dtype=np.uint8)))
        self.buf = self._padded[_MAX_CHARS : _MAX_CHARS + len(buf)]
        # '+' ',' '-' '.' '/' 0-9, less ',' and '/'
        numeric = ((buf - np.uint8(ord("+"))) < 15) & (buf != ord(",")) & (buf != ord("/"))
        # A run begins where the class turns numeric and ends where it turns back.
        edges = np.flatnonzero(numeric[1:] != numeric[:-1]) + 1
        if len(buf) and numeric[0]:
            edges = np.concatenate(([0], edges))
        if len(edges) % 2:
            edges = np.concatenate((edges, [len(buf)]))
        self.starts = edges[0::2]
        self.ends = edges[1::2]

    def windows(self, width: int) -> np.ndarray:
        """Row i: the `width` bytes that end just before offset i (zeros before the start)."""
        return np.lib.stride_tricks.sliding_window_view(self._padded, width)[_MAX_CHARS - width :]


def read_shape(tokens: Tokens, starts: np.ndarray, ends: np.ndarray, shape: Shape) -> tuple[np.ndarray, list[np.ndarray]]:
    """Which lines `[starts[i], ends[i])` are exactly `shape`, and their numbers.

    Returns (ok, values): `ok[i]` is True for a line read exactly; `values[j][i]` is its
    j-th number (float64, int64 for `shape.integers`), meaningless where `ok` is False.
    """
    n, k = len(starts), shape.fields
    if len(tokens.starts) < k or n == 0:
        return np.zeros(n, dtype=bool), [np.zeros(n) for _ in range(k)]
    # The line's numbers are the first k runs that begin inside it.
    first = np.minimum(np.searchsorted(tokens.starts, starts), len(tokens.starts) - k)
    # Each check runs on the rows that passed the ones before: most lines fail early.
    rows = np.arange(n)
    for at, literal in enumerate(shape.literals):
        lo = starts[rows] if at == 0 else tokens.ends[first[rows] + at - 1]
        hi = ends[rows] if at == k else tokens.starts[first[rows] + at]
        rows = rows[_is_literal(tokens, lo, hi, literal)]
    values = [np.zeros(n, dtype=np.int64 if j in shape.integers else np.float64) for j in range(k)]
    for j in range(k):
        begin, end = tokens.starts[first[rows] + j], tokens.ends[first[rows] + j]
        keep = np.ones(len(rows), dtype=bool)
        if j in shape.unsigned:  # a digit first: no sign
            keep &= (tokens.buf[np.minimum(begin, len(tokens.buf) - 1)] - np.uint8(ord("0"))) < 10
        if j not in shape.free:
            value, exact = _decimal(tokens, begin, end, integer=j in shape.integers)
            keep &= exact
            values[j][rows] = value
        rows = rows[keep]
    ok = np.zeros(n, dtype=bool)
    ok[rows] = True
    return ok, values


#: A Variant's column that the line does not print: NaN there.
MISSING = -1


def read_variants(
    tokens: Tokens, starts: np.ndarray, ends: np.ndarray, variants: tuple[tuple[Shape, tuple[int, ...]], ...]
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Lines that are exactly one of several shapes, and chosen numbers of each.

    `variants`: (shape, picks) pairs, tried in order on the lines not yet read; `picks[c]`
    is the index of the shape's number that goes to output column c, or MISSING (NaN).
    Returns (ok, columns) as read_shape, every column float64 (integers stay exact below
    2**53; MAX_DIGITS keeps them there).
    """
    n = len(starts)
    ok = np.zeros(n, dtype=bool)
    width = len(variants[0][1])
    columns = [np.full(n, np.nan) for _ in range(width)]
    # A line is one of the shapes with as many numbers as it holds: the others need no look.
    runs = np.searchsorted(tokens.starts, ends) - np.searchsorted(tokens.starts, starts)
    for shape, picks in variants:
        rest = np.flatnonzero(~ok & (runs == shape.fields))
        if not len(rest):
            continue
        hit, values = read_shape(tokens, starts[rest], ends[rest], shape)
        rows = rest[hit]
        ok[rows] = True
        for column, pick in zip(columns, picks):
            if pick != MISSING:
                column[rows] = values[pick][hit]
    return ok, columns


def _is_literal(tokens: Tokens, lo: np.ndarray, hi: np.ndarray, literal: bytes) -> np.ndarray:
    same = (hi - lo) == len(literal)
    # Eight bytes at a time: each row's bytes side by side, read as one little-endian word.
    for at in range(0, len(literal), 8):
        piece = literal[at : at + 8]
        rows = tokens.windows(8)
        words = rows[np.minimum(lo + at + 8, len(rows) - 1)].view("<u8")[:, 0]
        mask = np.uint64((1 << (8 * len(piece))) - 1)
        same &= (words & mask) == np.uint64(int.from_bytes(piece, "little"))
    return same


def _decimal(tokens: Tokens, lo: np.ndarray, hi: np.ndarray, integer: bool) -> tuple[np.ndarray, np.ndarray]:
    """The value of each number run `buf[lo:hi]` and whether it was read exactly.

    A run holds only digits, points and minus signs; it is exact when it is -?D+(.D*)?
    with at most MAX_DIGITS digits. The digits make an integer mantissa below 10**15 and
    the point a power of ten: one IEEE division of two exact values, correctly rounded,
    as float() rounds the text.
    """
    length = np.minimum(hi - lo, _MAX_CHARS)
    width = int(max(length.max(initial=1), 1))
    # Right-aligned rows: the run's last character lands in the last column, and column c
    # stands for 10**(width-1-c) and for bit (width-1-c). Whatever lies left of the run
    # only adds multiples of 10**length and bits at or above `length`: masked off below.
    digit = tokens.windows(width)[hi] - np.uint8(ord("0"))  # '.' and '-' wrap around to >= 10
    is_digit = digit < 10
    weighted = (digit * is_digit).astype(np.int64) @ _WEIGHTS[-width:] % _POW10_INT[length]
    low_bits = (1 << length) - 1
    signs = (~is_digit).astype(np.int32) @ _BITS[-width:] & low_bits  # where the points and minuses are
    point = (digit == np.uint8(ord(".") - ord("0") + 256)).astype(np.int32) @ _BITS[-width:] & low_bits
    first = tokens.buf[lo]
    negative = first == ord("-")
    signed = negative | (first == ord("+"))
    minus = np.where(signed, 1 << (length - 1), 0)
    after_sign = tokens.buf[np.minimum(lo + signed, len(tokens.buf) - 1)] - np.uint8(ord("0"))
    one_point_at_most = (point & (point - 1)) == 0
    exact = (hi - lo <= _MAX_CHARS) & (after_sign < 10) & (signs == (point | minus)) & one_point_at_most
    exact &= length - signed - (point != 0) <= MAX_DIGITS
    if integer:
        return weighted, exact & (signs == 0)
    # The point's column holds no digit, so the integer part sits ten times too high
    # above the `decimals` fraction digits; the point's bit is `decimals`.
    decimals = np.where(point != 0, np.frexp(point)[1] - 1, 0)
    decimals = np.minimum(decimals, MAX_DIGITS)
    fraction = weighted % _POW10_INT[decimals]
    mantissa = np.where(point != 0, (weighted - fraction) // 10 + fraction, weighted)
    value = mantissa / _POW10[decimals]
    return np.where(negative, -value, value), exact
