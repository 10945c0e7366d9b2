"""Turn raw log bytes into clean text lines: UTF-8 with replacement, ANSI and control
codes removed, `\\r`-overwritten segments split apart, giant lines bounded.

PURE ring: no I/O, no textual/watchdog/pynvml imports.
"""

from __future__ import annotations

import codecs
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
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
    # without a `\r`, the end is kept too: a real line glued to megabytes of garbage is there
    tail = raw[cr:] if cr >= 0 else b"\r" + raw[-_KEEP_BYTES:]
    return raw[:_KEEP_BYTES] + b"\r" + tail


def line_bounds(buf: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Start and end offsets of the lines of `buf`, split on `\\n` (ends exclude it).

    A last piece without `\\n` is a line; the empty piece after a final `\\n` is not.
    """
    import numpy as np  # here: `nanowatch --help` imports this module, and no numpy

    newlines = np.flatnonzero(np.frombuffer(buf, dtype=np.uint8) == 0x0A)
    starts = np.concatenate(([0], newlines + 1))
    ends = np.concatenate((newlines, [len(buf)]))
    if starts[-1] == len(buf):
        starts, ends = starts[:-1], ends[:-1]
    return starts, ends


#: Bytes a stream's start is judged on: its byte-order mark, or UTF-16's zero high (or low)
#: bytes of ASCII text where it has no mark.
_SNIFF_BYTES = 64
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))


def sniff_encoding(head: bytes) -> tuple[str, int] | None:
    """(encoding, length of its byte-order mark) of a stream that starts with `head`; None
    while `head` is too short to tell. UTF-16 is told by its mark (Windows PowerShell's `>`
    and `Tee-Object`, .NET's Unicode encoding) or, without one, by ASCII text's zero high
    bytes: every other byte of the first 64 zero, none of the bytes between (a NUL-filled
    copytruncate hole has no text between its zeros, and stays UTF-8). Else UTF-8."""
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name, len(bom)
        if bom.startswith(head):
            return None  # the start of a mark, or of nothing yet
    if len(head) < 4 and b"\n" not in head:
        return None
    sample = head[: min(len(head), _SNIFF_BYTES) // 2 * 2]
    if len(sample) >= 4:
        even, odd = sample[0::2], sample[1::2]
        if not odd.strip(b"\0") and b"\0" not in even:
            return "utf-16-le", 0
        if not even.strip(b"\0") and b"\0" not in odd:
            return "utf-16-be", 0
    return "utf-8", 0


def _cr_to_lf(data: bytes) -> bytes:
    """`\r\n` and a bare `\r` both end a line, as a terminal shows them: a progress bar's
    `\r`-separated steps are lines, not one line megabytes long."""
    if b"\r" not in data:
        return data
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")


class Utf16Lines:
    """A UTF-16 stream transcoded to UTF-8 a line at a time: each line (up to its `\\n` or
    `\\r` code unit) is decoded on its own, so a stray byte (an odd-length blob appended by
    another writer) garbles its own line, not every line after it. The lines read whole are
    decoded at once (C speed); only a region whose line ends the decoder did not find where
    the bytes put them is decoded line by line. An unended line waits, raw, up to
    MAX_LINE_BYTES (a runaway one is passed on, and bounded downstream)."""

    def __init__(self, name: str) -> None:
        self.name = name  # "utf-16-le" or "utf-16-be"
        nl, cr = "\n".encode(name), "\r".encode(name)
        self._ends = (nl, cr)
        self._split = re.compile(b"(?<=" + re.escape(nl) + b")|(?<=" + re.escape(cr) + b")")
        self._raw = b""

    def feed(self, chunk: bytes, final: bool = False) -> bytes:
        data = self._raw + chunk if self._raw else chunk
        nl, cr = self._ends  # the last `\r` looked for after the last `\n` only: one pass, not two
        last_nl = data.rfind(nl)
        cut = max(last_nl, data.rfind(cr, last_nl + 1)) + 2 if not final else len(data)
        if cut < 2 and len(data) > MAX_LINE_BYTES:
            cut = len(data) // 2 * 2  # a runaway line: on, in whole code units
        elif cut < 2:
            cut = 0
        region, self._raw = data[:cut], data[cut:]
        return self._decode(region).encode("utf-8") if region else b""

    def _decode(self, region: bytes) -> str:
        text = region.decode(self.name, "replace")
        if len(region) % 2 == 0 and (text.isascii() or (region.count(b"\n") == text.count("\n")
                                                        and region.count(b"\r") == text.count("\r"))):
            # every 0x0A and 0x0D byte is a line end's own, so none is out of line: ASCII text has
            # them in no other code unit (isascii is a flag), else they are counted (the two-byte
            # counts below cost ~10x the decoding)
            return text
        ends = sum(region.count(end) for end in self._ends)
        if len(region) % 2 == 0 and text.count("\n") + text.count("\r") == ends:
            return text  # every line end where the bytes put it: aligned throughout
        return "".join(line.decode(self.name, "replace") for line in self._split.split(region))

    @property
    def tail(self) -> bytes:
        """The unended line so far, as UTF-8 (a code unit cut in half left out)."""
        return self._raw[: len(self._raw) // 2 * 2].decode(self.name, "replace").encode("utf-8")


class LineSplitter:
    """Accumulates byte chunks and hands back complete lines (without their ending).

    A line ends at `\n`, `\r\n` or a bare `\r`. A partial last line waits for its
    ending; `flush()` releases it.
    """

    def __init__(self) -> None:
        self._pending = b""
        self._after_cr = False  # the last chunk ended in `\r`: a `\n` next is part of its ending
        #: the stream's first bytes while its encoding is not told yet (sniff_encoding)
        self._head: bytes | None = b""
        #: UTF-16 streams are transcoded to UTF-8 as their lines come; None: UTF-8, read as it is
        self._utf16: Utf16Lines | None = None

    def _transcode(self, chunk: bytes, final: bool = False) -> bytes:
        """`chunk` as UTF-8: the stream's encoding is told from its first bytes (the mark
        dropped), a UTF-16 stream transcoded line by line (Utf16Lines). Costs a UTF-8 stream
        one test a read."""
        if self._head is not None:
            head = self._head + chunk
            told = sniff_encoding(head)
            if told is None and not final:
                self._head = head
                return b""
            self._head = None
            name, mark = told or ("utf-8", 0)
            chunk = head[mark:]
            if name.startswith("utf-16"):
                self._utf16 = Utf16Lines(name)
        if self._utf16 is not None:
            return self._utf16.feed(chunk, final)
        return chunk

    def _join(self, chunk: bytes, final: bool = False) -> bytes:
        if self._head is not None or self._utf16 is not None:
            chunk = self._transcode(chunk, final)
        if self._after_cr and chunk[:1] == b"\n":
            chunk = chunk[1:]  # the `\n` of a `\r\n` cut between two chunks
            self._after_cr = False
        if chunk:
            self._after_cr = chunk[-1:] == b"\r"
        if b"\0" in chunk:  # a copytruncate hole (a UTF-16 log's too): NULs are never part of a line
            # translate, not replace: replace() deletes a run of NULs ~12x slower (13 MB/s)
            chunk = chunk.translate(None, b"\0")
        # Only the new bytes: the pending line was read already, and a runaway one holds the
        # `\r`s bound() put in it, which must not split it into lines when it goes on.
        chunk = _cr_to_lf(chunk)
        return self._pending + chunk if self._pending else chunk

    def feed(self, chunk: bytes, final: bool = False) -> list[bytes]:
        parts = self._join(chunk, final).split(b"\n")
        self._pending = bound(parts.pop())
        return [bound(p) if len(p) > MAX_LINE_BYTES else p for p in parts]

    def feed_block(self, chunk: bytes, final: bool = False) -> bytes:
        """Like feed(), but the complete lines come back as one buffer, each ending in `\n`
        (a runaway line is bounded later, by whoever splits the buffer). `final`: the stream
        ends here (what its start or a UTF-16 decoder held is let go)."""
        data = self._join(chunk, final)
        cut = data.rfind(b"\n") + 1
        self._pending = bound(data[cut:])
        return data[:cut]

    @property
    def pending(self) -> bytes:
        """The partial last line so far (the stream's first bytes while its encoding is not told)."""
        if self._utf16 is not None:
            return self._pending + self._utf16.tail
        return self._head or self._pending

    def flush(self) -> list[bytes]:
        """The partial last line (and what a stream's start or a decoder still held)."""
        lines = self.feed(b"", final=True) if self._head is not None or self._utf16 is not None else []
        rest, self._pending = self._pending, b""
        return [*lines, rest] if rest else lines

    def reset(self) -> None:
        """The stream starts over (a truncated or replaced file): its encoding is told again."""
        self._pending = b""
        self._after_cr = False
        self._head = b""
        self._utf16 = None
