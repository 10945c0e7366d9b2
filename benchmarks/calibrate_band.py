"""Write the finish time's fitted tables (monitor/core/eta_calibration.py) from the recorded
runs: each is replayed with its real line times; the finish each method predicts at every line
fits the blend of the methods (monitor/core/blend.py), and the signed relative errors of the
blended estimate go into split conformal calibration of the band (monitor/core/band.py).

Run: python benchmarks/calibrate_band.py [--check]   (--check: fail if the committed table differs)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.eta_accuracy import Result, all_recorded_runs, fitted_on, replay
from benchmarks.eta_band import fitted
from monitor.core.band import ALPHA, Bands, Calibration
from monitor.core.blend import METHODS, Blend

TARGET = ROOT / "monitor" / "core" / "eta_calibration.py"


def timed_results() -> list[Result]:
    """Every recorded run with real line times that ends at its final step, the test set and the runs
    studied but not fitted on left out (eta_accuracy.TEST_SET_PREFIXES, UNFITTED_PREFIXES)."""
    runs = [run for run in all_recorded_runs() if fitted_on(run[0])]
    out = []
    for name, log, times, flag in runs:
        res = replay(name, log, times, flag)
        if isinstance(res, Result):
            out.append(res)
        else:
            print(f"skipped {name}: {res}", file=sys.stderr)
    return out


def _tuple(values: tuple[float | None, ...]) -> str:
    return "(" + ", ".join("None" if v is None else f"{v:.6f}" for v in values) + ",)"


def _table(cal: Calibration) -> str:
    return f"""Calibration(
        low={_tuple(cal.low)},
        high={_tuple(cal.high)},
        runs={cal.runs},
    )"""


def source(blend: Blend, bands: Bands, names: list[str]) -> str:
    rows = "".join(f"        {_tuple(w)},\n" for w in blend.weights)
    return f'''"""The finish time's fitted tables, written by benchmarks/calibrate_band.py from the recorded
runs (do not edit by hand). PURE ring: constants only.

BLEND: weights of the methods {", ".join(METHODS)} per cell of monitor.core.blend.cell (progress
buckets, then the same after a speed-up), fitted on the runs' lines (monitor.core.blend.fit).
BANDS: signed relative errors (true finish - predicted) / predicted time to come of the
blended estimate in units of monitor.core.band.unit (steady samples seen, share of evals to come),
quantiles at {ALPHA / 2:g} and {1 - ALPHA / 2:g} with the finite-sample correction
over runs, per bucket of monitor.core.band.bucket; `alone` from the lines where the run had its GPUs
to itself, `shared` from those where other processes were on them and the run ran slower beside them
(or nothing showed yet that it did not), `harmless` from those where it ran as fast as alone (runs:
how many had such lines).
Runs: {", ".join(names)}.
"""

from __future__ import annotations

from monitor.core.band import Bands, Calibration
from monitor.core.blend import Blend

BLEND = Blend(
    weights=(
{rows}    ),
    runs={blend.runs},
)

BANDS = Bands(
    alone={_table(bands.alone)},
    shared={_table(bands.shared)},
    harmless={_table(bands.harmless or bands.shared)},
)
'''


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 when the committed table is out of date")
    args = ap.parse_args()
    results = timed_results()
    blend, cal, _ = fitted(results)
    text = source(blend, cal, [r.name for r in results])
    if args.check:
        same = TARGET.read_text() == text
        print("calibration table up to date" if same else "calibration table out of date")
        return 0 if same else 1
    TARGET.write_text(text)
    print(f"wrote {TARGET.relative_to(ROOT)} from {len(results)} runs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
