"""The eval pause predicted before the first eval (pause.eval_pause from the config): the
micro-steps of one rank under DDP, and how far a few measured evals move it."""

from __future__ import annotations

import pytest

from monitor.core.pause import accum_per_rank
from monitor.core.plan import make_plan
from tests.test_speed import T0, session

STEP = "iter {i}: loss 2.0000, time 100.00ms, mfu 30.00%"


def _startup(ranks: int, tokens: int) -> list[tuple[float, str]]:
    """nanoGPT's start-up as `torchrun --nproc_per_node=<ranks>` writes it: every rank prints it."""
    block = ["Overriding: gradient_accumulation_steps = 8", "Overriding: batch_size = 32",
             "Overriding: block_size = 256", "Overriding: eval_iters = 200", "Overriding: eval_interval = 500",
             "Overriding: max_iters = 2000", f"tokens per iteration will be: {tokens:,}",
             "number of parameters: 10.65M"]
    return [(T0, line) for _ in range(ranks) for line in block]


@pytest.mark.parametrize(("ranks", "tokens", "per_rank"), [
    (1, 65_536, 8),  # one process: the configured accumulation
    (2, 65_536, 4),  # nanoGPT under DDP: divided by the world size, tokens the config's product
    (2, 131_072, 8),  # a script that prints world x the product does not divide
    (4, 65_536, 2),
])
def test_the_accumulation_one_rank_runs_follows_the_ranks_that_printed_the_start_up(
        ranks: int, tokens: int, per_rank: int) -> None:
    lines = _startup(ranks, tokens) + [(T0 + 10.0 + 0.1 * i, STEP.format(i=i)) for i in range(20)]
    s = session(lines)
    run = s.state.current
    plan = make_plan(run, s.format, None)
    assert run.tokens_lines == ranks
    assert accum_per_rank(run, plan) == per_rank


def test_the_config_eval_cost_under_ddp_counts_the_micro_steps_of_one_rank() -> None:
    """2 ranks, accumulation 8: a rank's step is 4 micro-batches, so an eval of 2 x 200 batches
    costs twice what the configured 8 would say."""
    from tests.test_speed import est

    one = est(session(_startup(1, 65_536) + [(T0 + 10.0 + 0.1 * i, STEP.format(i=i)) for i in range(20)]))
    two = est(session(_startup(2, 65_536) + [(T0 + 10.0 + 0.1 * i, STEP.format(i=i)) for i in range(20)]))
    assert one.eval_source == two.eval_source == "config"
    assert one.eval_time_s is not None and two.eval_time_s is not None
    save = 10.65e6 * 12 / 1.5e9  # the checkpoint, the same for both
    assert two.eval_time_s - save == pytest.approx(2 * (one.eval_time_s - save), rel=1e-6)
