"""The finish time's fitted tables, written by benchmarks/calibrate_band.py from the recorded
runs (do not edit by hand). PURE ring: constants only.

BLEND: weights of the methods model, long, wallclock per progress bucket of
monitor.core.blend.bucket, fitted on the runs' lines (monitor.core.blend.fit).
CALIBRATION: signed relative errors (true finish - predicted) / predicted time to come of the
blended estimate, quantiles at 0.05 and 0.95 with the finite-sample correction
over runs, per bucket of monitor.core.band.bucket. Runs: compiled, eager_log_every_iter, h200_cpu_recipe_beside_gpu_job, h200_ddp2_gpt2_124M, h200_ddp2_shakespeare_char, h200_eval_heavy_ckpt, h200_gpt2_124M, h200_gpu_contended, h200_gpu_contended_short, h200_resumed, real_nvidia_smi, heldout/accum8_eager, heldout/eager_slowdown, heldout/gpu_shared, heldout/resumed, heldout/small_accum.
"""

from __future__ import annotations

from monitor.core.band import Calibration
from monitor.core.blend import Blend

BLEND = Blend(
    weights=(
        (0.000000, 0.350000, 0.650000,),
        (0.000000, 0.000000, 1.000000,),
        (0.000000, 0.000000, 1.000000,),
        (0.000000, 1.000000, 0.000000,),
        (0.100000, 0.900000, 0.000000,),
        (0.000000, 0.000000, 1.000000,),
        (0.000000, 0.700000, 0.300000,),
        (1.000000, 0.000000, 0.000000,),
    ),
    runs=16,
)

CALIBRATION = Calibration(
    low=(-0.150884, -0.111830, -0.184135, -0.106785, -0.105307, -0.164438, -0.115582, -0.124829, -0.212307,),
    high=(0.431270, 0.063433, 0.102807, 0.110239, 0.139460, 0.152703, 0.159848, 0.192259, 0.258804,),
    runs=16,
)
