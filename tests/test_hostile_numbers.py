"""Numbers a garbled log may print in every field (1e309, nan, -0, 1e-400): a count is never read
from the integer part of a float (`tokens per iteration will be: 1e309` is no 1 token), and a
printed -0 is 0 (never `-0.0%` or `-0.0000` on screen, nor `-0.0` in the record), on the line
path and the bulk path alike."""

from __future__ import annotations

import json

import pytest
from conftest import FakeClock

from monitor.core.formats import AutoParser
from monitor.core.report import Options
from monitor.core.summary import summary
from monitor.session import Session


def _session(text: str, fmt: str = "auto") -> Session:
    s = Session(Options(source="run.log", fmt=fmt), FakeClock())
    s.feed_block(text.encode())
    return s


@pytest.mark.parametrize(("fmt", "line"), [
    ("nanogpt", "tokens per iteration will be: 1e309"),
    ("nanogpt", "tokens per iteration will be: 16.5"),
    ("nanogpt", "found vocab_size = 6.5e1 (inside data/meta.pkl)"),
    ("llmc", "num_parameters: 1e309 => bytes: 497759232"),
    ("nanochat", "Using user-provided number of iterations: 2e4"),
])
def test_no_count_is_read_from_the_integer_part_of_a_float(fmt: str, line: str) -> None:
    events = [e for _, e in AutoParser(fmt).feed(None, line)]
    assert not any(getattr(e, name, None) in (1, 2, 6, 16) for e in events
                   for name in ("tokens", "size", "count", "max_iters", "value")), events


def test_a_printed_minus_zero_is_zero_everywhere() -> None:
    lines = ["Overriding: max_iters = 100000"]
    small = lines + [f"iter {i}: loss -0, time 10.00ms, mfu -0.00%" for i in range(20)]
    big = lines + [f"iter {i}: loss -0.0, time 10.00ms, mfu -0.00%" for i in range(5000)]  # the bulk reader's
    for text in ("\n".join(small) + "\n", "\n".join(big) + "\n"):
        snap = _session(text).snapshot()
        record = json.dumps(snap.record())
        assert "-0.0" not in record and '"mfu": 0.0' in record.replace(":0.0", ": 0.0")
        shown = summary(snap)
        assert "-0.0" not in shown and "MFU 0.0% as printed" in shown, shown


def test_a_gpu_reading_of_minus_zero_is_zero() -> None:
    from monitor.sources.smicsv import parse_gpu_csv

    csv = [("timestamp, index, name, power.draw [W], memory.used [MiB], memory.total [MiB], utilization.gpu [%], "
           "temperature.gpu, power.limit [W]"),
           "2026/11/24 04:18:23.000, 0, H100, -0 W, -0 MiB, 81559 MiB, -0 %, -0, -0 W"]
    (sample,), bad = parse_gpu_csv(csv)
    values = (sample.power_w, sample.util_pct, sample.temp_c, sample.power_limit_w)
    assert bad == 0 and values == (0.0, 0.0, 0.0, 0.0) and sample.vram_used_bytes == 0
    assert all(str(v) == "0.0" for v in values)
