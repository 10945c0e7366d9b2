"""Every bundled sample log: exact iteration counts, first/last step, max_iters, ending."""

from __future__ import annotations

import pytest
from conftest import SAMPLES, sample_facts

from monitor.core.report import Options
from monitor.session import Session
from monitor.sources.logfile import read_lines

FACTS = sample_facts()
NANOGPT = {k: v for k, v in FACTS.items() if v["format"] == "nanogpt"}
ENDS = {"finished": "finished", "interrupted": "interrupted", "cut off (killed, no traceback)": "training"}


def load(name: str, clock, **kw) -> Session:
    s = Session(Options(source=name, **kw), clock)
    lines, tail, _ = read_lines(str(SAMPLES / name))
    s.feed_many([*lines, tail] if tail else lines)
    return s


@pytest.mark.parametrize("name", sorted(NANOGPT))
def test_sample_log_facts(name: str, clock) -> None:
    facts = NANOGPT[name]
    s = load(name, clock, max_iters=facts["true_max_iters"])
    run = s.state.current
    assert s.format == "nanogpt"
    assert len(s.state.runs) == 1
    assert run.n_iters == facts["iter_lines"]
    assert (run.first_iter, run.last_iter) == (facts["first_iter"], facts["last_iter"])
    assert len(run.evals) == facts["eval_lines"]
    snap = s.snapshot()
    assert snap.status == ENDS[facts["ends"]]


@pytest.mark.parametrize("name", sorted(NANOGPT))
def test_max_iters_as_the_log_states_it(name: str, clock) -> None:
    facts = NANOGPT[name]
    snap = load(name, clock).snapshot()
    if facts["max_iters_in_log"] is None and name == "nanogpt/jackokeefe11_enwik_char_bpc_wandb_output.log":
        # a wandb capture, no config lines: nanoGPT's default is not assumed (the run may have set its own)
        assert (snap.max_iters, snap.max_iters_source) == (None, None)
    elif facts["max_iters_in_log"] is None:
        assert (snap.max_iters, snap.max_iters_source) == (600000, "default")
    else:
        assert (snap.max_iters, snap.max_iters_source) == (facts["max_iters_in_log"], "log")


def test_nan_lines_are_counted(clock) -> None:
    run = load("nanogpt/chenzihua_termux_cpu_nan_killed.log", clock).state.current
    assert run.nan_losses == FACTS["nanogpt/chenzihua_termux_cpu_nan_killed.log"]["nan_lines"]


def test_recorded_compiled_run_summary_numbers(clock) -> None:
    snap = load("recorded/compiled/run.log", clock).snapshot()
    assert snap.params == 10_650_000
    assert snap.tokens_per_iter == 16_384
    assert snap.tokens_total == 5001 * 16_384
    assert snap.best_val_loss == 1.4601
    assert snap.mfu == pytest.approx(0.2224)
