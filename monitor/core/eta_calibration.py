"""The finish-time band's calibration table, written by benchmarks/calibrate_band.py from
the recorded runs (do not edit by hand). PURE ring: constants only.

Signed relative errors (true finish - predicted) / predicted duration, quantiles at
0.05 and 0.95 with the finite-sample correction over runs, per bucket of
monitor.core.band.bucket. Runs: compiled, eager_log_every_iter, real_nvidia_smi, heldout/accum8_eager, heldout/eager_slowdown, heldout/gpu_shared, heldout/resumed, heldout/small_accum.
"""

from __future__ import annotations

from monitor.core.band import Calibration

CALIBRATION = Calibration(
    low=(-0.088259, -0.135608, -0.025857, -0.037430, -0.039803, -0.043964, -0.037637, -0.011540, -0.001028,),
    high=(0.330084, 0.095181, 0.106674, 0.088949, 0.096332, 0.048834, 0.073306, 0.043540, 0.033126,),
    runs=8,
)
