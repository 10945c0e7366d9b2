"""The benchmarks' tables: Markdown rows for BENCHMARKS.md, or columns right-aligned for a terminal."""

from __future__ import annotations

from collections.abc import Sequence


def render(head: Sequence[str], rows: Sequence[Sequence[str]], markdown: bool) -> str:
    """`head` and `rows` (cells already formatted) as one string of lines."""
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])
    widths = [max(len(x) for x in col) for col in zip(head, *rows)]
    return "\n".join("  ".join(x.rjust(w) for x, w in zip(row, widths)) for row in [head, *rows])


def report(table: str, notes: Sequence[str], markdown: bool) -> None:
    """Print a table, a blank line and its notes (a Markdown list with `markdown`)."""
    print(table)
    print()
    for line in notes:
        print(("- " if markdown else "") + line)
