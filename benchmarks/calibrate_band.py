"""Write the finish-time band's calibration table (monitor/core/eta_calibration.py) from the
recorded runs: each is replayed with its real line times, and the signed relative errors of
the point estimate at every line go into split conformal calibration (monitor/core/band.py).

Run: python benchmarks/calibrate_band.py [--check]   (--check: fail if the committed table differs)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.eta_accuracy import HELDOUT, Result, recorded_runs, replay
from benchmarks.eta_band import calibration_from
from monitor.core.band import ALPHA, Calibration

TARGET = ROOT / "monitor" / "core" / "eta_calibration.py"


def timed_results() -> list[Result]:
    """Every recorded run with real line times that ends at its final step."""
    runs = recorded_runs() + [(f"heldout/{n}", log, t, f) for n, log, t, f in recorded_runs(HELDOUT)]
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


def source(cal: Calibration, names: list[str]) -> str:
    return f'''"""The finish-time band's calibration table, written by benchmarks/calibrate_band.py from
the recorded runs (do not edit by hand). PURE ring: constants only.

Signed relative errors (true finish - predicted) / predicted time to come, quantiles at
{ALPHA / 2:g} and {1 - ALPHA / 2:g} with the finite-sample correction over runs, per bucket of
monitor.core.band.bucket. Runs: {", ".join(names)}.
"""

from __future__ import annotations

from monitor.core.band import Calibration

CALIBRATION = Calibration(
    low={_tuple(cal.low)},
    high={_tuple(cal.high)},
    runs={cal.runs},
)
'''


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 when the committed table is out of date")
    args = ap.parse_args()
    results = timed_results()
    text = source(calibration_from(results), [r.name for r in results])
    if args.check:
        same = TARGET.read_text() == text
        print("calibration table up to date" if same else "calibration table out of date")
        return 0 if same else 1
    TARGET.write_text(text)
    print(f"wrote {TARGET.relative_to(ROOT)} from {len(results)} runs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
