"""README's `--once` examples are what nanowatch prints: each ```text block that starts with a
`$ nanowatch …` command is run, and its lines must be the output (after `  ...`, its last lines)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from monitor.cli import main

ROOT = Path(__file__).resolve().parent.parent


def _examples() -> list[tuple[list[str], list[str], bool]]:
    """(argv, expected lines, whether the lines are the output's tail) per example."""
    out = []
    for block in re.findall(r"```text\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.DOTALL):
        lines = block.rstrip("\n").split("\n")
        if not lines[0].startswith("$ nanowatch "):
            continue
        command = lines.pop(0)
        while command.endswith("\\"):
            command = command[:-1] + lines.pop(0)
        tail = bool(lines) and lines[0].strip() == "..."
        out.append((shlex.split(command)[2:], lines[1:] if tail else lines, tail))
    return out


EXAMPLES = _examples()


def test_the_readme_has_its_examples() -> None:
    assert len(EXAMPLES) >= 2


@pytest.mark.parametrize(("argv", "expected", "tail"), EXAMPLES, ids=[" ".join(e[0][:2]) for e in EXAMPLES])
def test_a_readme_example_is_what_nanowatch_prints(argv: list[str], expected: list[str], tail: bool, capsys,
                                                   monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    assert main(argv) == 0
    printed = capsys.readouterr().out.rstrip("\n").split("\n")
    assert (printed[-len(expected):] if tail else printed) == expected
