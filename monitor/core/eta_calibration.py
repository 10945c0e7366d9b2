"""The finish time's fitted tables, written by benchmarks/calibrate_band.py from the recorded
runs (do not edit by hand). PURE ring: constants only.

BLEND: weights of the methods model, long, wallclock per cell of monitor.core.blend.cell (progress
buckets, then the same after a speed-up), fitted on the runs' lines (monitor.core.blend.fit).
CALIBRATION: signed relative errors (true finish - predicted) / predicted time to come of the
blended estimate, quantiles at 0.05 and 0.95 with the finite-sample correction
over runs, per bucket of monitor.core.band.bucket. Runs: compiled, eager_log_every_iter, h200_cpu_recipe_beside_gpu_job, h200_ddp2_gpt2_124M, h200_ddp2_shakespeare_char, h200_eval_heavy_ckpt, h200_gpt2_124M, h200_gpu_contended, h200_gpu_contended_short, h200_resumed, h200b_12L_grad_accum8_log1, h200b_contended_first20s_2procs, h200b_contended_first20s_4procs, h200b_ddp2_log_every_iter, h200b_eval_heavy_500iters, h200b_log_every_100, h200b_max_autotune_warmup, h200b_shared_gpu_first, h200b_shared_gpu_second, real_nvidia_smi, heldout/accum8_eager, heldout/eager_slowdown, heldout/gpu_shared, heldout/resumed, heldout/small_accum.
"""

from __future__ import annotations

from monitor.core.band import Calibration
from monitor.core.blend import Blend

BLEND = Blend(
    weights=(
        (0.000000, 0.100000, 0.900000,),
        (0.000000, 0.000000, 1.000000,),
        (0.000000, 0.000000, 1.000000,),
        (0.650000, 0.350000, 0.000000,),
        (0.100000, 0.900000, 0.000000,),
        (0.000000, 1.000000, 0.000000,),
        (0.000000, 0.000000, 1.000000,),
        (0.000000, 0.000000, 1.000000,),
        (0.000000, 0.100000, 0.900000,),
        (1.000000, 0.000000, 0.000000,),
        (0.250000, 0.000000, 0.750000,),
        (0.450000, 0.000000, 0.550000,),
        (0.000000, 0.100000, 0.900000,),
        (0.000000, 0.000000, 1.000000,),
        (0.000000, 0.000000, 1.000000,),
        (1.000000, 0.000000, 0.000000,),
    ),
    runs=25,
)

CALIBRATION = Calibration(
    low=(-0.118462, -0.214624, -0.214100, -0.249570, -0.065661, -0.124079, -0.193482, -0.119655, -0.154572,),
    high=(0.072285, 0.101335, 0.098121, 0.116655, 0.120080, 0.108548, 0.115877, 0.122057, 0.180279,),
    runs=25,
)
