"""The finish time's fitted tables, written by benchmarks/calibrate_band.py from the recorded
runs (do not edit by hand). PURE ring: constants only.

BLEND: weights of the methods model, long, wallclock per cell of monitor.core.blend.cell (progress
buckets, then the same after a speed-up), fitted on the runs' lines (monitor.core.blend.fit).
BANDS: signed relative errors (true finish - predicted) / predicted time to come of the
blended estimate in units of monitor.core.band.unit (steady samples seen, share of evals to come),
quantiles at 0.05 and 0.95 with the finite-sample correction
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
        low=(-0.119176, -0.071310, -0.045354, -0.065106, -0.056444, -0.108627, -0.101328, -0.089339, -0.112623,),
        high=(0.189142, 0.545843, 0.322084, 0.229175, 0.118449, 0.112618, 0.112772, 0.114152, 0.127683,),
        runs=47,
    ),
    shared=Calibration(
        low=(-0.267188, -0.296083, -0.398348, -0.427924, -0.396892, -0.270646, -0.311399, -0.125789, -0.269370,),
        high=(0.577257, -0.101912, 0.187667, 0.725364, 0.773797, 0.874786, 0.767666, 0.175334, 0.307063,),
        runs=18,
    ),
    harmless=Calibration(
        low=(-0.064152, -0.296083, -0.398348, -0.051224, -0.046987, -0.131969, -0.101557, -0.068994, -0.070991,),
        high=(0.053590, -0.101912, 0.187667, 0.182899, 0.798648, 0.823607, 0.213420, 0.200059, 0.104944,),
        runs=13,
    ),
)
