"""The eval interval inferred from the evals a log shows, when it prints none: a finished run's
final eval, off the grid (`step % N == 0 or last_step`), does not decide it."""

from __future__ import annotations

import pytest
from conftest import SAMPLES, FakeClock

from monitor.core.evalgrid import grid_steps
from monitor.core.pause import eval_interval_of
from monitor.core.plan import make_plan
from monitor.core.report import Options
from monitor.session import Session


@pytest.mark.parametrize(("steps", "grid"), [
    ([0, 250, 500, 750, 999], [250, 500, 750]),  # the last step's eval, off the grid
    ([250, 500, 750, 1000], [250, 500, 750, 1000]),  # a live run: every eval on it
    ([250, 250, 500, 500, 750, 830, 830], [250, 500, 750]),  # two metrics at each eval
    ([1500], [1500]),
    # Two evals cannot tell a final eval from an excerpt's two (500, 750: every 250)
    ([500, 750], [500, 750]),
    ([1000, 2000, 3000, 4000, 5000], [1000, 2000, 3000, 4000, 5000]),
    ([], []),
])
def test_grid_steps(steps: list[int], grid: list[int]) -> None:
    assert grid_steps(steps) == grid


@pytest.mark.parametrize(("path", "every"), [
    # build-nanogpt's log.txt: evals every 250 and at step 19072 (max_steps - 1), no interval printed
    ("field/buildnanogpt_2n8g_smaller_log_txt_excerpt.log", [250]),
    # llm.c's main.log: evals every 250 and at 19560, the run's total (its default is 20)
    ("llmc/llmc_main_log_gpt2_124M_8xH100.log", [250]),
    # nanochat's stages evaluate at their last step too: base_train at 21400 (every 250),
    # mid_train at 765 (every 150), chat_sft at 650 (every 100)
    ("nanochat/dwarkeshsp_speedrun_d20_8xH100.log", [250, 150, 100]),
])
def test_a_finished_runs_final_eval_does_not_decide_the_interval(path: str, every: list[int]) -> None:
    s = Session(Options(), FakeClock())
    s.feed_block((SAMPLES / path).read_bytes())
    assert len(s.state.runs) == len(every)
    for run, interval in zip(s.state.runs, every):
        assert "eval_interval" not in run.config and run.evals[-1].iter % interval
        assert eval_interval_of(run, make_plan(run, s.format)) == interval
