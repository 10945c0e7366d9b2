"""The finish-time band's calibration table, written by benchmarks/calibrate_band.py from
the recorded runs (do not edit by hand). PURE ring: constants only.

Signed relative errors (true finish - predicted) / predicted time to come, quantiles at
0.05 and 0.95 with the finite-sample correction over runs, per bucket of
monitor.core.band.bucket. Runs: compiled, eager_log_every_iter, h200_cpu_recipe_beside_gpu_job, h200_ddp2_gpt2_124M, h200_ddp2_shakespeare_char, h200_eval_heavy_ckpt, h200_gpt2_124M, h200_gpu_contended, h200_gpu_contended_short, h200_resumed, real_nvidia_smi, heldout/accum8_eager, heldout/eager_slowdown, heldout/gpu_shared, heldout/resumed, heldout/small_accum.
"""

from __future__ import annotations

from monitor.core.band import Calibration

CALIBRATION = Calibration(
    low=(-0.147527, -0.189318, -0.184931, -0.107894, -0.114420, -0.224190, -0.120381, -0.124211, -0.193966,),
    high=(0.498886, 0.090180, 0.161231, 0.130635, 0.139460, 0.147236, 0.193604, 0.205398, 0.259824,),
    runs=16,
)
