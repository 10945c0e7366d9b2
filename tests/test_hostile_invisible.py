"""Invisible characters from outside (zero-width space and joiners, BOM, soft hyphen, the tag
characters that smuggle hidden text: every Unicode format character) are written out on the
way to a terminal, as bidi controls already were: what is shown is what is there."""

from __future__ import annotations

import sys
import unicodedata

from monitor.core.sanitise import clean

FORMAT_CHARACTERS = [chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Cf"]


def test_every_format_character_is_written_out() -> None:
    shown = {c: clean(f"a{c}b") for c in FORMAT_CHARACTERS}
    assert {c: s for c, s in shown.items() if c in s} == {}
    assert clean("run\u200b.log") == "run\\u200b.log"
    assert clean("\U000e0069\U000e0067") == "\\U000e0069\\U000e0067"


def test_visible_text_is_left_as_it_is() -> None:
    text = "é ü 中文 😀 — naïve ß ∑ 1.5e-3 [bold]x[/]"
    assert clean(text) == text
