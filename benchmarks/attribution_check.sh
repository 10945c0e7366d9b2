#!/usr/bin/env bash
# Whose GPU: follow a GPU run (| tee) and a CPU-only run beside another job's GPU with
# `nanowatch --jsonl`, recording every GPU's NVML energy counter and compute PIDs beside them
# (BENCHMARKS.md, "Whose GPU"). Run from the repo root on a machine with 2 NVIDIA GPUs, with
# nanoGPT (and data/shakespeare_char prepared) in .rec/nanoGPT, nanowatch's wheels' deps in .whl
# and the nanowatch package under test in .attr/nw; results go to $OUT/attr.tar.gz.
set -u
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD/.attr/nw PYTHONUNBUFFERED=1
R=/tmp/attr; mkdir -p $R
cd .rec/nanoGPT
ls data/shakespeare_char > $R/data.txt 2>&1
SC="config/train_shakespeare_char.py"
python3 $OLDPWD/benchmarks/nvml_trace.py $R/nvml.csv 100 &
T=$!
# the other job starts first, from the same shell; the GPU run writes through `| tee`; the CPU run by redirect
CUDA_VISIBLE_DEVICES=1 python3 -u train.py $SC --max_iters=6000 --lr_decay_iters=6000 --out_dir=/tmp/o1 > $R/other_gpu_job.log 2>&1 &
B=$!
sleep 8
bash -c "CUDA_VISIBLE_DEVICES=0 python3 -u train.py $SC --max_iters=6000 --lr_decay_iters=6000 --out_dir=/tmp/o0 2>&1 | tee $R/gpu_run.log > /dev/null" &
A=$!
python3 -u train.py $SC --device=cpu --compile=False --eval_iters=20 --log_interval=1 --block_size=64 --batch_size=12 --n_layer=4 --n_head=4 --n_embd=128 --max_iters=2000 --lr_decay_iters=2000 --dropout=0.0 --out_dir=/tmp/oc > $R/cpu_run.log 2>&1 &
C=$!
echo "pids gpu_run_shell=$A other_gpu_job=$B cpu_run=$C" > $R/pids.txt
cd $OLDPWD
python3 -m monitor $R/gpu_run.log --jsonl --interval 2 --gpu-interval 0.5 > $R/gpu_run.jsonl 2> $R/gpu_run.err &
N1=$!
python3 -m monitor $R/cpu_run.log --jsonl --interval 2 --gpu-interval 0.5 > $R/cpu_run.jsonl 2> $R/cpu_run.err &
N2=$!
sleep 80
ps -eo pid,ppid,args | grep -v '\[' >> $R/pids.txt
kill $N1 $N2; sleep 1
kill $A $B $C 2>/dev/null; pkill -f train.py; sleep 2; kill $T 2>/dev/null
ls /proc | head -50 > $R/proc_ls.txt
tar -C $R -czf $OUT/attr.tar.gz . && ls -la $OUT
