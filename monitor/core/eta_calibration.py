"""The finish-time band's calibration table, written by benchmarks/calibrate_band.py from
the recorded runs (do not edit by hand). PURE ring: constants only.

Signed relative errors (true finish - predicted) / predicted duration, quantiles at
0.05 and 0.95 with the finite-sample correction over runs, per bucket of
monitor.core.band.bucket. Runs: compiled, eager_log_every_iter, real_nvidia_smi, heldout/accum8_eager, heldout/eager_slowdown, heldout/gpu_shared, heldout/resumed, heldout/small_accum.
"""

from __future__ import annotations

from monitor.core.band import Calibration

CALIBRATION = Calibration(
    low=(-0.088259, -0.123018, -0.054545, -0.032341, -0.022575, -0.041524, -0.023769, -0.010978, -0.002927,),
    high=(0.330084, 0.092182, 0.106674, 0.088949, 0.092743, 0.047125, 0.048545, 0.029402, 0.019515,),
    runs=8,
)
