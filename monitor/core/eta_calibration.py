"""The finish-time band's calibration table, written by benchmarks/calibrate_band.py from
the recorded runs (do not edit by hand). PURE ring: constants only.

Signed relative errors (true finish - predicted) / predicted time to come, quantiles at
0.05 and 0.95 with the finite-sample correction over runs, per bucket of
monitor.core.band.bucket. Runs: compiled, eager_log_every_iter, real_nvidia_smi, heldout/accum8_eager, heldout/eager_slowdown, heldout/gpu_shared, heldout/resumed, heldout/small_accum.
"""

from __future__ import annotations

from monitor.core.band import Calibration

CALIBRATION = Calibration(
    low=(-0.118989, -0.237148, -0.141099, -0.078190, -0.027822, -0.134022, -0.131295, -0.123533, -0.140149,),
    high=(0.530994, 0.106813, 0.185001, 0.157658, 0.167269, 0.090597, 0.165491, 0.189224, 0.258804,),
    runs=8,
)
