"""The estimate of a block-buffered log (lines reach the reader a flush at a time): eval pauses
read over whole flushes, not from one arrival gap."""

from __future__ import annotations

import pytest

from monitor.core.tracker import BURSTY_SHARE, Tracker
from tests.test_speed import T0, est, session

LLMC_HEAD = [
    "+-----------------------+----------------------------------------------------+",
    "| max_steps             | 1500                                               |",
    "| val_loss_every        | 150                                                |",
    "| sample_every          | 300                                                |",
    "+-----------------------+----------------------------------------------------+",
]


def llmc_buffered(upto: int, *, step_s: float = 0.02, val_s: float = 0.3, flush_lines: int = 40) -> list[tuple[float, str]]:
    """(arrival, line) of an llm.c run printing to a pipe: a val every 150 steps that takes `val_s`
    (not in the printed step time), a sample every 300 whose fflush ends the buffer; otherwise
    the buffer goes out every `flush_lines` lines, each line arriving when its flush does."""
    written: list[tuple[float, str, bool]] = []
    t = T0
    for i in range(1, upto + 1):
        t += step_s
        line = (f"step {i:4d}/1500 | loss 2.000000 (+nanz)| norm 1.0000 (+nanz)| lr 6.00e-04 | "
                f"{step_s * 1000:.2f} ms | -100.0% bf16 MFU | 1425067 tok/s")
        written.append((t, line, False))
        if i % 150 == 0:
            t += val_s
            written.append((t, "val loss 2.000000", False))
        if i % 300 == 0:
            written.append((t, "generating:", True))
    out: list[tuple[float, str]] = [(T0, line) for line in LLMC_HEAD]
    held: list[str] = []
    for w, line, flush in written:
        held.append(line)
        if flush or len(held) >= flush_lines:
            out += [(w, h) for h in held]
            held = []
    return out


@pytest.mark.parametrize("val_s", [0.0, 0.3])
def test_an_eval_pause_is_not_read_from_the_gap_a_flush_leaves(val_s: float) -> None:
    """After each sample the buffer is flushed, so the next line waits a whole flush (0.8 s
    here): that gap is the buffer's period, not the val. Read over whole flushes, the val costs
    what it took (nothing at all, or 0.3 s)."""
    s = session(llmc_buffered(700, val_s=val_s))
    run = s.state.current
    e = est(s)
    assert Tracker.of(run).burst_share > BURSTY_SHARE
    assert e.eval_source == "measured"
    assert e.eval_time_s == pytest.approx(val_s, abs=0.02)
    assert e.evals_left == 6  # at 750, 900, .., 1500
    assert e.finish == pytest.approx(run.last_t + (1500 - run.last_iter) * 0.02 + 6 * val_s, abs=0.05)

