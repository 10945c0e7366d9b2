"""Where nanoGPT saves a checkpoint only while val loss improves (`always_save_checkpoint =
False`), the measured eval pause's low side allows the saves to stop (monitor.core.pause)."""

from __future__ import annotations

import pytest

from monitor.core.pause import CHECKPOINT_BYTES_PER_PARAM, CHECKPOINT_WRITE_BPS, SAVE_SLOWER, Pause, eval_pause
from monitor.core.plan import make_plan
from tests.test_estimate import feed, header, nanogpt, steady

SAVE_S = 10.65e6 * CHECKPOINT_BYTES_PER_PARAM / CHECKPOINT_WRITE_BPS  # header()'s 10.65M parameters


def pause_of(extra: tuple[str, ...]) -> Pause:
    s = feed(nanogpt(2600, steady(0.02), eval_s=2.0, head=header(max_iters=5000, extra=extra)))
    run = s.state.current
    pause = eval_pause(run, make_plan(run, s.format, None), 0.02, 250, 10)
    assert pause is not None
    return pause


def test_conditional_saves_let_the_low_side_leave_the_save_out() -> None:
    p = pause_of(("always_save_checkpoint = False",))
    assert p.source == "measured"
    assert p.mid_s == pytest.approx(2.0, rel=1e-6)
    # ten evals of 2.0 s exactly: the spread alone would put the low side at the middle
    assert p.low_s == pytest.approx(2.0 - SAVE_SLOWER * SAVE_S, rel=1e-6)


def test_saves_at_every_eval_keep_the_low_side() -> None:
    for extra in (("always_save_checkpoint = True",), ()):
        p = pause_of(extra)
        assert p.low_s == pytest.approx(2.0, rel=1e-6)
