"""Counts printed beside a noun go through textfmt.counted: a thousands separator (1,234) and
the noun's plural only where the count is not 1, in --once, the TUI and the warnings alike."""

from __future__ import annotations

import pytest
from conftest import FakeClock
from rich.text import Text

from monitor.core import textfmt
from monitor.core.report import Options
from monitor.core.summary import summary
from monitor.session import Session
from monitor.tui.widgets.events import fit_rows

STEP = "iter {i}: loss {loss}, time 100.00ms, mfu 10.00%\n"


def session_of(text: str) -> Session:
    session = Session(Options(source="run.log"), FakeClock())
    session.feed_block(text.encode())
    return session


@pytest.mark.parametrize(("n", "shown"), [(0, "0 evals"), (1, "1 eval"), (2, "2 evals"), (1234, "1,234 evals")])
def test_counted_writes_the_separator_and_the_plural(n, shown) -> None:
    assert textfmt.counted(n, "eval") == shown


def test_evals_before_the_first_step_are_counted_with_a_separator() -> None:
    assert textfmt.no_step(1234) == "no step line yet · 1,234 evals read"
    assert textfmt.no_step(1) == "no step line yet · 1 eval read"


def test_warnings_that_do_not_fit_are_counted_with_a_separator() -> None:
    texts = [Text(f"w{i}") for i in range(1236)]
    shown = fit_rows(texts, [1] * len(texts), 3)
    assert shown[-1].plain == "+1,234 more warnings (e: all events)"
    assert fit_rows(texts[:4], [1] * 4, 3)[-1].plain == "+2 more warnings (e: all events)"
    assert fit_rows(texts[:3], [1, 1, 2], 3)[-1].plain == "+1 more warning (e: all events)"


def test_the_summary_counts_evals_with_a_separator() -> None:
    lines = [f"step {k * 10}: train loss 4.0000, val loss {4.0 - k / 10000:.4f}\n" for k in range(1234)]
    text = summary(session_of("".join(lines)).snapshot())
    assert "(1,234 evals)" in text


@pytest.mark.parametrize(("nan", "said"), [(1, "loss is NaN/inf in 1 logged step"),
                                            (1234, "loss is NaN/inf in 1,234 logged steps")])
def test_nan_losses_are_counted_with_the_right_plural(nan, said) -> None:
    lines = [STEP.format(i=i, loss=4.0) for i in range(5)]
    lines += [STEP.format(i=5 + i, loss="nan") for i in range(nan)]
    assert said in session_of("".join(lines)).snapshot().warnings


def test_tokens_before_the_first_step_are_none_seen_not_a_question_mark() -> None:
    header = "tokens per iteration will be: 16,384\nstep 0: train loss 4.2874, val loss 4.2823\n"
    text = summary(session_of(header).snapshot())
    tokens = next(line for line in text.splitlines() if line.strip().startswith("tokens"))
    assert tokens.endswith(" · none seen yet") and "16,384 per iteration" in tokens
    assert "?" not in text
