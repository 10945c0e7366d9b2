"""Numbers no run prints for real (a step time of 10^300 ms, a negative time, an MFU of 10^308,
an ETA past the year 9999) are not measurements: every family's rows take them as not printed,
in bulk and line by line alike, and nothing formats them into a crash or 290 digits."""

from __future__ import annotations

import json

import pytest
from test_hostile import CLOCK, bulk_sizes, fingerprint, session, split_lines

from monitor.core import textfmt as fmt
from monitor.core.run import MAX_STEP_TIME_S
from monitor.core.summary import summary
from monitor.sources.replay import paced_times

#: One step line per family with {i} the step, {ms} a step time in ms, {m} an MFU in %.
FAMILY_LINES = {
    "nanogpt": "iter {i}: loss 3.0, time {ms}ms, mfu {m}%",
    "nanochat": "step {i:05d}/21400 (0.00%) | loss: 3.0 | lrm: 1.00 | dt: {ms}ms | tok/sec: 14,336 | mfu: {m} "
                "| total time: 0.00m",
    "llmc": "step {i:4d}/19560 | loss 3.0 (+0.1z)| norm 1.0 (+0.1z)| lr 1e-4 | {ms} ms | {m}% bf16 MFU | 1 tok/s",
    "modded": "step:{i}/6000 train_loss:3.0 train_time:{ms}ms step_avg:{ms}ms",
    "llama2c": "{i} | loss 3.0 | lr 5.000000e-04 | {ms}ms | mfu {m}%",
}
GARBLED = [("1e300", "1e308"), ("-5.0", "-1e300"), ("1e30", "1e-320"), ("-0.0", "1e5")]


def _log(family: str) -> bytes:
    template = FAMILY_LINES[family]
    lines = [template.format(i=i, ms=100.0, m=30.0) for i in (0, 10)]
    lines += [template.format(i=20 + 10 * k, ms=ms, m=m) for k, (ms, m) in enumerate(GARBLED)]
    lines.append(template.format(i=100, ms=100.0, m=30.0))
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.parametrize("family", list(FAMILY_LINES))
def test_garbled_times_and_mfu_are_not_measurements(family: str) -> None:
    data = _log(family)
    one_by_one, bulk = session(family), session(family)
    for line in split_lines(data):
        one_by_one.feed(line)
    with bulk_sizes():
        bulk.feed_block(data)
    assert fingerprint(bulk) == fingerprint(one_by_one)
    run = one_by_one.state.current
    assert run.n_iters == 7
    for column in (run.step_time_s, run.mfu, run.train_time_s):
        values = column.values[~(column.values != column.values)]  # the printed (not NaN) ones
        assert ((values >= 0) & (values <= MAX_STEP_TIME_S)).all(), (family, column.values)
    snap = one_by_one.snapshot(now=CLOCK)
    record = json.loads(snap.to_json())
    assert record["iter"] == 100 and (record["step_time_s"] is None or 0 <= record["step_time_s"] <= 0.1001)
    text = summary(snap)
    assert "years" not in text and max(len(line) for line in text.splitlines()) < 200


def test_a_garbled_step_time_does_not_move_a_paced_replay() -> None:
    lines = [f"iter {i}: loss 3.0, time {ms}ms".encode() for i, ms in ((0, "500.0"), (1, "1e300"), (2, "-9"),
                                                                            (3, "500.0"))]
    assert paced_times(lines, 0.0, "nanogpt") == [0.5, 0.5, 0.5, 1.0]


def test_times_past_what_a_calendar_can_say_are_said_short() -> None:
    assert fmt.clock(3e299, CLOCK) == "after 9999" and fmt.clock(-1e20) == "before 1"
    assert fmt.clock(CLOCK, CLOCK) != "after 9999"
    assert fmt.duration(1e300) == "3.17e+292 years" and fmt.duration(86400 * 3) == "3 d 0 h"
