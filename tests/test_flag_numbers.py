"""Number flags given as `-0`: a sign that means nothing. `--price -0` showed `-0.00 USD → -0.00 USD
at -0.0 USD/kWh` and `"cost": -0.0` in the record; every number flag reads -0 as 0."""

from __future__ import annotations

import json
import math

import pytest
from conftest import SAMPLES

from monitor import flags
from monitor.cli import main

RUN = SAMPLES / "recorded" / "compiled"


@pytest.mark.parametrize("read", [flags.price, flags.speed])
def test_minus_zero_is_zero(read) -> None:
    value = read("-0")
    assert value == 0 and math.copysign(1.0, value) == 1.0


def test_a_price_of_minus_zero_costs_zero_not_minus_zero(capsys) -> None:
    args = ["replay", str(RUN / "run.log"), "--times", str(RUN / "run.times"), "--gpu-log", str(RUN / "gpu.smi.csv"),
            "--speed", "0", "--once", "--price", "-0"]
    assert main([*args, "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert (record["price_per_kwh"], record["cost"], record["cost_final"]) == (0.0, 0.0, 0.0)
    assert all(math.copysign(1.0, record[k]) == 1.0 for k in ("price_per_kwh", "cost", "cost_final"))
    assert main(args) == 0
    assert "-0" not in capsys.readouterr().out
