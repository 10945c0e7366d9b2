"""Turn raw log bytes into clean text lines: UTF-8 with replacement, ANSI and control
codes removed, `\\r`-overwritten segments split apart, giant lines bounded.

PURE ring: no I/O, no textual/watchdog/pynvml imports.
"""

from __future__ import annotations

import re

import numpy as np

from monitor.core.sanitise import clean

# CSI (colours, cursor moves), OSC (titles, hyperlinks) and two-byte escapes.
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]?")
# C0 controls other than tab, and DEL / C1 controls: never shown, never parsed.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")

#: A line longer than this is cut to its head and its last `\r` segment.
MAX_LINE_BYTES = 1 << 20
_KEEP_BYTES = 64 * 1024
#: Longest text a parser looks at; every known log line is far shorter.
MAX_SEGMENT_CHARS = 16 * 1024


def visible(text: str) -> str:
    """`text` made safe for a terminal: the one sanitiser, monitor.core.sanitise.clean()."""
    return clean(text)


def decode(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


def segments(line: str) -> list[str]:
    """The visible pieces of one log line, in order.

    A terminal shows only what follows the last `\\r`, but progress bars overwrite
    real lines too, so every `\\r`-separated piece is kept and parsed.
    """
    if _CONTROL.search(line) is None:
        return [line[:MAX_SEGMENT_CHARS]] if line else []
    if "\x1b" in line:
        line = _ANSI.sub("", line)
    pieces = line.split("\r") if "\r" in line else [line]
    out = []
    for piece in pieces:
        piece = _CONTROL.sub("", piece)
        if piece.strip():
            out.append(piece[:MAX_SEGMENT_CHARS])
    return out


def bound(raw: bytes) -> bytes:
    """Keep a runaway line (no newline for megabytes) to a bounded size.

    The head is kept for context, and the tail after the last `\\r` because that is
    where an overwritten progress line ends and a real line would begin.
    """
    if len(raw) <= MAX_LINE_BYTES:
        return raw
    cr = raw.rfind(b"\r", len(raw) - _KEEP_BYTES)
    tail = raw[cr:] if cr >= 0 else b""
    return raw[:_KEEP_BYTES] + b"\r" + tail


def line_bounds(buf: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Start and end offsets of the lines of `buf`, split on `\\n` (ends exclude it).

    A last piece without `\\n` is a line; the empty piece after a final `\\n` is not.
    """
    newlines = np.flatnonzero(np.frombuffer(buf, dtype=np.uint8) == 0x0A)
    starts = np.concatenate(([0], newlines + 1))
    ends = np.concatenate((newlines, [len(buf)]))
    if starts[-1] == len(buf):
        starts, ends = starts[:-1], ends[:-1]
    return starts, ends


class LineSplitter:
    """Accumulates byte chunks and hands back complete lines (without `\\n`).

    A partial last line waits for its newline; `flush()` releases it.
    """

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        data = self._pending + chunk if self._pending else chunk
        parts = data.split(b"\n")
        self._pending = bound(parts.pop())
        return [bound(p) if len(p) > MAX_LINE_BYTES else p for p in parts]

    def feed_block(self, chunk: bytes) -> bytes:
        """Like feed(), but the complete lines come back as one buffer, each ending in `\\n`
        (a runaway line is bounded later, by whoever splits the buffer)."""
        data = self._pending + chunk if self._pending else chunk
        cut = data.rfind(b"\n") + 1
        self._pending = bound(data[cut:])
        return data[:cut]

    @property
    def pending(self) -> bytes:
        return self._pending

    def flush(self) -> list[bytes]:
        rest, self._pending = self._pending, b""
        return [rest] if rest else []

    def reset(self) -> None:
        self._pending = b""
