"""The one way a string from outside (log text, file names, CSV fields, HTTP reasons, bodies and
labels, flags) reaches a terminal: every control that could steer it is written out as text.

PURE ring: no I/O, no textual/watchdog/pynvml imports.
"""

from __future__ import annotations

import re

# C0 controls but tab, DEL and C1 controls (ESC starts CSI, OSC 0/2/8/52, DCS…; U+009B is a
# one-character CSI and U+009D an OSC), then the bidi controls of Unicode's "Trojan Source"
# list (CVE-2021-42574: U+202A–U+202E, U+2066–U+2069, U+200E/F, U+061C) and the line and
# paragraph separators. Writing out the introducer (ESC, U+009B…) leaves the rest of a
# sequence as plain printable text: no terminal acts on it. Last, lone surrogates: Python
# decodes a byte that is not UTF-8 in a file name or argument as U+DC80–U+DCFF
# (surrogateescape, PEP 383), which stdout would write back as that raw byte (0x9b is a CSI)
# and which no UTF-8 text or JSON can hold; they are written out as the byte they stand for.
# Then every other invisible format character (Unicode category Cf, as of Unicode 15: zero-width
# space and joiners, word joiner, BOM, soft hyphen, interlinear annotation, the tag characters
# that can smuggle hidden text): each is written out, so what is shown is what is there.
_UNSAFE = re.compile(
    "[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff"
    "\u00ad\u0600-\u0605\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200d\u2060-\u2064\u206a-\u206f\ufeff"
    "\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0001\U000e0020-\U000e007f]"
)
_SURROGATE = re.compile("[\ud800-\udfff]")
#: Rich markup is never parsed from outside text: the UI renders it with rich.text.Text
#: (or `markup=False`), and `markup_escaped` serves any place that does parse it.
_MARKUP = re.compile(r"(\\*)(\[[a-zA-Z@#/])")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape: the undecodable byte itself
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def clean(text: object, max_chars: int | None = None) -> str:
    """`text` (any value, as str()) safe for a terminal: every control character and bidi
    control written out as `\\x1b` / `\\u202e`, an undecodable byte as `\\xff`. `max_chars`
    cuts a long text with "…"."""
    s = text if isinstance(text, str) else str(text)
    if max_chars is not None and len(s) > max_chars:
        s = s[: max(0, max_chars - 1)] + "…"
    return s if _UNSAFE.search(s) is None else _UNSAFE.sub(_escape, s)


def clean_name(name: object, max_chars: int | None = None) -> str:
    """clean() for a file name, or a one-line message that holds one: a tab is written out too
    (`\\x09`), as any other control character. Log text keeps its tabs (a fork's table lays
    out its columns with them); in a name a tab would show as blanks that are not there."""
    return clean(name, max_chars).replace("\t", "\\x09")


def unicode_safe(text: str) -> str:
    """`text` as valid Unicode: the undecodable bytes of a file name (lone surrogates, see above)
    written out as `\\xff`, everything else unchanged. For a name that is not shown on a terminal
    but must be valid text: a JSON `source`, a Prometheus label."""
    return text if _SURROGATE.search(text) is None else _SURROGATE.sub(_escape, text)


def markup_escaped(text: object, max_chars: int | None = None) -> str:
    """clean(), and Rich markup tags made literal (as rich.markup.escape does), for a widget
    that parses markup."""
    return _MARKUP.sub(r"\1\1\\\2", clean(text, max_chars))
