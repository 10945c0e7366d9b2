"""The finish time's fitted tables, written by benchmarks/calibrate_band.py from the recorded
runs (do not edit by hand). PURE ring: constants only.

BLEND: weights of the methods model, long, wallclock per cell of monitor.core.blend.cell (progress
buckets, then the same after a speed-up), fitted on the runs' lines (monitor.core.blend.fit).
BANDS: signed relative errors (true finish - predicted) / predicted time to come of the
blended estimate, quantiles at 0.05 and 0.95 with the finite-sample correction
over runs, per bucket of monitor.core.band.bucket; `alone` from the lines where the run had its GPUs
to itself, `shared` from those where other processes were on them (runs: how many had such lines).
Runs: compiled, eager_log_every_iter, h200_cpu_recipe_beside_gpu_job, h200_ddp2_gpt2_124M, h200_ddp2_shakespeare_char, h200_eval_heavy_ckpt, h200_gpt2_124M, h200_gpu_contended, h200_gpu_contended_short, h200_resumed, h200b_12L_grad_accum8_log1, h200b_contended_first20s_2procs, h200b_contended_first20s_4procs, h200b_ddp2_log_every_iter, h200b_eval_heavy_500iters, h200b_log_every_100, h200b_max_autotune_warmup, h200b_shared_gpu_first, h200b_shared_gpu_second, h200c_8L512_log50_eval500, h200c_contended_irregular, h200c_contended_staircase, h200c_ddp2_one_gpu_contended, h200c_eager_2cores_cpu_contention, h200c_eval_heavy_ckpt_8L512, h200c_gpt2_124M_accum8_log1, real_nvidia_smi, heldout/accum8_eager, heldout/eager_slowdown, heldout/gpu_shared, heldout/h200d_cold_compile_shared_gpu, heldout/h200d_contended_first40pct, heldout/h200d_ddp2_6L384_block512_accum8_log25, heldout/h200d_eager_12L768_log1_ckpt_every100, heldout/h200d_llmc_train_gpt2py_d12, heldout/h200d_shared_gpu_big_first, heldout/h200d_speed_waves, heldout/resumed, heldout/small_accum.
"""

from __future__ import annotations

from monitor.core.band import Bands, Calibration
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

BANDS = Bands(
    alone=Calibration(
        low=(-0.081919, -0.068170, -0.049799, -0.058304, -0.059789, -0.116615, -0.108224, -0.098259, -0.131507,),
        high=(0.127879, 0.420061, 0.453626, 0.182011, 0.120080, 0.108750, 0.104594, 0.122057, 0.174855,),
        runs=37,
    ),
    shared=Calibration(
        low=(-0.187322, -0.214599, -0.342705, -0.381078, -0.398802, -0.267189, -0.262537, -0.119655, -0.247281,),
        high=(0.406149, -0.079973, 0.162078, 0.740694, 0.854718, 0.996980, 0.653337, 0.163354, 0.197188,),
        runs=14,
    ),
)
