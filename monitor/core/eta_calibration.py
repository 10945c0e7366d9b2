"""The finish time's fitted tables, written by benchmarks/calibrate_band.py from the recorded
runs (do not edit by hand). PURE ring: constants only.

BLEND: weights of the methods model, long, wallclock per cell of monitor.core.blend.cell (progress
buckets, then the same after a speed-up), fitted on the runs' lines (monitor.core.blend.fit).
CALIBRATION: signed relative errors (true finish - predicted) / predicted time to come of the
blended estimate, quantiles at 0.05 and 0.95 with the finite-sample correction
over runs, per bucket of monitor.core.band.bucket. Runs: compiled, eager_log_every_iter, h200_cpu_recipe_beside_gpu_job, h200_ddp2_gpt2_124M, h200_ddp2_shakespeare_char, h200_eval_heavy_ckpt, h200_gpt2_124M, h200_gpu_contended, h200_gpu_contended_short, h200_resumed, h200b_12L_grad_accum8_log1, h200b_contended_first20s_2procs, h200b_contended_first20s_4procs, h200b_ddp2_log_every_iter, h200b_eval_heavy_500iters, h200b_log_every_100, h200b_max_autotune_warmup, h200b_shared_gpu_first, h200b_shared_gpu_second, h200c_8L512_log50_eval500, h200c_contended_irregular, h200c_contended_staircase, h200c_ddp2_one_gpu_contended, h200c_eager_2cores_cpu_contention, h200c_eval_heavy_ckpt_8L512, h200c_gpt2_124M_accum8_log1, real_nvidia_smi, heldout/accum8_eager, heldout/eager_slowdown, heldout/gpu_shared, heldout/h200d_cold_compile_shared_gpu, heldout/h200d_contended_first40pct, heldout/h200d_ddp2_6L384_block512_accum8_log25, heldout/h200d_eager_12L768_log1_ckpt_every100, heldout/h200d_llmc_train_gpt2py_d12, heldout/h200d_shared_gpu_big_first, heldout/h200d_speed_waves, heldout/resumed, heldout/small_accum.
"""

from __future__ import annotations

from monitor.core.band import Calibration
from monitor.core.blend import Blend

BLEND = Blend(
    weights=(
        (0.000000, 0.050000, 0.950000,),
        (0.000000, 0.000000, 1.000000,),
        (0.000000, 0.000000, 1.000000,),
        (0.000000, 1.000000, 0.000000,),
        (0.000000, 1.000000, 0.000000,),
        (0.000000, 1.000000, 0.000000,),
        (0.000000, 0.000000, 1.000000,),
        (0.650000, 0.050000, 0.300000,),
        (0.000000, 0.050000, 0.950000,),
        (1.000000, 0.000000, 0.000000,),
        (0.400000, 0.000000, 0.600000,),
        (0.300000, 0.000000, 0.700000,),
        (0.900000, 0.000000, 0.100000,),
        (0.450000, 0.550000, 0.000000,),
        (0.000000, 0.000000, 1.000000,),
        (1.000000, 0.000000, 0.000000,),
    ),
    runs=39,
)

CALIBRATION = Calibration(
    low=(-0.069811, -0.214599, -0.214100, -0.249570, -0.090142, -0.115891, -0.098031, -0.098259, -0.176684,),
    high=(0.100765, 0.420061, 0.162078, 0.139502, 0.120080, 0.111932, 0.115877, 0.121544, 0.174855,),
    runs=39,
)
