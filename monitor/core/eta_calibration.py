"""The finish-time band's calibration table, written by benchmarks/calibrate_band.py from
the recorded runs (do not edit by hand). PURE ring: constants only.

Signed relative errors (true finish - predicted) / predicted duration, quantiles at
0.05 and 0.95 with the finite-sample correction over runs, per bucket of
monitor.core.band.bucket. Runs: compiled, eager_log_every_iter, real_nvidia_smi, heldout/accum8_eager, heldout/eager_slowdown, heldout/gpu_shared, heldout/resumed, heldout/small_accum.
"""

from __future__ import annotations

from monitor.core.band import Calibration

CALIBRATION = Calibration(
    low=(-0.088259, -0.123018, -0.022172, -0.036024, -0.022575, -0.041422, -0.026109, -0.011238, -0.002554,),
    high=(0.330084, 0.092182, 0.106674, 0.088949, 0.092743, 0.047125, 0.048716, 0.029957, 0.019587,),
    runs=8,
)
