"""The finish time's fitted tables, written by benchmarks/calibrate_band.py from the recorded
runs (do not edit by hand). PURE ring: constants only.

BLEND: weights of the methods model, long, wallclock per cell of monitor.core.blend.cell (progress
buckets, then the same after a speed-up), fitted on the runs' lines (monitor.core.blend.fit).
BANDS: signed relative errors (true finish - predicted) / predicted time to come of the
blended estimate, quantiles at 0.05 and 0.95 with the finite-sample correction
over runs, per bucket of monitor.core.band.bucket; `alone` from the lines where the run had its GPUs
to itself, `shared` from those where other processes were on them and the run ran slower beside them
(or nothing showed yet that it did not), `harmless` from those where it ran as fast as alone (runs:
how many had such lines).
Runs: compiled, eager_log_every_iter, h200_cpu_recipe_beside_gpu_job, h200_ddp2_gpt2_124M, h200_ddp2_shakespeare_char, h200_eval_heavy_ckpt, h200_gpt2_124M, h200_gpu_contended, h200_gpu_contended_short, h200_resumed, h200b_12L_grad_accum8_log1, h200b_contended_first20s_2procs, h200b_contended_first20s_4procs, h200b_ddp2_log_every_iter, h200b_eval_heavy_500iters, h200b_log_every_100, h200b_max_autotune_warmup, h200b_shared_gpu_first, h200b_shared_gpu_second, h200c_8L512_log50_eval500, h200c_contended_irregular, h200c_contended_staircase, h200c_ddp2_one_gpu_contended, h200c_eager_2cores_cpu_contention, h200c_eval_heavy_ckpt_8L512, h200c_gpt2_124M_accum8_log1, real_nvidia_smi, heldout/accum8_eager, heldout/eager_slowdown, heldout/gpu_shared, heldout/h200d_cold_compile_shared_gpu, heldout/h200d_contended_first40pct, heldout/h200d_ddp2_6L384_block512_accum8_log25, heldout/h200d_eager_12L768_log1_ckpt_every100, heldout/h200d_llmc_train_gpt2py_d12, heldout/h200d_shared_gpu_big_first, heldout/h200d_speed_waves, heldout/h200e_competitor_arrives_stays, heldout/h200e_competitors_mixed_strengths, heldout/h200e_data_bound_noisy_neighbour, heldout/h200e_fast_shallow_waves, heldout/h200e_gpt2_124M_joined_by_second_job, heldout/h200e_llmc_cuda_d12, heldout/h200e_preempted_resumed_log50, heldout/h200e_short_random_bursts, heldout/h200e_stdout_block_buffered, heldout/resumed, heldout/small_accum.
"""

from __future__ import annotations

from monitor.core.band import Bands, Calibration
from monitor.core.blend import Blend

BLEND = Blend(
    weights=(
        (0.000000, 0.150000, 0.850000,),
        (0.000000, 0.050000, 0.950000,),
        (0.000000, 0.050000, 0.950000,),
        (0.000000, 1.000000, 0.000000,),
        (0.000000, 1.000000, 0.000000,),
        (0.000000, 0.700000, 0.300000,),
        (0.000000, 0.000000, 1.000000,),
        (0.750000, 0.000000, 0.250000,),
        (0.000000, 0.150000, 0.850000,),
        (1.000000, 0.000000, 0.000000,),
        (0.400000, 0.000000, 0.600000,),
        (0.300000, 0.000000, 0.700000,),
        (0.300000, 0.200000, 0.500000,),
        (0.900000, 0.000000, 0.100000,),
        (0.000000, 0.000000, 1.000000,),
        (1.000000, 0.000000, 0.000000,),
    ),
    runs=48,
)

BANDS = Bands(
    alone=Calibration(
        low=(-0.081919, -0.068009, -0.039932, -0.055915, -0.058805, -0.103277, -0.090769, -0.088957, -0.146402,),
        high=(0.135805, 0.420346, 0.274560, 0.182179, 0.120080, 0.110887, 0.107160, 0.122057, 0.176230,),
        runs=47,
    ),
    shared=Calibration(
        low=(-0.187375, -0.214649, -0.342719, -0.381193, -0.398802, -0.267189, -0.274567, -0.119655, -0.247763,),
        high=(0.406149, -0.080013, 0.162115, 0.740632, 0.812366, 1.004058, 0.647669, 0.163354, 0.327146,),
        runs=18,
    ),
    harmless=Calibration(
        low=(-0.044701, -0.214649, -0.342719, -0.040269, -0.044914, -0.112861, -0.089004, -0.062857, -0.109810,),
        high=(0.037404, -0.080013, 0.162115, 0.154701, 0.882629, 0.920076, 0.194109, 0.178264, 0.197528,),
        runs=13,
    ),
)
