"""The finish-time band's calibration table, written by benchmarks/calibrate_band.py from
the recorded runs (do not edit by hand). PURE ring: constants only.

Signed relative errors (true finish - predicted) / predicted duration, quantiles at
0.05 and 0.95 with the finite-sample correction over runs, per bucket of
monitor.core.band.bucket. Runs: compiled, eager_log_every_iter, real_nvidia_smi, heldout/accum8_eager, heldout/eager_slowdown, heldout/gpu_shared, heldout/resumed, heldout/small_accum.
"""

from __future__ import annotations

from monitor.core.band import Calibration

CALIBRATION = Calibration(
    low=(-0.088259, -0.213085, -0.121496, -0.064018, -0.022575, -0.053950, -0.049428, -0.012023, -0.001591,),
    high=(0.330084, 0.092182, 0.106674, 0.088949, 0.092743, 0.043176, 0.048858, 0.029252, 0.017354,),
    runs=8,
)
