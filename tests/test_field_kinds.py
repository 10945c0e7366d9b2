"""Issue 12's fault kinds, one focused test each: what a log from the field looks like, and what it must read as."""

from __future__ import annotations

import pytest
from conftest import FakeClock

from monitor.core.events import ConfigValue, Crash, Eval, Iteration
from monitor.core.formats import AutoParser, llama2c, llmc, modded, nanochat, nanogpt
from monitor.core.formats.common import glued_end
from monitor.core.formats.prefix import Margin, strip, strip_block
from monitor.core.plan import make_plan
from monitor.core.report import STALL_UNTIMED_S, Options
from monitor.inbox import FileTouched, LinesRead
from monitor.session import Session

T0 = 1_800_000_000.0


def session(lines: list[str], clock: FakeClock | None = None, mtime: float | None = None, fmt: str = "auto",
            t: float | None = None) -> Session:
    s = Session(Options(fmt=fmt), clock or FakeClock())
    for line in lines:
        s.feed(line, t)
    if mtime is not None:
        s.ingest([FileTouched(mtime)])
    return s


# --- A: prefixes ---------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("line", "text", "printed_s", "rank"),
    [
        ("2024-05-02 14:10:07 iter 1200: loss 3.88", "iter 1200: loss 3.88", 1714659007.0, None),
        ("[2025-09-14 08:00:01] step 00120/00800", "step 00120/00800", 1757836801.0, None),
        ("2025-09-14T08:00:02.500Z step 1", "step 1", 1757836802.5, None),
        ("2025-09-14T10:00:02+02:00 step 1", "step 1", 1757836802.0, None),
        ("May 02 14:10:07 iter 3: loss 1", "iter 3: loss 1", None, None),  # ts's default: year unknown
        ("[rank0]:   File \"train.py\", line 3", "  File \"train.py\", line 3", None, 0),
        ("[rank12]: OSError: x", "OSError: x", None, 12),
        ("[default3]:iter 1: loss 2", "iter 1: loss 2", None, 3),
        ("INFO:__main__:iter 5: loss 2", "iter 5: loss 2", None, None),
        ("2024-01-01 10:00:00,123 - __main__ - INFO - iter 3: loss 2", "iter 3: loss 2", 1704103200.123, None),
        ("2024-01-01 10:00:00.123 | INFO     | __main__:main:12 - step 1", "step 1", 1704103200.123, None),
        ("[INFO] step 5", "step 5", None, None),
        ("[2025-01-01 00:00:00] [rank1]: Traceback (most recent call last):", "Traceback (most recent call last):",
         1735689600.0, 1),
        # mpirun --tag-output (llm.c on several GPUs), Horovod, Open MPI's --timestamp-output
        ("[1,0]<stdout>:step    1/74 | loss 4.28", "step    1/74 | loss 4.28", None, 0),
        ("[1,3]<stderr>:RuntimeError: NCCL error", "RuntimeError: NCCL error", None, 3),
        ("[2]<stdout>:iter 40: loss 2.0", "iter 40: loss 2.0", None, 2),
        ("Thu Mar 11 01:53:18 2021[1]<stdout>:iter 40: loss 2.0", "iter 40: loss 2.0", 1615427598.0, 1),
        # srun --label (SLURM): the task id, padded to the widest
        ("0: iter 10: loss 3.2", "iter 10: loss 3.2", None, 0),
        (" 3: Traceback (most recent call last):", "Traceback (most recent call last):", None, 3),
        # a time of day alone: no date, so no time kept
        ("10:00:00 iter 10: loss 3.2", "iter 10: loss 3.2", None, None),
        # Hydra's job logging `[time][logger][LEVEL] - `, then a trainer's own `[RANK 0] ` tag
        ("[2023-08-03 17:34:50,662][trainer][INFO] - [RANK 0] iter 0: loss 3.1103, time 111.79s",
         "iter 0: loss 3.1103, time 111.79s", 1691084090.662, 0),
        ("[2023-08-03 21:07:45,149][torch.distributed.distributed_c10d][INFO] - Rank 2: Completed",
         "Rank 2: Completed", 1691096865.149, None),
        ("[Rank 1] Using device: cuda:1", "Using device: cuda:1", None, 1),
        ("[INFO] - step 5", "step 5", None, None),
        ("[10:00:00.123] step 1", "step 1", None, None),
    ],
)
def test_prefixes_are_stripped_and_their_time_and_rank_kept(line: str, text: str, printed_s: float | None,
                                                            rank: int | None) -> None:
    got = strip(line)
    assert got is not None and got.text == text and got.rank == rank
    if printed_s is not None:
        assert got.printed_s == pytest.approx(printed_s)
    elif not line.startswith("May"):
        assert got.printed_s is None


@pytest.mark.parametrize("line", ["iter 3: loss 2.1, time 5.0ms", "300 | loss 6.81 | lr 1e-4 | 8101.10ms",
                                  "step 00120/00800 (15.00%) | loss: 4.1", "Overriding: max_iters = 5",
                                  "00:00 backup job ok", "Step 00300 | Validation bpb: 0.4012"])
def test_family_lines_have_no_prefix(line: str) -> None:
    assert strip(line) is None


def test_timestamped_log_reads_as_its_family_with_times_anchored_to_the_file() -> None:
    lines = ["2024-05-02 14:10:07 iter 1200: loss 3.8812, time 812.40ms, mfu 11.20%",
             "2024-05-02 14:10:15 iter 1210: loss 3.8620, time 809.95ms, mfu 11.21%",
             "2024-05-02 14:10:23 iter 1220: loss nan, time 811.02ms, mfu 11.19%"]
    clock = FakeClock(T0 + 5)
    s = session(lines, clock, mtime=T0)
    snap = s.snapshot()
    assert (s.format, snap.iter, snap.last_finite_loss) == ("nanogpt", 1220, 3.862)
    # the last line was written at the file's mtime, the others 16 s and 8 s before it
    assert list(s.state.current.t.values) == [T0 - 16, T0 - 8, T0]
    assert snap.status == "training" and snap.started_t == T0 - 16


def test_printed_times_are_not_used_when_the_step_lines_carry_none() -> None:
    # nanochat's logger stamps its start-up lines only: the steps are timed by their arrival
    lines = ["2025-10-16 20:17:42,749 - nanochat.common - INFO - Distributed world size: 8",
             "step 00001/00010 (10.00%) | loss: 3.0 | dt: 100.00ms"]
    s = session(lines, t=T0)
    assert s.printed_clock.in_use is False
    assert s.state.current.t.values[-1] == T0


def test_live_timestamped_lines_take_the_arrival_clock_and_keep_their_gaps() -> None:
    s = Session(Options(), FakeClock(T0))
    s.feed("[2020-01-01 00:00:00] iter 1: loss 3.0, time 10.00ms", T0)
    s.feed("[2020-01-01 00:00:10] iter 2: loss 2.9, time 10.00ms", T0 + 0.5)  # printed 10 s later
    assert list(s.state.current.t.values) == [T0, T0 + 10]


def test_rank_tagged_block_is_read_in_bulk_like_plain_lines() -> None:
    plain = [f"iter {i}: loss {3 - i / 1000:.4f}, time 10.00ms, mfu 1.00%" for i in range(400)]
    block = "".join(f"[default0]:{line}\n" for line in plain).encode()
    assert strip_block(block) == "".join(f"{line}\n" for line in plain).encode()
    a, b = Session(Options(), FakeClock()), Session(Options(), FakeClock())
    a.feed_block(block)
    b.feed_block("".join(f"{line}\n" for line in plain).encode())
    assert list(a.state.current.loss.values) == list(b.state.current.loss.values)
    assert a.state.lines == b.state.lines == 400


# --- B, C: crashes and their root cause -------------------------------------------------------

def test_traceback_before_any_family_line_is_a_crash_with_its_reason() -> None:
    s = session(["Overriding: max_iters = 5000", "Traceback (most recent call last):",
                 '  File "train.py", line 120, in <module>', "    data = np.memmap(...)",
                 "FileNotFoundError: [Errno 2] No such file or directory: 'train.bin'"])
    snap = s.snapshot()
    assert snap.status == "crashed" and snap.error.startswith("FileNotFoundError: [Errno 2]")


def test_text_that_is_no_exception_does_not_end_a_traceback() -> None:
    # a wrapped source line and a poster's `...` inside the stack
    s = session(["Traceback (most recent call last):", '  File "t.py", line 1, in <module>',
                 '    wandb.init(name=x) # id="1j6c02w', 'm", resume="must"', "...",
                 "AttributeError: module 'wandb' has no attribute 'init'"])
    assert s.snapshot().error == "AttributeError: module 'wandb' has no attribute 'init'"


def test_the_ranks_exception_is_the_error_not_torchruns_wrapper() -> None:
    lines = ["iter 50: loss 3.2950, time 903.88ms, mfu 16.04%"]
    for rank in (1, 0):
        lines += [f"[rank{rank}]: Traceback (most recent call last):", f'[rank{rank}]:   File "t.py", line 80',
                  f"[rank{rank}]: OSError: [Errno 28] No space left on device"]
    lines += ["Traceback (most recent call last):", '  File "torchrun", line 8, in <module>',
              "torch.distributed.elastic.multiprocessing.errors.ChildFailedError: "]
    snap = session(lines).snapshot()
    assert snap.status == "crashed"
    assert snap.error == "OSError: [Errno 28] No space left on device (rank 1 first; 2 ranks raised it)"
    assert "ChildFailedError" in next(text for _, kind, text in snap.notes if kind == "error")


def test_crash_after_a_finished_stage_belongs_to_the_next_process() -> None:
    lines = ["step 00999/01000 (99.90%) | loss: 2.899871 | dt: 480.33ms", "Total training time: 8.03m",
             "Traceback (most recent call last):", "OSError: [Errno 28] No space left on device"]
    s = session(lines)
    assert [s.snapshot(run_index=i).status for i in range(2)] == ["finished", "crashed"]


# --- D: the config dump as the Python file it is ----------------------------------------------

def test_the_whole_config_dump_is_read_skipping_statements() -> None:
    lines = ["Overriding config with config/finetune_tiny.py:", "import time", "", "# a comment",
             "out_dir = 'out-tiny'", "wandb_run_name = 'ft-' + str(time.time())", "if True:", "    eval_iters = 1",
             "betas = (0.9, 0.95)", "max_iters = 30  # short", "learning_rate = 3e-5",
             "tokens per iteration will be: 32,768", "iter 0: loss 4.1200, time 31002.10ms, mfu -100.00%"]
    s = session(lines)
    run = s.state.current
    assert run.config["max_iters"] == 30 and run.config["out_dir"] == "out-tiny" and run.config["betas"] == (0.9, 0.95)
    assert "wandb_run_name" not in run.config and "eval_iters" not in run.config
    snap = s.snapshot()
    assert (snap.max_iters, snap.max_iters_source, snap.tokens_per_iter) == (30, "log", 32768)


# --- E: nanochat's own words -------------------------------------------------------------------

def test_nanochat_summary_ends_the_stage_and_the_share_gives_the_total() -> None:
    lines = ["step 00298 (99.33%) | loss: 0.912000 | dt: 2101.40ms | total time: 10.40m",
             "step 00299 (99.67%) | loss: 0.905500 | dt: 2099.80ms | total time: 10.44m",
             "Peak memory usage: 20110.12MiB", "Total training time: 10.47m"]
    snap = session(lines).snapshot()
    assert (snap.status, snap.iter, snap.max_iters, snap.max_iters_source) == ("finished", 299, 300, "log")


def test_nanochat_share_total_waits_until_the_shares_pin_it() -> None:
    parser = nanochat.Parser()
    first = parser.parse("step 00010 (0.47%) | loss: 3.0 | dt: 1.00ms")
    assert isinstance(first, tuple) and first[-1].share_total is None  # 2105..2151: too wide
    assert parser.parse("step 03000 (15.00%) | loss: 3.0 | dt: 1.00ms").share_total == 20000


def test_nanochat_calculated_iterations_give_max_iters() -> None:
    s = session(["Calculated number of iterations from target data:param ratio: 12,800",
                 "Step 00000 | Validation bpb: 3.2998"])
    assert (s.snapshot().max_iters, s.snapshot().max_iters_source) == (12800, "log")


# --- F: key:value lines by key ----------------------------------------------------------------

def test_modded_fields_are_read_by_key_in_any_order() -> None:
    parser = modded.Parser()
    assert parser.parse("step:1000/4000 val_loss:2.2800 val_bpb:1.3501 train_time:45001ms step_avg:45.00ms") == (
        Iteration(1000, None, None, None, 4000, 45.001), Eval(1000, 2.28))
    assert parser.parse("step:1001/4000 lr:0.1 train_time:45046ms train_loss:2.29") == Iteration(
        1001, 2.29, pytest.approx(0.045), None, 4000, 45.046)
    assert parser.parse("step:1002/4000 train_loss:2.29") is None  # no training clock: not a step line


# --- G: nothing from today's defaults ----------------------------------------------------------

def test_tokens_per_iter_is_unknown_unless_every_factor_is_printed() -> None:
    s = session(["Overriding: batch_size = 4", "Overriding: block_size = 128", "iter 0: loss 10.9, time 4101.00ms"])
    assert s.snapshot().tokens_per_iter is None  # gradient_accumulation_steps was never printed
    s = session(["Overriding: batch_size = 4", "Overriding: block_size = 128",
                 "Overriding: gradient_accumulation_steps = 2", "iter 0: loss 10.9, time 4101.00ms"])
    assert s.snapshot().tokens_per_iter == 1024


# --- J, U: llama2.c, and no family at all --------------------------------------------------------

def test_llama2c_step_lines_with_and_without_mfu() -> None:
    parser = llama2c.Parser()
    assert parser.parse("300 | loss 6.8100 | lr 4.990000e-05 | 8101.10ms | mfu 0.20%") == Iteration(
        300, 6.81, pytest.approx(8.1011), pytest.approx(0.002))
    assert parser.parse("0 | loss 11.6250 | lr 3.000000e-04 | 104573.61ms") == Iteration(
        0, 11.625, pytest.approx(104.57361), None)
    assert parser.parse("step 320: train loss 6.7000, val loss 6.8800") == Eval(320, 6.88, 6.7)


def test_a_llama2c_log_that_opens_with_nanogpt_lines_is_llama2c() -> None:
    auto = AutoParser()
    auto.feed(None, "step 0: train loss 11.6275, val loss 11.6275")
    assert auto.name == "nanogpt"  # nothing told them apart yet
    auto.feed(None, "0 | loss 11.6250 | lr 3.000000e-04 | 104573.61ms")
    assert auto.name == "llama2c"


def test_evals_read_is_never_no_training_step() -> None:
    snap = session(["step 0: train loss 4.2, val loss 4.2303"]).snapshot()
    assert snap.iter is None and snap.evals_done == 1
    from monitor.core.summary import summary

    assert "no training step" not in summary(snap) and "1 eval read" in summary(snap)


def test_a_file_with_no_line_of_any_family_says_so() -> None:
    snap = session([f"{h:02d}:00 backup job ok, 12 files copied" for h in range(24)]).snapshot()
    assert snap.format is None and snap.status == "starting"
    assert any("24 lines read, none recognised" in w for w in snap.warnings)


# --- statuses, pipes, run boundaries -----------------------------------------------------------

def test_a_log_without_timing_can_stall() -> None:
    clock = FakeClock(T0)
    s = session(["Step 00000/00651 | Training loss: 0.84| lrm: 1.0"], clock, t=T0)
    assert s.snapshot().status == "training"
    clock.advance(STALL_UNTIMED_S + 1)
    assert s.snapshot().status == "stalled"


def test_an_earlier_run_that_was_followed_has_ended() -> None:
    clock = FakeClock(T0)
    s = session(["iter 10: loss 3.0, time 100.00ms", "iter 20: loss 2.9, time 100.00ms",
                 "Overriding config with config/x.py:", "max_iters = 100", "iter 0: loss 3.5, time 100.00ms"], clock)
    s.ingest([FileTouched(T0 - 86400)])  # a day-old file: the earlier run would look stalled
    assert [s.snapshot(run_index=i).status for i in range(2)] == ["interrupted", "stalled"]


def test_a_piped_finished_log_shows_the_runs_duration() -> None:
    clock = FakeClock(T0)
    s = Session(Options(source="-"), clock)
    s.feed_many([f"iter {i}: loss 3.0, time 1000.00ms".encode() for i in range(100)], T0)  # all at once
    clock.advance(0.2)
    snap = s.snapshot()
    assert snap.elapsed_s == pytest.approx(100.0) and not snap.elapsed_measured


def test_torchrun_preamble_starts_the_next_run() -> None:
    s = Session(Options(), FakeClock(T0))
    s.feed("iter 10: loss 3.0, time 100.00ms", T0)
    s.feed("iter 20: loss 2.9, time 100.00ms", T0 + 1)
    s.feed("W1130 10:00:00.123000 42 torch/distributed/run.py:793] ", T0 + 3600)  # tee -a: resumed an hour later
    s.feed("W1130 10:00:00.123000 42 torch/distributed/run.py:793] *****************************************", T0 + 3600)
    s.feed("Overriding config with config/x.py:", T0 + 3610)
    s.feed("iter 20: loss 2.9, time 100.00ms", T0 + 3620)
    first, second = s.state.runs
    assert (first.lines, first.last_line_t) == (2, T0 + 1)
    assert (second.first_t, second.first_iter) == (T0 + 3600, 20)


def test_crash_rank_reaches_the_event() -> None:
    s = Session(Options(), FakeClock())
    s.feed("[rank3]: RuntimeError: NCCL error")
    assert s.state.current.crash == Crash("RuntimeError: NCCL error", False, 3)


def test_compiled_trainers_fatal_errors_are_crashes_with_their_reason() -> None:
    s = session(["train_gpt2cu: train_gpt2.cu:1518: int main(int, char**): Assertion `B % T == 0' failed."])
    assert s.snapshot().status == "crashed" and "Assertion `B % T == 0' failed" in s.snapshot().error
    s = session(["Multi-GPU support is disabled. Using a single GPU.", "[CUDA ERROR] at file train_gpt2.cu:265:",
                 "out of memory"])
    assert (s.format, s.snapshot().status, s.snapshot().error) == ("llmc", "crashed", "[CUDA ERROR] out of memory")


def test_a_forks_tokens_line_is_read() -> None:
    s = session(["total number of tokens per iteration: 655360", "iter 0: loss 4.2, time 10.00ms"])
    assert s.snapshot().tokens_per_iter == 655360


def test_timestamped_lines_read_in_a_block_keep_their_own_times() -> None:
    lines = [f"2024-05-02 14:{i // 60:02d}:{i % 60:02d} iter {i}: loss 3.0, time 1000.00ms, mfu 1.00%" for i in range(400)]
    block, one_by_one = Session(Options(), FakeClock(T0)), session(lines, FakeClock(T0))
    block.feed_block("".join(f"{line}\n" for line in lines).encode())
    for s in (block, one_by_one):
        s.ingest([FileTouched(T0)])
        s.snapshot()
    assert list(block.state.current.t.values) == list(one_by_one.state.current.t.values)
    assert block.state.current.t.values[0] == T0 - 399 and block.state.lines == 400


def test_replay_paces_a_prefixed_log_by_its_step_lines() -> None:
    from monitor.sources.replay import paced_times

    lines = [f"[rank0]: iter {i}: loss 3.0, time 500.00ms".encode() for i in range(4)]
    assert paced_times(lines, 0.0) == [0.5, 1.0, 1.5, 2.0]


def test_once_reads_a_piped_log_to_its_end() -> None:
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    log = "".join(f"iter {i}: loss 3.0, time 1000.00ms, mfu 1.00%\n" for i in range(0, 101, 10))
    env = {**os.environ, "PYTHONPATH": str(root)}
    argv = [sys.executable, "-m", "monitor", "-", "--once", "--no-gpu", "--max-iters", "100"]
    out = subprocess.run([*argv, "--json"], input=log, capture_output=True, text=True, env=env, timeout=60, check=True)
    assert (json.loads(out.stdout)["status"], json.loads(out.stdout)["iter"]) == ("finished", 100)
    text = subprocess.run(argv, input=log, capture_output=True, text=True, env=env, timeout=60, check=True).stdout
    assert "1 m 41 s" in text  # 101 steps of 1 s as printed, not the pipe's instant


# --- E: the end of training, said other ways ---------------------------------------------------------

def _logger(evals: list[int], last_train: int) -> list[str]:
    lines = []
    for step in range(last_train + 1):
        if step in evals:
            lines.append(f"s:{step} tel:3.5")
        lines.append(f"s:{step} trl:3.4")
    return lines


def test_an_llmc_logger_ending_on_an_eval_off_its_grid_has_finished() -> None:
    # train_gpt2.cu evaluates every k steps and at step == total, after training line total - 1.
    assert session([*_logger([0, 4, 8], 9), "s:10 tel:3.3"]).snapshot().status == "finished"
    # On the grid, the eval may be a mid-run one whose training line has not come yet.
    assert session([*_logger([0, 4, 8], 11), "s:12 tel:3.3"]).snapshot().status == "training"
    # An eval that is not right after the last training line is no end either.
    assert session([*_logger([0, 4], 5), "s:10 tel:3.3"]).snapshot().status == "training"


def test_a_modded_run_that_says_where_it_stops_finishes_there() -> None:
    head = ["=" * 100, "Running PyTorch 2.11.0", "=" * 100]
    vals = [f"step:{s}/3020 val_loss:3.3 train_time:{s * 1.5:.3f}s step_avg:1500.00ms" for s in range(0, 2930, 5)]
    assert session([*head, *vals]).snapshot().status == "training"
    snap = session([*head, "Using run_stop_step=2925 train_steps=3020", *vals]).snapshot()
    assert (snap.status, snap.iter) == ("finished", 2925)


def test_a_nanogpt_fork_saying_training_done_has_finished() -> None:
    lines = [f"iter {i}: loss 1.0, time 45.00ms" for i in range(0, 1001, 100)]
    assert session(lines).snapshot().status == "training"
    assert session([*lines, "training done", "Best validation loss: 0.98", "Total train time: 1.00 mins"]
                   ).snapshot().status == "finished"


def test_a_run_that_said_it_ended_without_printing_its_total_ran_to_its_last_step() -> None:
    lines = [f"iter {i}: loss 1.0, time 45.00ms" for i in range(0, 1001, 100)]
    snap = session([*lines, "training done"]).snapshot()
    assert (snap.max_iters, snap.max_iters_source, snap.progress) == (1000, "log", 1.0)
    snap = session(lines).snapshot()  # still running, no start-up lines: train.py's default is not assumed
    assert (snap.max_iters, snap.max_iters_source, snap.progress) == (None, None, None)
    printed = ["Overriding: max_iters = 5000", *lines, "training done"]  # a printed total stays
    assert session(printed).snapshot().max_iters == 5000


# --- G: tokens per iteration where the script prints them ---------------------------------------

@pytest.mark.parametrize("setting", ["train_batch_tokens: 786432", "  train_batch_tokens: 786432",
                                     "train_batch_tokens:786432 train_seq_len:1024 iterations:20000",
                                     "Using model_num_layers=12 train_batch_tokens=786432 micro_batch_sequences=64"])
def test_a_modded_descendant_prints_its_tokens_per_step(setting: str) -> None:
    steps = [f"step:{s}/1000 train_loss:3.5 train_time:{s * 100}ms step_avg:100.00ms" for s in range(1, 11)]
    snap = session([setting, *steps], fmt="modded").snapshot()
    assert snap.tokens_per_iter == 786432


def test_source_lines_naming_the_setting_give_no_tokens() -> None:
    steps = [f"step:{s}/1000 train_loss:3.5 train_time:{s * 100}ms step_avg:100.00ms" for s in range(1, 11)]
    for line in ["    train_batch_tokens = int(os.environ.get('TRAIN_BATCH_TOKENS', 2048 * 48 * 8))",
                 "                h.train_batch_tokens,", "train_batch_tokens: 0"]:
        assert session([line, *steps], fmt="modded").snapshot().tokens_per_iter is None


# --- B: the reason of a crash ----------------------------------------------------------------------

def test_an_exception_message_that_goes_on_past_its_colon_is_read_whole() -> None:
    lines = ["Traceback (most recent call last):", '  File "x.py", line 1, in <module>',
             "torch._dynamo.exc.BackendCompilerFailed: backend='inductor' raised:",
             "RuntimeError: Cannot find a working triton installation.", "",
             'Set TORCH_LOGS="+dynamo" and TORCHDYNAMO_VERBOSE=1 for more information']
    snap = session(lines).snapshot()
    assert snap.status == "crashed"
    assert snap.error == ("torch._dynamo.exc.BackendCompilerFailed: backend='inductor' raised: "
                          "RuntimeError: Cannot find a working triton installation.")


# --- J: older lines of a known trainer ----------------------------------------------------------------

def test_llmc_train_gpt2py_iteration_lines_are_read() -> None:
    lines = ["using device: mps", "iteration 0, loss: 2.86417818069458, time: 2833.053ms",
             "iteration 1, loss: 2.071094512939453, time: 224.394ms"]
    snap = session(lines).snapshot()
    assert (snap.format, snap.iter, snap.status) == ("llmc", 1, "training")


@pytest.mark.parametrize("line", ["  File \"x.py\", line 3", "10 | loss 8.8 | lr 1e-4 | 10.0ms", "500/20000 train_loss: 3.0",
                                  "Step 00000 | Validation bpb: 1.0", "step 0: train loss 4.2, val loss 4.2"])
def test_trainer_lines_are_no_rank_or_time_prefix(line: str) -> None:
    assert strip(line) is None


@pytest.mark.parametrize("tag", ["[1,0]<stdout>:", " 0: ", "[rank0]:"])
def test_a_block_tagged_by_its_launcher_is_read_in_bulk_as_the_lines_are(tag: str) -> None:
    lines = [f"{tag}iter {i}: loss 3.2, time 100.00ms, mfu 10.00%" for i in range(0, 2000, 10)]
    block = strip_block("\n".join(lines).encode())
    assert block is not None and block.splitlines()[-1] == b"iter 1990: loss 3.2, time 100.00ms, mfu 10.00%"
    assert (session(lines).snapshot().iter, session(lines).snapshot().format) == (1990, "nanogpt")


def test_unix_time_before_each_line_is_a_prefix() -> None:
    stripped = strip("1776142719.400 1/20000 train_loss: 9.0089 train_time: 0.0m tok/s: 16371725")
    assert stripped is not None and stripped.text.startswith("1/20000 train_loss")
    assert stripped.printed_s == 1776142719.4 and stripped.resolution_s == 0.001
    assert strip("1776142719 tokens") is None  # a bare count is no time


def test_a_modded_descendants_bare_lines_and_wallclock_stop_are_read() -> None:
    lines = ["0/20000 val_loss: 8.3169 val_bpb: 3.6144",
             *(f"{s}/20000 train_loss: 3.0 train_time: {s * 0.1 / 60:.1f}m tok/s: 7990000" for s in range(500, 5501, 500)),
             "5962/20000 val_loss: 2.5449 val_bpb: 1.1060"]
    snap = session(lines).snapshot()
    assert (snap.format, snap.status, snap.iter, snap.max_iters) == ("modded", "training", 5962, 20000)
    snap = session([*lines, "stopping_early: wallclock_cap train_time: 590009ms step: 5962/20000"]).snapshot()
    assert snap.status == "finished"


# --- E: a time budget's summary (autoresearch, nanochat's loop on a clock) ------------------------

def _budget_steps(last: int, steps_left: bool = False) -> list[str]:
    """autoresearch's step lines up to `last`, half way through its time budget (or its steps)."""
    tail = (lambda s: f"remaining: {last - s} steps") if steps_left else (lambda s: f"remaining: {300 - s}s")
    return [f"step {s:05d} ({50 * (s + 1) / (last + 1):.1f}%) | loss: 5.0 | lrm: 1.00 | dt: 300ms | tok/sec: 50,000"
            f" | mfu: 0.2% | epoch: 1 | {tail(s)}    " for s in range(last + 1)]


def test_a_time_budgets_summary_ends_the_run_with_its_val_and_step_count() -> None:
    steps = _budget_steps(86)
    snap = session(steps).snapshot()
    assert (snap.format, snap.status, snap.iter) == ("nanochat", "training", 86)
    summary = ["", "---", "val_bpb:          1.774935", "training_seconds: 300.9", "total_seconds:    846.3",
               "num_steps:        87", "num_params_M:     11.5"]
    snap = session([*steps, *summary]).snapshot()
    assert (snap.status, snap.iter, snap.max_iters, snap.max_iters_source) == ("finished", 86, 87, "log")
    assert snap.val_loss == 1.774935 and snap.run_index == 0
    # A fork that skips the validation says so: no val, still the end.
    snap = session([*steps, "---", "val_bpb:          skipped", "training_seconds: 116.7"]).snapshot()
    assert (snap.status, snap.val_loss) == ("finished", None)


def test_a_time_budget_run_has_no_eval_interval_to_wait_for() -> None:
    # nanochat's default (validation every 250 steps) is not autoresearch's: it evaluates once, at the end,
    # so a pause after step 499 is no validation at 500.
    clock = FakeClock(T0)
    s = session(_budget_steps(499), clock, t=T0)
    clock.advance(1.0)  # over twice the 0.3 s step, far from a stall
    assert s.snapshot().status == "training"


def test_a_fixed_step_budget_gives_its_total_from_the_steps_left() -> None:
    snap = session(_budget_steps(49, steps_left=True)).snapshot()
    assert (snap.max_iters, snap.max_iters_source, snap.status) == (50, "log", "finished")
    snap = session(_budget_steps(49, steps_left=True)[:20]).snapshot()
    assert (snap.max_iters, snap.status) == (50, "training")


# --- G: tokens per step printed as `Total batch size: N` -------------------------------------------

@pytest.mark.parametrize(("line", "tokens"), [("Total batch size: 8192", 8192),
                                              ("Total batch size 524,288 => gradient accumulation steps: 1", 524288),
                                              ("Total batch size: 8192 (set by the fork)", None)])
def test_nanochat_tokens_per_step_with_or_without_a_colon(line: str, tokens: int | None) -> None:
    assert session([line, *_budget_steps(3)]).snapshot().tokens_per_iter == tokens


# --- J/E: llm.c's train_gpt2.py of its first days, and llm.c's end-of-loop lines -------------------

def test_llmc_iteration_lines_without_a_time_are_read_and_the_april_script_ends_on_its_dashes() -> None:
    lines = ["using device: mps", *(f"iteration {i}, loss: {5.27 - i / 2}" for i in range(10))]
    snap = session(lines).snapshot()
    assert (snap.format, snap.iter, snap.status) == ("llmc", 9, "training")
    snap = session([*lines, "<|endoftext|>!!!!!!!!!!!!!!!!", "---------------"]).snapshot()
    assert snap.status == "finished"


@pytest.mark.parametrize("end", ["total average iteration time: 168.436902 ms", "final 20 iters avg: 48.313ms"])
def test_llmc_end_of_loop_lines_finish_the_run(end: str) -> None:
    steps = [f"step {s:4d}/74 | loss 3.4 (+nanz)| norm 1.5 (+nanz)| lr 3.00e-04 | 168.70 ms | 40.0% bf16 MFU | 24333 tok/s"
             for s in range(1, 44)]
    assert session([*steps, "generating:", "---", "text", "---"]).snapshot().status == "training"
    assert session([*steps, "---------------", "text", "---------------"]).snapshot().status == "training"
    assert session([*steps, end]).snapshot().status == "finished"


# --- detection: a nanochat log cut before its banner and its first step -----------------------------

def test_nanochat_start_up_lines_show_the_family() -> None:
    lines = ["Autodetected device type: cuda",
             "2026-03-05 21:46:46,861 - nanochat.common - INFO - Distributed world size: 1",
             "GPU: NVIDIA GeForce RTX 3060 Laptop GPU | Peak FLOPS (BF16): inf"]
    for line in lines[::2]:
        snap = session([line]).snapshot()
        assert (snap.format, snap.status) == ("nanochat", "starting")
        assert not snap.warnings
    assert session(["GPU: 0 | util 99%"]).snapshot().format is None


@pytest.mark.parametrize("line", [
    "Tokens / micro-batch / rank: 32 x 2048 = 65,536",
    "Tokens / micro-batch: 524,288",
    "Total batch size 524,288 => gradient accumulation steps: 1",
    "Muon: Grouping 80 params of shape torch.Size([1280, 1280]), device cuda:0, dtype torch.float32",
    # checkpoint_manager.py, as mid_train/chat_sft/chat_rl log it (the logging prefix stripped)
    "2025-10-16 19:59:50,381 - nanochat.checkpoint_manager - INFO - No model tag provided, guessing model tag: d20",
    "2025-10-16 19:59:51,395 - nanochat.checkpoint_manager - INFO - Building model with config: {'sequence_len': 2048}",
    "Scaling the LR for the AdamW parameters ∝1/√(1280/768) = 0.774597",
    "Calculated number of iterations from target data:param ratio: 21,400",
    "Using user-provided number of iterations: 10",
    "Estimated FLOPs per token: 3.199226e+09",
])
def test_every_nanochat_start_up_line_shows_the_family(line: str) -> None:
    snap = session([line]).snapshot()
    assert (snap.format, snap.status) == ("nanochat", "starting")


def test_a_mid_train_start_up_that_never_steps_is_nanochat_with_its_batch() -> None:
    lines = ["2025-10-16 19:59:50,381 - nanochat.checkpoint_manager - INFO - Loading model from /c/d20 with step 21400",
             "Tokens / micro-batch / rank: 32 x 2048 = 65,536", "Tokens / micro-batch: 524,288",
             "Total batch size 524,288 => gradient accumulation steps: 1"]
    snap = session(lines).snapshot()
    assert (snap.format, snap.status, snap.tokens_per_iter) == ("nanochat", "starting", 524288)
    # another trainer's batch line does not say nanochat
    assert session(["Total batch size: 8192"]).snapshot().format is None


# --- A: a quoted log (indented, or behind quote markers) ----------------------------------------------

LLAMA2C = ["step 0: train loss 0.6931, val loss 0.6931",
           "0 | loss 0.6932 | lr 0.000000e+00 | 364.76ms | mfu -100.00%",
           "1 | loss 0.6930 | lr 5.000000e-06 | 15.06ms | mfu -100.00%",
           "2429 | loss 0.2366 | lr 2.272468e-10 | 13.72ms | mfu  0.09%"]


@pytest.mark.parametrize("margin", ["    ", "  ", "\t", "> ", ">", "> > ", "    > "])
def test_a_quoted_log_is_read_through_its_margin(margin: str) -> None:
    # nbconvert's Markdown indents cell output by 4; docstrings and READMEs by their own; Markdown
    # and e-mail quote with `> ` (an empty quoted line is the marker alone)
    lines = ["", *(margin + line for line in LLAMA2C[:2]), margin.rstrip(), *(margin + line for line in LLAMA2C[2:])]
    s = session(lines)
    snap = s.snapshot()
    assert (s.format, snap.iter, snap.loss, snap.val_loss) == ("llama2c", 2429, 0.2366, 0.6931)


def test_a_traceback_inside_an_indented_log_keeps_its_own_indentation() -> None:
    lines = [f"    {line}" for line in ["iter 10: loss 3.2, time 5.0ms", "Traceback (most recent call last):",
                                         '  File "train.py", line 3, in <module>', "    x = model(X)",
                                         "torch.cuda.OutOfMemoryError: CUDA out of memory."]]
    snap = session(lines).snapshot()
    assert (snap.iter, snap.status, snap.error) == (10, "crashed", "torch.cuda.OutOfMemoryError: CUDA out of memory.")


@pytest.mark.parametrize("first", [
    "                                                       █████                █████",  # nanochat's banner
    "iter 0: loss 4.2, time 10.0ms",  # a log at column 0: its later indented lines are its own
])
def test_a_log_whose_first_line_is_not_quoted_has_no_margin(first: str) -> None:
    m = Margin()
    m.cut(first)
    assert m.cut("    4 | loss 1.0 | lr 1e-4 | 10.0ms") == "    4 | loss 1.0 | lr 1e-4 | 10.0ms"
    assert m.cut('  File "t.py", line 1') == '  File "t.py", line 1'


# --- B: a job killed by its batch scheduler ----------------------------------------------------------------

LLMC_STEP = "step   99/19560 | loss 4.2 (+nanz)| norm 0.5 (+nanz)| lr 8.49e-05 | 3613.67 ms | 37.4% bf16 MFU | 144865 tok/s"


@pytest.mark.parametrize("kill", [
    "slurmstepd: error: *** JOB 11679010 ON host CANCELLED AT 2024-10-10T18:59:58 DUE TO TIME LIMIT ***",
    "slurmstepd: error: *** JOB 11679031 ON host CANCELLED AT 2024-10-11T13:44:45 ***",  # scancel
    "slurmstepd: error: *** STEP 1234.0 ON host CANCELLED AT 2025-01-01T00:00:00 DUE TO PREEMPTION ***",
    "slurmstepd-node12: error: *** JOB 77 ON node12 CANCELLED AT 2025-01-01T00:00:00 DUE TO TIME LIMIT ***",
    "=>> PBS: job killed: walltime 86415 exceeded limit 86400",
    "TERM_RUNLIMIT: job killed after reaching LSF run time limit.",  # in LSF's job report: never glued
])
@pytest.mark.parametrize("glued", [False, True])
def test_a_job_killed_by_its_scheduler_was_interrupted_with_the_reason(kill: str, glued: bool) -> None:
    # killed mid-write, the scheduler's line is glued to the half-written step line
    glued = glued and not kill.startswith("TERM_")
    lines = [LLMC_STEP, "step  100/19560 | loss 4.1 (+nanz)| norm 0.5 (" + kill] if glued else [LLMC_STEP, kill]
    snap = session(lines).snapshot()
    assert (snap.status, snap.error, snap.iter) == ("interrupted", kill, 100 if glued else 99)


@pytest.mark.parametrize("piece", ["evaluating HellaSwag: 90/1256e", "iter 1220: loss 3.86", "step:1770/1770 train_time:17"])
def test_a_scheduler_line_glued_to_any_text_is_read_as_its_own_line(piece: str) -> None:
    kill = "slurmstepd: error: *** JOB 5 ON host CANCELLED AT 2024-10-10T18:59:58 DUE TO TIME LIMIT ***"
    assert glued_end(piece + kill) == len(piece)
    assert glued_end(kill) == -1 and glued_end(f"echo slurmstepd is fine {piece}") == -1


def test_the_hosts_oom_killer_reported_by_slurm_is_a_crash() -> None:
    oom = "slurmstepd: error: Detected 1 oom_kill event in StepId=8812.batch. Some of the step tasks have been OOM Killed."
    snap = session([LLMC_STEP, oom]).snapshot()
    assert (snap.status, snap.error) == ("crashed", oom)


def test_a_scheduler_kill_at_the_end_of_a_long_block_is_read_in_bulk_too() -> None:
    steps = [f"step {i:4d}/19560 | loss 4.2 (+nanz)| norm 0.5 (+nanz)| lr 8.49e-05 | 3613.67 ms | 37.4% bf16 MFU | 1 tok/s"
             for i in range(1, 400)]
    kill = "slurmstepd: error: *** JOB 5 ON host CANCELLED AT 2024-10-10T18:59:58 DUE TO TIME LIMIT ***"
    block = "\n".join([*steps, "step  400/19560 | loss     nan (+nanz)|" + kill, *steps[:300]]).encode() + b"\n"
    s = Session(Options(), FakeClock())
    s.feed_block(block)
    assert s.state.runs[0].crash is not None and s.state.runs[0].crash.message == kill


# --- C: a rank's native failure before torchrun's wrapper ------------------------------------------------

CHILD_FAILED = [("E0321 02:07:21.120000 1234 torch/distributed/elastic/multiprocessing/api.py:869] failed (exitcode: -6)"
                " local_rank: 0 (pid: 80746) of binary: /usr/bin/python3"),
                "Traceback (most recent call last):", '  File "/usr/local/bin/torchrun", line 8, in <module>',
                "torch.distributed.elastic.multiprocessing.errors.ChildFailedError: ",
                "  traceback : Signal 6 (SIGABRT) received by PID 80746"]
TIMEOUT = ("Watchdog caught collective operation timeout: WorkNCCL(SeqNum=1580, OpType=ALLREDUCE, NumelIn=466119168, "
           "NumelOut=466119168, Timeout(ms)=600000) ran for 600060 milliseconds before timing out.")


@pytest.mark.parametrize("lines", [
    # torch >= 2.2: torchrun's rank tag, glog's prefix, then the watchdog's own `[Rank N]`
    [f"[rank0]:[E321 02:07:08.408271257 ProcessGroupNCCL.cpp:607] [Rank 0] {TIMEOUT}",
     f"[rank4]:[E321 02:07:08.414640780 ProcessGroupNCCL.cpp:607] [Rank 4] {TIMEOUT.replace('600060', '600067')}",
     (f"[rank0]:[E321 02:07:08.467000000 ProcessGroupNCCL.cpp:1515] [PG 1 Rank 0] Process group watchdog thread "
     f"terminated with exception: [Rank 0] {TIMEOUT}"),
     "terminate called after throwing an instance of 'c10::DistBackendError'",
     f"  what():  [PG 1 Rank 0] Process group watchdog thread terminated with exception: [Rank 0] {TIMEOUT}"],
    # torch 1.x/2.0: glog's short prefix stays on the line
    [f"[E ProcessGroupNCCL.cpp:737] [Rank 0] {TIMEOUT}", f"[E ProcessGroupNCCL.cpp:737] [Rank 3] {TIMEOUT}"],
])
def test_an_nccl_watchdog_timeout_is_the_error_not_torchruns_wrapper(lines: list[str]) -> None:
    snap = session(["iter 1580: loss 3.2950, time 903.88ms, mfu 16.04%", *lines, *CHILD_FAILED]).snapshot()
    # the same timeout from another rank is counted with it
    assert snap.status == "crashed" and snap.error in (f"{TIMEOUT} (rank 0)", f"{TIMEOUT} (rank 0 first; 2 ranks raised it)")


@pytest.mark.parametrize(("lines", "error"), [
    (["terminate called after throwing an instance of 'c10::Error'",
      "  what():  CUDA error: an illegal memory access was encountered"],
     "c10::Error: CUDA error: an illegal memory access was encountered"),
    (["terminate called after throwing an instance of 'std::bad_alloc'", "Aborted (core dumped)"],
     "terminate called after throwing an instance of 'std::bad_alloc'"),
])
def test_a_cpp_exception_that_ends_the_process_is_a_crash_with_its_message(lines: list[str], error: str) -> None:
    snap = session(["iter 10: loss 3.2, time 5.0ms", *lines, *CHILD_FAILED]).snapshot()
    assert (snap.status, snap.error) == ("crashed", error)


# --- E/G: a share of the stage that runs one batch ahead of the steps ------------------------------------

def test_a_share_one_batch_ahead_of_the_steps_gives_the_last_step() -> None:
    # mid_train with 10 iterations: its loader has fetched the next batch when a step prints
    # (1 at 20%, 2 at 30%: steps over a total fit no whole number, batches fetched fit 10)
    lines = ["Step 00000 | Validation bpb: 2.1492",
             "step 00001 (20.00%) | loss: 4.377713 | lrm: 1.00 | dt: 5856.08ms | total time: 0.00m",
             "step 00002 (30.00%) | loss: 5.784154 | lrm: 1.00 | dt: 26.68ms | total time: 0.00m"]
    snap = session(lines).snapshot()
    assert (snap.iter, snap.max_iters, snap.max_iters_source) == (2, 9, "log")
    done = session([*lines, *(f"step {i:05d} ({10 * (i + 1)}.00%) | loss: 4.0 | dt: 27.00ms" for i in range(3, 10))])
    assert (done.snapshot().max_iters, done.snapshot().status) == (9, "finished")


def test_a_share_of_steps_done_still_gives_the_total_it_says() -> None:
    parser = nanochat.Parser()
    totals = [parser.parse(f"step {i:05d} ({100 * i / 300:.2f}%) | loss: 3.0 | dt: 1.00ms") for i in range(1, 40)]
    assert totals[-1].share_total == 300


# --- D/G: settings printed as `name: value` pairs ---------------------------------------------------------

@pytest.mark.parametrize(("lines", "max_iters", "eval_interval"), [
    # pfnet-research/GenerRNA's train.py: several pairs to a line, a trailing comma, a continued line
    (["gradient_accumulation_steps: 16, batch_size: 16, ", "learning_rate: 0.0001, max_iters: 1000000, ",
      " dtype: float16, compile: True", "eval_interval: 500"], 1000000, 500),
    (["max_iters: 5000"], 5000, None),
])
def test_settings_printed_as_name_value_pairs_are_read(lines: list[str], max_iters: int, eval_interval: int | None) -> None:
    s = session(["Initializing a new model from scratch", *lines, "iter 0: loss 4.2, time 10.0ms, mfu -100.00%"])
    plan = make_plan(s.state.current, s.format, None)
    assert (plan.max_iters, plan.max_iters_source) == (max_iters, "log")
    assert eval_interval is None or plan.eval_interval == eval_interval


@pytest.mark.parametrize("line", ["training data: tokenized_psi/", "meta_vocab_size: 1024", "ddp_world_size: 1",
                                  "note: max_iters: 10 is the default", "Epoch: 3, loss: 2.0"])
def test_other_name_value_lines_are_no_settings(line: str) -> None:
    s = session(["Initializing a new model from scratch", line, "iter 0: loss 4.2, time 10.0ms, mfu -100.00%"])
    assert make_plan(s.state.current, s.format, None).max_iters_source == "default"


# --- B: a traceback whose long lines a terminal wrapped --------------------------------------------------

@pytest.mark.parametrize(("end", "status", "error"), [
    ("[rank0]: torch.OutOfMemoryError: CUDA out of memory.", "crashed", "torch.OutOfMemoryError: CUDA out of memory. (rank 0)"),
    ("KeyboardInterrupt", "interrupted", "KeyboardInterrupt"),
    ("StopIteration", "crashed", "StopIteration"),
])
def test_the_rest_of_a_wrapped_line_does_not_end_a_traceback(end: str, status: str, error: str) -> None:
    # a terminal copy of modded-nanogpt's rank-0 traceback: long lines wrapped, blank lines between
    lines = ["[rank0]: Traceback (most recent call last):", "",
             '[rank0]:   File "/x/torch/autograd/graph.py", line 769, in _engine_run_backwa', "", "rd", "",
             '[rank0]:   File "/x/torch/_functorch/_aot_autograd/runtime_wrappers.py", line', "", " 1861, in backward",
             "", "[rank0]:     out = call_compiled_backward()", "", end]
    snap = session(lines).snapshot()
    assert (snap.status, snap.error) == (status, error)


# --- fifth collection: prefixes of launchers, loggers and pastes ---------------------------------

@pytest.mark.parametrize(
    ("line", "text", "printed_s"),
    [
        # docker compose's service column (v2 `name-N`, v1 `project_name_N`), with `logs -t` after it
        ("train-1  | iter 10: loss 2.0, time 10.0ms", "iter 10: loss 2.0, time 10.0ms", None),
        ("docker-train-1  | Epoch [1/5], Loss: 0.0084", "Epoch [1/5], Loss: 0.0084", None),
        ("proj_trainer_1  | 2024-01-01T10:00:00.000000000Z step 1", "step 1", 1704103200.0),
        # a project or service name may begin with a digit (eleventh collection: `0trainer-1 | `)
        ("0trainer-1 | local_iter 1 total_iter 11: loss 4.0948", "local_iter 1 total_iter 11: loss 4.0948", None),
        ("2024proj_train_1  | iter 10: loss 2.0, time 10.0ms", "iter 10: loss 2.0, time 10.0ms", None),
        # a container runtime's log file (CRI) and kubectl logs --prefix
        ("2026-08-19T12:58:56.511554557+08:00 stdout F step 1 loss 0.5", "step 1 loss 0.5", 1787115536.511554557),
        ("2026-03-30T04:21:56.562896627Z stderr F Traceback (most recent call last):",
         "Traceback (most recent call last):", 1774844516.562896627),
        ("[pod/trainer-0/main] iter 10: loss 2.0", "iter 10: loss 2.0", None),
        # Python logging with a month-first date (transformers' and accelerate's examples), rich's handler
        ("05/28/2026 01:56:31 - INFO - __main__ - Step 100/79, Epoch 2, Loss 0.2188", "Step 100/79, Epoch 2, Loss 0.2188",
         1779933391.0),
        ("[01/02/24 10:00:00] INFO     iter 10: loss 2.0", "iter 10: loss 2.0", 1704189600.0),
        # ezpz's logger (wordplay) in its three forms
        ("[2024-04-02 01:59:46][INFO][trainer:837] - step=5 loss=3.6606", "step=5 loss=3.6606", 1712023186.0),
        ("[2024-11-09 20:00:06.652694][INFO][trainer.py:892] - step=10 loss=3.22", "step=10 loss=3.22", 1731182406.652694),
        ("[2025-07-24 17:54:48,709407][I][wordplay/trainer:850] step=10 loss=4.28", "step=10 loss=4.28", 1753379688.709407),
        # a tqdm bar the logger's line was printed after, without its carriage return
        ("  4%|▍         | 4/100 [00:04<01:12,  1.32it/s][2024-04-02 01:59:46][INFO][trainer:837] - step=5 loss=3.6",
         "step=5 loss=3.6", 1712023186.0),
        ("Step: 501/510 [07:24<1:06:41, 444.57s/it]10/08/2026 16:51:48 - INFO - __main__ - Step 501/109823",
         "Step 501/109823", 1791478308.0),
        ("100%|██████████| 100/100 [00:13<00:00,  7.48it/s]", "", None),
        # a poster's elision glued to the line, Markdown's code marks around numbers
        ("...tokens per iteration will be: 16,384", "tokens per iteration will be: 16,384", None),
        ("step 79800/80000 (99.75%) | loss: `2.960526` | dt: 1398.21ms", "step 79800/80000 (99.75%) | loss: 2.960526 | dt: 1398.21ms",
         None),
        ("Total training time: `1845.17m`", "Total training time: 1845.17m", None),
    ],
)
def test_launcher_logger_and_paste_prefixes_are_stripped(line: str, text: str, printed_s: float | None) -> None:
    got = strip(line)
    assert got is not None and got.text == text
    assert got.printed_s == (None if printed_s is None else pytest.approx(printed_s))


@pytest.mark.parametrize("line", [
    "300 | loss 6.81 | lr 1e-4 | 8101.10ms",  # llama2.c: a number before ` | ` is no service
    "step 00001/05000 (0.02%) | loss: 3.0 | lrm: 1.0", "step:1/5820 train_time:85ms step_avg:85.33ms",
    "stdout F step 1", "[trainer:837] - step=5", "[I] step 5", "INFO     step 5",  # only after a time
    "...", "... and 3 more", "Please use `torch.amp.GradScaler('cuda', args...)` instead.",
    "step    1/74 | loss 4.283 | norm 1.2 | lr 3.00e-04 | 36.58 ms | 9.2% bf16 MFU | 112241 tok/s",
])
def test_family_and_plain_lines_keep_their_text(line: str) -> None:
    assert strip(line) is None


def test_a_wordplay_log_behind_tqdm_bars_reads_as_nanogpt_with_printed_times() -> None:
    lines = ["[2024-04-02 01:59:25][INFO][configs:442] - Tokens per iteration: 131,072",
             *(f" {i}%|▍         | {i}/100 [00:04<01:12,  1.32it/s][2024-04-02 01:59:{40 + i // 5:02d}][INFO][trainer:837] - "
               f"step={i} loss={4 - i / 100:.4f} dt=108.1 dtf=4.6 dtb=100.7 sps=73.9 mtps=1.2 mfu=4.4 train_loss=4.29 val_loss=4.29"
               for i in range(5, 60, 5))]
    snap = session(lines).snapshot()
    assert (snap.format, snap.iter, snap.tokens_per_iter) == ("nanogpt", 55, 131072)
    assert snap.step_time_s == pytest.approx(0.2, rel=0.05)  # the printed clock: 5 steps a second


@pytest.mark.parametrize("report", [
    "     3588.66 real        90.18 user        32.03 sys",  # BSD/macOS /usr/bin/time
    "0.01user 0.00system 0:00.01elapsed 100%CPU (0avgtext+0avgdata 1840maxresident)k",  # GNU time
    "real\t1m2.345s",  # bash's time keyword (then user and sys lines)
    "python train.py  0.01s user 0.00s system 90% cpu 0.012 total",  # zsh's
    "\tExit status: 0",  # GNU time -v
])
def test_the_time_report_after_the_last_step_ends_the_run(report: str) -> None:
    lines = ["iter 0: loss 4.2639, time 25857.56ms, mfu -100.00%", "iter 10: loss 3.1459, time 220.50ms, mfu 1.69%", report]
    assert session(lines).snapshot().status == "finished"


@pytest.mark.parametrize(("report", "status"), [("Command exited with non-zero status 1", "crashed"),
                                                ("Command terminated by signal 9", "interrupted")])
def test_gnu_time_says_the_process_failed(report: str, status: str) -> None:
    lines = ["iter 10: loss 3.1459, time 220.50ms, mfu 1.69%", report, "3.10user 0.20system 0:03.40elapsed 97%CPU"]
    snap = session(lines).snapshot()
    assert (snap.status, snap.error) == (status, report)


def test_a_traceback_before_the_time_report_stays_the_cause() -> None:
    lines = ["iter 10: loss 3.1459, time 220.50ms, mfu 1.69%", "Traceback (most recent call last):",
             '  File "train.py", line 3, in <module>', "RuntimeError: CUDA error: out of memory",
             "       12.00 real         3.00 user         1.00 sys"]
    snap = session(lines).snapshot()
    assert (snap.status, snap.error) == ("crashed", "RuntimeError: CUDA error: out of memory")


def test_build_nanogpt_followers_step_time_named_time() -> None:
    lines = [f"step {i:04d}, loss: 6.{i:06d}, norm: 0.7, lr: 6.0000e-04, time: 505.96ms, tokens/sec: 32381.7" for i in range(1, 8)]
    snap = session(lines).snapshot()
    assert (snap.format, snap.iter) == ("llmc", 7) and snap.step_time_s == pytest.approx(0.506, rel=0.01)


def test_nanogpt_eval_line_with_extra_fields_between_the_losses() -> None:
    lines = ["iter 4990: loss 1.2068, time 31.28ms, mfu 14.28%",
             "step 5000: train loss 1.1379, train perplexity 3.1222, val loss 1.1532, val perplexity 3.1699",
             "iter 5000: loss 1.2180, time 5242.55ms, mfu 12.86%"]
    assert session(lines).snapshot().val_loss == pytest.approx(1.1532)


def test_wordplay_json_settings_tokens_and_evals() -> None:
    lines = ["[2024-03-09 10:38:03][INFO][configs:433] - Tokens per iteration: 131,072",
             "[2024-03-09 10:38:06][WARNING][__main__:87] - {", '    "train": {', '        "eval_interval": 250,',
             '        "max_iters": 30,', '        "compile": false,', '        "wandb_project": "WordPlay",', "    }", "}",
             *(f"[2024-03-09 10:38:{10 + i:02d}][INFO][trainer:768] - step={i} loss=2.{i:02d} dt=84.3 mfu=4.2 "
               f"train_loss={4.28 if i < 20 else 2.4} val_loss={4.27 if i < 20 else 2.5}" for i in range(5, 35, 5))]
    snap = session(lines).snapshot()
    assert (snap.format, snap.iter, snap.max_iters, snap.max_iters_source, snap.tokens_per_iter, snap.status) == (
        "nanogpt", 30, 30, "log", 131072, "finished")
    assert snap.val_loss == pytest.approx(2.5)
    evals = session(lines).state.current.evals
    assert [e.iter for e in evals] == [0, 15]  # the eval its lines first repeat ran after the line before


def test_lines_a_terminal_copy_repeats_are_no_new_run() -> None:
    rows = [f"step {i:05d}/200000 ({i / 2000:.2f}%) | loss: {9 - i / 1000:.6f} | lrm: 0.30 | dt: 1346.02ms | tok/sec: 12,172 "
            f"| bf16_mfu: 0.00 | epoch: 1 pq: 0 rg: 25 | total time: {i / 50:.2f}m" for i in range(0, 1000, 50)]
    pasted = [*rows[:16], *rows[12:16], *rows[14:16], *rows[16:]]  # the scrollback copied twice over
    for lines in (pasted, ["Autodetected device type: cuda", *pasted]):
        s = session(lines)
        assert (len(s.state.runs), s.snapshot().iter) == (1, 950)
    other = [*rows[:16], rows[12].replace("loss: 8.400000", "loss: 7.100000")]  # the same step, another loss
    assert len(session(other).state.runs) == 2


def test_lines_a_terminal_copy_repeats_are_no_new_run_in_bulk() -> None:
    rows = [f"step {i:05d}/200000 ({i / 2000:.2f}%) | loss: {9 - i / 1000:.6f} | lrm: 0.30 | dt: 1346.02ms | tok/sec: 12,172 "
            f"| bf16_mfu: 0.00 | epoch: 1 pq: 0 rg: 25 | total time: {i / 50:.2f}m" for i in range(0, 20000, 50)]
    pasted = ["Autodetected device type: cuda", *rows[:160], *rows[150:160], "noise", *rows[158:]]
    s = _block_session(pasted)
    line_by_line = session(pasted)
    assert (len(s.state.runs), s.snapshot().iter, s.state.lines) == (1, 19950, len(pasted))
    assert (len(line_by_line.state.runs), line_by_line.state.lines) == (1, len(pasted))


def test_a_nanochat_forks_final_step_marker_in_place_of_the_share() -> None:
    lines = ["step 01679/01680 (99.94%) | loss: 3.450000 | early_stop: 0",
             "step 01680/01680 (final) | loss: 3.448159 | early_stop: 0", "Peak memory usage: 72769.65MiB",
             "Total training time: 11.94m", "Minimum validation bpb: 1.047156"]
    snap = session(lines).snapshot()
    assert (snap.format, snap.iter, snap.max_iters, snap.status) == ("nanochat", 1680, 1680, "finished")
    assert snap.loss == pytest.approx(3.448159)


# --- seventh collection ---------------------------------------------------------------------------

def _py_llmc(val_every: int, steps: int, eval_ms: float) -> list[str]:
    """llm.c's train_gpt2.py: `val loss` at the top of loop N (after line `step N/M`), in step N+1's time."""
    lines = ["total desired batch size: 65536"]
    for n in range(steps):
        if n % val_every == 0:
            lines.append("val loss 3.0")
        ms = 400.0 + (eval_ms if n % val_every == 0 and n else 0.0)
        lines.append(f"step {n + 1:4d}/{steps} | train loss 3.0 | norm 1.0 | lr 6.00e-04 | ({ms:.2f} ms | 160000 tok/s)")
    return lines


def test_an_eval_paid_by_the_next_steps_line_is_measured_there() -> None:
    """train_gpt2.py prints `step N/M` for loop N-1 and evaluates at the top of loop N: the step after
    the logged eval pays for it (and its interval, 50, is not train_gpt2.cu's default 20)."""
    s = session(_py_llmc(50, 300, 880.0))
    assert s.state.current.config.get("eval_step_offset") == 1
    snap = s.snapshot()
    assert snap.eval_time_s == pytest.approx(0.88, rel=0.02) and snap.step_time_s == pytest.approx(0.4, rel=0.02)


def test_an_llmc_c_eval_belongs_to_the_next_step() -> None:
    """train_gpt2.c counts its lines from 0: the `val loss` after line 39 is step 40's, before it."""
    p = llmc.Parser()
    p.parse("step 39: train loss 3.970751 (took 1323.779000 ms)")
    assert p.parse("val loss 4.107781") == Eval(40, 4.107781)
    cu = llmc.Parser()
    first = cu.parse("step    1/74 | loss 11.0 (+nanz)| norm 15.1 (+nanz)| lr 8.57e-07 | 4688.25 ms | 28.8% bf16 MFU | 1 tok/s")
    assert isinstance(first, tuple) and ConfigValue("eval_step_offset", 1) in first
    assert ConfigValue("eval_in_step_time", True) not in first  # the .cu's timer starts after its eval


def test_wordplays_eval_is_paid_by_the_line_after_it() -> None:
    p = nanogpt.Parser()
    first = p.parse("step=10 loss=3.15 dt=0.28 mfu=4.0 train_loss=4.3 val_loss=4.3")
    assert isinstance(first, tuple) and ConfigValue("eval_step_offset", 1) in first


def test_llmc_cudnn_error_before_the_first_step() -> None:
    lines = ["HellaSwag eval not found at dev/data/hellaswag/hellaswag_val.bin, skipping its evaluation",
             "num_parameters: 124475904 => bytes: 248951808", "allocated 237 MiB for model parameters",
             "batch_size B=1 * seq_len T=1024 * num_processes=1 and total_batch_size=32768",
             "=> setting grad_accum_steps=32", "allocating 359 MiB for activations",
             "[CUDNN ERROR] at file cudnn_att.cpp:141:", "[cudnn_frontend] Error: No execution plans built successfully."]
    snap = session(lines).snapshot()
    assert (snap.format, snap.status, snap.tokens_per_iter) == ("llmc", "crashed", 32768)
    assert snap.error == "[CUDNN ERROR] [cudnn_frontend] Error: No execution plans built successfully."


def test_parameter_golfs_settings_dump_between_rules() -> None:
    rule = "=" * 100
    lines = [rule, "Hyperparameters:", "  iterations: 20000", "  train_batch_tokens: 786432", rule, "Source code:", rule,
             "import os", "    iterations = int(os.environ.get('ITERATIONS', 20000))", rule,
             "Running Python 3.12.3", "Running PyTorch 2.9.1+cu128", rule, "train_shards: 1499", "val_tokens: 47851520",
             "model_params:35945671", "warmup_cu_buckets:64,128,192,256 iters_each:3"]
    snap = session(lines).snapshot()
    assert (snap.format, snap.status, snap.max_iters, snap.max_iters_source, snap.tokens_per_iter) == (
        "modded", "starting", 20000, "log", 786432)


def test_container_runtime_partial_records_are_one_line() -> None:
    lines = ["2026-01-02T10:00:01.100Z stdout P iter 0: loss 4.2", "2026-01-02T10:00:01.200Z stdout F 345, time 9000.00ms, mfu -100.00%",
             "2026-01-02T10:00:02.100Z stdout P iter 1: loss 3.9", "2026-01-02T10:00:02.150Z stderr F a warning between",
             "2026-01-02T10:00:02.200Z stdout F 123, time 1000.00ms, mfu 10.00%"]
    snap = session(lines).snapshot()
    assert (snap.format, snap.iter, snap.loss, snap.step_time_s) == ("nanogpt", 1, pytest.approx(3.9123), pytest.approx(1.0))


def test_richs_caller_path_is_cut() -> None:
    got = strip("[01/02/24 10:00:00] INFO     iter 5: loss 2.345, time 12.50ms, mfu 3.10%               train.py:123")
    assert got is not None and got.text == "iter 5: loss 2.345, time 12.50ms, mfu 3.10%"
    plain = strip("[01/02/24 10:00:00] iter 5: loss 2.345  note.py:1")  # no rich level: the line's own text
    assert plain is not None and plain.text.endswith("note.py:1")


def test_llmc_logger_total_from_its_last_validation() -> None:
    lines = ["s:0 tel:11.0", *[f"s:{i} trl:3.0" for i in range(10)], "s:10 tel:3.2",
             *[f"s:{i} trl:3.0" for i in range(10, 20)], "s:20 tel:3.1", *[f"s:{i} trl:3.0" for i in range(20, 25)]]
    mid = session(lines).snapshot()
    assert (mid.iter, mid.max_iters) == (24, None)
    done = session([*lines, "s:25 tel:3.05"]).snapshot()  # the loop's last pass, off the grid of 10
    assert (done.iter, done.max_iters, done.max_iters_source, done.status) == (24, 25, "log", "finished")


def test_build_nanogpt_total_from_its_off_grid_last_validation() -> None:
    lines = []
    for step in range(760):
        if step % 250 == 0 or step == 759:
            lines.append(f"{step} val 3.5")
        lines.append(f"{step} train 3.4")
    snap = session(lines).snapshot()
    assert (snap.iter, snap.max_iters, snap.max_iters_source, snap.status) == (759, 760, "log", "finished")
    assert session(lines[:-2]).snapshot().max_iters is None  # before the last validation nothing says it


# --- eighth collection ----------------------------------------------------------------------------

def _nanochat_steps(losses: list[float]) -> list[str]:
    return [f"step {i:05d}/{len(losses):05d} ({100 * i / len(losses):.2f}%) | loss: {x:.6f} | lrm: 0.50 | "
            f"dt: 1637.55ms | tok/sec: 320,166 | mfu: 1.15 | epoch: 1 | total time: 0.00m"
            for i, x in enumerate(losses, start=1)]


def _llmc_steps(losses: list[float]) -> list[str]:
    return [f"step {i:4d}/{len(losses)} | loss {x:.6f} (+nanz)| norm 22.1414 (+nanz)| lr 8.57e-07 | 2469.31 ms "
            f"| 40.7% bf16 MFU | 212321 tok/s" for i, x in enumerate(losses, start=1)]


def _nanogpt_steps(losses: list[float]) -> list[str]:
    return [f"iter {i}: loss {x:.4f}, time 31.00ms, mfu 12.00%" for i, x in enumerate(losses)]


_ENDS = {  # each family's end-of-run lines, and a builder of its step lines
    "nanochat": (["Peak memory usage: 7119.54 MiB", "Total training time: 0.00m", "Minimum validation bpb: 1.3456"],
                 _nanochat_steps),
    "llmc": (["total average iteration time: 2469.840000 ms"], _llmc_steps),
    "nanogpt": (["training done", "Best validation loss: 1.4731", "Total train time: 10.63 mins"], _nanogpt_steps),
    "nanogpt, time's report": (["python train.py  0.01s user 0.00s system 90% cpu 0.012 total"], _nanogpt_steps),
}


@pytest.mark.parametrize("rows", [3, 40])  # line by line, and in bulk (a block of more than BULK_MIN_ROWS rows)
@pytest.mark.parametrize("family", list(_ENDS))
def test_the_last_step_said_again_after_the_runs_end_is_the_next_run(family: str, rows: int) -> None:
    """Runs of the same length one after another (a staged script, a sweep): each ends on the same
    step and prints its end; the next run's last step has the same number but says another loss."""
    end, steps = _ENDS[family]
    first, second = steps([4.0 + i / 100 for i in range(rows)]), steps([3.0 + i / 100 for i in range(rows)])
    lines = [*first, *end, "## stage 2:", *second[-1:], *end]  # the fork prints only its last step
    for s in (session(lines), _block_session(lines)):
        assert len(s.state.runs) == 2 and s.snapshot().loss == pytest.approx(3.0 + (rows - 1) / 100)
    whole = [*first, *end, *second, *end]  # the whole second run: its first step goes back
    assert len(session(whole).state.runs) == len(_block_session(whole).state.runs) == 2


def _block_session(lines: list[str]) -> Session:
    """A session that read `lines` as one block (the bulk reader)."""
    s = Session(Options(), FakeClock())
    s.feed_block("\n".join(lines).encode() + b"\n")
    return s


@pytest.mark.parametrize("family", list(_ENDS))
def test_the_last_step_copied_after_the_runs_end_is_no_new_run(family: str) -> None:
    end, steps = _ENDS[family]
    first = steps([4.0 + i / 100 for i in range(40)])
    for s in (session([*first, *end, first[-1]]), _block_session([*first, *end, first[-1]])):
        assert len(s.state.runs) == 1 and s.snapshot().status == "finished"


def test_steps_past_a_guessed_end_go_on_in_the_same_run() -> None:
    """llm.c's logger file: an eval off the grid is taken for the loop's last pass; steps after it
    (a log with lines cut out) go on in the run, as before."""
    lines = ["s:0 tel:11.0", *[f"s:{i} trl:3.0" for i in range(10)], "s:10 tel:3.2", *[f"s:{i} trl:3.0" for i in range(10, 15)],
             "s:15 tel:3.1", *[f"s:{i} trl:2.9" for i in range(15, 30)]]
    assert len(session(lines).state.runs) == len(_block_session(lines).state.runs) == 1


_TRAINED = ["Overriding config with config/train_mitos.py:", "max_iters = 40", "eval_interval = 250",
            *[f"iter {i}: loss {3 - i / 100:.4f}, time 6716.00ms, mfu 2.20%" for i in range(41)]]


@pytest.mark.parametrize("sampler", [
    ["Overriding: out_dir = out-mitos", "number of parameters: 10.68M", "Loading meta from data/mitos/meta.pkl...",
     "", "ROMEO:", "What say you?", "---------------"],
    ["number of parameters: 123.65M", "No meta.pkl found, assuming GPT-2 encodings...", "Once upon a time", "---------------"],
    ["Overriding: out_dir = out", "Overriding: start = Once upon a time", "Once upon a time there was", "---------------"],
])
def test_sample_py_after_a_training_run_is_no_run(sampler: list[str]) -> None:
    """nanoGPT's and llama2.c's sample.py print `Overriding:` lines and the model's size as train.py
    does, then their own lines: the text they print is no training run."""
    for s in (session([*_TRAINED, *sampler]), _block_session([*_TRAINED, *sampler])):
        snap = s.snapshot()
        assert (len(s.state.runs), snap.iter, snap.max_iters, snap.status) == (1, 40, 40, "finished")


@pytest.mark.parametrize("sampler", [
    ["Overriding: out_dir = out-mitos", "number of parameters: 10.68M", "Loading meta from data/mitos/meta.pkl...",
     "", "ROMEO:", "What say you?", "---------------"],
    ["number of parameters: 123.65M", "No meta.pkl found, assuming GPT-2 encodings...", "Once upon a time", "---------------"],
])
def test_sample_py_read_line_by_line_never_shows_as_a_new_run(sampler: list[str]) -> None:
    """--jsonl writes a record after each line: the newest run's index never goes up and back down."""
    s = session(_TRAINED)
    seen = []
    for line in sampler:
        s.feed(line, None)
        snap = s.snapshot()
        seen.append((snap.run_index, snap.run_count, snap.status))
    assert seen == [(0, 1, "finished")] * len(sampler)


def test_a_training_run_after_a_run_shows_once_it_says_more_than_sample_py_does() -> None:
    s = session(_TRAINED)
    seen = []
    for line in ["Overriding: max_iters = 80", "tokens per iteration will be: 1,024", "iter 0: loss 4.0, time 100.00ms, mfu 2.20%"]:
        s.feed(line, None)
        seen.append(s.snapshot().run_index)
    assert seen == [0, 1, 1] and s.snapshot().max_iters == 80


def test_a_log_of_sample_py_alone_and_samples_after_training_in_one_process_stay() -> None:
    alone = session(["Overriding: out_dir = out-mitos", "Loading meta from data/mitos/meta.pkl...", "ROMEO:", "---------------"])
    assert len(alone.state.runs) == 1 and alone.snapshot().iter is None
    same_process = [*_TRAINED, "training done", "Loading meta from ../../data/shakespeare_char/meta.pkl...", "Sample 1:"]
    assert len(session(same_process).state.runs) == 1


@pytest.mark.parametrize(("stop", "status"), [
    (["^CTraceback (most recent call last):", '  File "train.py", line 286, in <module>', "KeyboardInterrupt"], "interrupted"),
    (["Traceback (most recent call last):", '  File "train.py", line 286, in <module>',
      "torch.OutOfMemoryError: CUDA out of memory."], "crashed"),
])
@pytest.mark.parametrize("report", ["python train.py --dataset=shakespeare  142911.57s user 40453.75s system 302% cpu 16:49:10.45 total",
                                    "     3588.66 real        90.18 user        32.03 sys", "real\t1m2.345s"])
def test_a_process_that_exited_on_an_error_did_not_reach_its_total(stop: list[str], status: str, report: str) -> None:
    """`time`'s report says the process exited; after Ctrl+C or an error its last step is not its total."""
    snap = session(["iter 142861: loss 2.1801, time 427.60ms", "iter 142862: loss 2.1802, time 427.60ms", *stop, "", report]).snapshot()
    # zsh's report shows the command (train.py, no config file): its default total; the others show none
    assert (snap.status, snap.iter, snap.max_iters_source) == (status, 142862, "default" if "train.py" in report else None)
    done = session(["iter 142861: loss 2.1801, time 427.60ms", "iter 142862: loss 2.1802, time 427.60ms", report]).snapshot()
    assert (done.status, done.max_iters, done.max_iters_source) == ("finished", 142862, "log")


@pytest.mark.parametrize(("line", "text"), [
    ("`iter 6184: loss 3.2523, time 142.04ms`", "iter 6184: loss 3.2523, time 142.04ms"),
    ("  `step 00100/01000 (10.00%) | loss: 3.200000 | dt: 100.00ms`", "  step 00100/01000 (10.00%) | loss: 3.200000 | dt: 100.00ms"),
    ("`0 | loss 6.3094 | lr 0.000000e+00 | 37173.89ms | mfu -100.00%` ", "0 | loss 6.3094 | lr 0.000000e+00 | 37173.89ms | mfu -100.00% "),
    ("`step:10/100 val_loss:3.28 train_time:1000ms step_avg:100.00ms`", "step:10/100 val_loss:3.28 train_time:1000ms step_avg:100.00ms"),
])
def test_a_line_in_markdown_inline_code_is_read_without_its_marks(line: str, text: str) -> None:
    got = strip(line)
    assert got is not None and got.text == text


@pytest.mark.parametrize("line", ["```", "```bash", "    ```text"])
def test_a_markdown_fence_is_left_as_it_is(line: str) -> None:
    assert strip(line) is None


@pytest.mark.parametrize(("line", "loss", "clock_s"), [
    ("step:1000/100000 loss:3.6041 t:38617ms step_avg:38.6ms", 3.6041, 38.617),
    ("step:7/100 fitness:-3.2209 t:248773ms step_avg:35539.0ms", None, 248.773),  # an evolution strategy: no loss
    ("step:120/1390 train_loss:4.2 train_time:5000ms step_avg:41.67ms", 4.2, 5.0),
])
def test_a_modded_forks_own_names_for_the_train_loss_and_clock(line: str, loss: float | None, clock_s: float) -> None:
    """parameter-golf's XNOR-Net record prints `loss:` and `t:` where the records print `train_loss:` and
    `train_time:`; lines a fork names so were not read at all (the run stood at its last validation)."""
    event = modded.Parser().parse(line)
    assert isinstance(event, Iteration) and event.loss == loss and event.train_time_s == pytest.approx(clock_s)
    lines = ["step:0/100 val_loss:2.8153 val_bpb:1.5689 train_time:0ms",
             *(f"step:{i}/100 fitness:-3.{i:04d} t:{35000 * i}ms step_avg:35000.0ms" for i in range(1, 11)),
             "step:10/100 val_loss:3.2174 val_bpb:1.7930 train_time:350008ms",
             *(f"step:{i}/100 fitness:-3.{i:04d} t:{35000 * i + 8}ms step_avg:35000.0ms" for i in range(11, 17))]
    snap = session(lines).snapshot()
    assert (snap.iter, snap.max_iters, snap.status) == (16, 100, "training")
    assert snap.step_time_s == pytest.approx(35.0, rel=0.01)


@pytest.mark.parametrize(("stop", "last"), [
    ("stopping_early: wallclock_cap train_time:0ms step:3723/20000", 3723),  # past the last train line (every 100)
    ("stopping_early: wallclock_cap train_time:600038ms step:3700/20000", 3700),  # at it
])
def test_the_step_a_wallclock_stop_names_is_the_runs_last(stop: str, last: int) -> None:
    lines = [f"step:{i}/20000 train_loss:2.{i:04d} train_time:{161 * i}ms step_avg:161.00ms" for i in range(100, 3800, 100)]
    snap = session([*lines, stop, "peak memory allocated: 36440 MiB reserved: 36698 MiB"]).snapshot()
    assert (snap.iter, snap.max_iters, snap.status) == (last, 20000, "finished")
    assert len(session([*lines, stop]).state.runs) == 1


@pytest.mark.parametrize(("line", "text"), [
    ("[04:43:57] progress » step:100/500000 loss:5.0200 t:17144ms avg:171.4ms", "step:100/500000 loss:5.0200 t:17144ms avg:171.4ms"),
    ("[2026-04-08 04:43:57] train » iter 10: loss 3.1459, time 220.50ms", "iter 10: loss 3.1459, time 220.50ms"),
])
def test_a_wrappers_channel_tag_after_its_time_is_stripped(line: str, text: str) -> None:
    got = strip(line)
    assert got is not None and got.text == text


def test_an_orchestrators_fatal_line_ends_the_run_it_relays() -> None:
    lines = ["[04:43:16] Launching 10-minute run...",
             *(f"[04:{44 + i // 10:02d}:{i % 60:02d}] progress » step:{100 * i}/500000 loss:3.{i:04d} t:{17000 * i}ms avg:170.0ms"
               for i in range(1, 22)),
             "[05:55:40] FATAL: Full run did not complete in time", "[05:55:40] Terminating pod 4z28se4bzrqbl0..."]
    snap = session(lines).snapshot()
    assert (snap.format, snap.iter, snap.status, snap.error) == ("modded", 2100, "crashed", "FATAL: Full run did not complete in time")


_CAPPED = [f"step:{i}/20000 train_loss:2.{i:04d} train_time:{600 * i}ms step_avg:600.00ms" for i in range(50, 1001, 50)]


@pytest.mark.parametrize(("failure", "error"), [
    (["Traceback (most recent call last):", '  File "/workspace/parameter-golf/train_gpt.py", line 1108, in forward',
      "RuntimeError: mat1 and mat2 must have the same dtype, but got BFloat16 and Float"],
     "RuntimeError: mat1 and mat2 must have the same dtype, but got BFloat16 and Float"),
    (["E0328 16:18:25.032000 56920 torch/distributed/elastic/multiprocessing/api.py:882] failed (exitcode: -9) local_rank: 0",
      "Traceback (most recent call last):", '  File "/usr/local/bin/torchrun", line 7, in <module>',
      "torch.distributed.elastic.multiprocessing.errors.ChildFailedError: ", "Root Cause (first observed failure):", "[0]:",
      "  exitcode  : -9 (pid: 56988)", "  traceback : Signal 9 (SIGKILL) received by PID 56988"],
     "Signal 9 (SIGKILL) received by PID 56988"),
])
def test_an_error_after_a_wallclock_stop_is_the_same_processes(failure: list[str], error: str) -> None:
    """parameter-golf's scripts serialize and evaluate after their wallclock stop: an error then is the
    run's own (it was a new, stepless run that hid the training)."""
    lines = [*_CAPPED, "step:1003/20000 val_loss:2.3556 val_bpb:1.3951 train_time:600478ms step_avg:598.68ms",
             "stopping_early: wallclock_cap train_time:600478ms step:1003/20000", "peak memory allocated: 14804 MiB reserved: 16146 MiB",
             "Serialized model int4+zlib: 15949180 bytes", *failure]
    snap = session(lines).snapshot()
    assert (len(session(lines).state.runs), snap.iter, snap.status, snap.error) == (1, 1003, "crashed", error)


def test_an_error_after_a_summary_that_ends_the_process_is_the_next_ones() -> None:
    lines = ["step 00999/01000 (99.90%) | loss: 2.899871 | lrm: 0.05 | dt: 480.33ms | tok/sec: 1,091,500 | mfu: 47.08 | total time: 8.03m",
             "Total training time: 8.03m", "Traceback (most recent call last):", '  File "scripts/mid_train.py", line 80, in <module>',
             "OSError: [Errno 28] No space left on device"]
    s = session(lines)
    assert len(s.state.runs) == 2 and s.state.runs[0].crash is None


def test_torchruns_wrapper_gives_way_to_the_signal_its_table_names() -> None:
    lines = ["iter 10: loss 3.1459, time 220.50ms, mfu 1.69%", "Traceback (most recent call last):",
             '  File "/usr/local/bin/torchrun", line 7, in <module>', "torch.distributed.elastic.multiprocessing.errors.ChildFailedError: ",
             "============================================================", "train.py FAILED", "Root Cause (first observed failure):",
             "[0]:", "  exitcode  : -9 (pid: 56988)", "  traceback : Signal 9 (SIGKILL) received by PID 56988"]
    assert session(lines).snapshot().error == "Signal 9 (SIGKILL) received by PID 56988"


def test_a_nanogpt_fork_timing_its_steps_in_seconds_with_evals_without_their_step() -> None:
    """Intel's GPT-2 module (nanoGPT on CPUs, Hydra's logger): `time 41.66s`, `eval: train loss …`
    before the step it pays for, and its own end line; none was read (the run stood at 'starting')."""
    def logged(text: str) -> str:
        return f"[2023-08-03 17:34:06,645][trainer][INFO] - [RANK 0] {text}"
    lines = [logged("eval: train loss 3.0947, val loss 3.0770"),
             *(logged(f"iter {i}: loss 3.{i}, time {111.79 if i == 0 else 40.5:.2f}s") for i in range(5)),
             logged("eval: train loss 3.6313, val loss 3.4743"),
             *(logged(f"iter {i}: loss 3.{i}, time {109.39 if i == 5 else 40.5:.2f}s") for i in range(5, 8)),
             logged("Total Samples used for training: 352"), "Training completed! Total time taken: 00:11:52"]
    s = session(lines)
    snap = s.snapshot()
    assert (snap.format, snap.status, snap.iter, snap.val_loss) == ("nanogpt", "finished", 7, pytest.approx(3.4743))
    assert snap.step_time_s == pytest.approx(40.5, rel=0.01)
    assert [e.iter for e in s.state.current.evals] == [0, 5]


@pytest.mark.parametrize("interval", [1, 10])
def test_a_nanogpt_eval_without_its_step_is_the_next_logged_steps(interval: int) -> None:
    parser = nanogpt.Parser()
    assert parser.parse("eval: train loss 3.1, val loss 3.2") == Eval(iter=0, train_loss=3.1, val_loss=3.2)
    for i in range(0, 3 * interval, interval):
        parser.parse(f"iter {i}: loss 3.0, time 5.00ms")
    event = parser.parse("eval: train loss 3.1, val loss 3.2")
    assert isinstance(event, Eval) and event.iter == 3 * interval


@pytest.mark.parametrize(("train", "val", "loss"), [
    # a fork's mean train loss and wall clock in whole seconds (no training clock on the train line)
    ("step:{i}/400 avg_train_loss:4.{i} time:{w}s step_avg:91ms", "step:{i}/400 val_loss:4.{i} train_time:{c:.2f}s step_avg:91ms",
     4.0),
    # another's comma after the step and its token count
    ("step:{i}/400, tokens seen:{i}.25M, avg_train_loss:4.{i} time:{w}/4s step_avg:129ms",
     "step:{i}/400, tokens seen: {i}.31M, val_loss:4.{i} train_time:{c:.2f}s step_avg:129ms", 4.0),
])
def test_a_modded_forks_train_line_without_a_clock_is_timed_by_its_val_line(train: str, val: str, loss: float) -> None:
    lines = ["step:0/400 val_loss:10.9 train_time:0.00s step_avg:nanms"]
    for i in range(100, 500, 100):
        lines += [train.format(i=i, w=13 * i // 100 + 60), val.format(i=i, c=0.09 * i)]
    lines.append("Total training time: 89.74s")
    snap = session(lines).snapshot()
    assert (snap.format, snap.status, snap.iter, snap.max_iters) == ("modded", "finished", 400, 400)
    assert snap.loss == pytest.approx(4.4) and snap.val_loss == pytest.approx(4.4)
    assert snap.step_time_s == pytest.approx(0.09, rel=0.01)
    # a train line without a clock and no val line after it counts from the next line on
    snap = session([*lines[:2], "Head curvature value: 100.00"]).snapshot()
    assert (snap.iter, snap.loss, snap.step_time_s) == (100, pytest.approx(4.1), None)


@pytest.mark.parametrize("between", [["eval took 1.23s"], ["peak memory allocated: 100 MiB", ""], []])
def test_a_line_between_a_modded_forks_train_and_val_lines_keeps_both(between: list[str]) -> None:
    """An eval's timing or memory line printed between a step's train line (no clock) and its val
    line: the step keeps its loss, its val loss, and the time its val line's clock gives it."""
    lines = ["step:0/400 val_loss:10.9 train_time:0.00s step_avg:nanms"]
    for i in range(100, 500, 100):
        lines += [f"step:{i}/400 avg_train_loss:4.{i} time:60s step_avg:91ms", *between,
                  f"step:{i}/400 val_loss:4.{i} train_time:{0.09 * i:.2f}s step_avg:91ms"]
    run = session(lines).state.current
    assert run.iters.values.tolist() == [100, 200, 300, 400]
    assert [e.iter for e in run.evals] == [0, 100, 200, 300, 400]
    assert run.step_time_s.values[1:].tolist() == pytest.approx([9.0 / 100] * 3)
    assert run.loss.values.tolist() == pytest.approx([4.1, 4.2, 4.3, 4.4])


@pytest.mark.parametrize("tag", ["[2023-08-03 21:12:28,548][trainer][INFO] - [RANK {r}] ", "[Rank {r}] ", "[rank{r}]: ", "[default{r}]:", "[1,{r}]<stdout>:"])
def test_another_ranks_end_line_does_not_end_the_followed_ranks_run(tag: str) -> None:
    """mpirun over 3 nodes (Intel's module): ranks 1 and 2 print their end while rank 0, whose steps
    are followed, is at iter 7; the run ends with rank 0's own end line (tagged, or printed right after
    its tagged line)."""
    def ranked(r: int, text: str) -> str:
        return f"{tag.format(r=r)}{text}"
    steps = [ranked(0, f"iter {i}: loss 3.{i}, time 24.70s") for i in range(8)]
    ends = [ranked(2, "Total Samples used for training: 352"), "Training completed! Total time taken: 00:04:55",
            ranked(1, "Training completed! Total time taken: 00:05:00")]
    s = session([*steps, *ends])
    assert (s.state.current.ended, s.snapshot().iter, s.state.step_rank) == (False, 7, 0)
    for i in range(8, 12):
        s.feed(ranked(0, f"iter {i}: loss 3.{i}, time 24.70s"))
    assert not s.state.current.ended and len(s.state.runs) == 1  # no run ended, none started
    s.feed(ranked(0, "Total Samples used for training: 352"))
    s.feed("Training completed! Total time taken: 00:07:18")
    assert (s.snapshot().status, s.snapshot().iter) == ("finished", 11)


def test_an_end_line_ends_the_run_where_the_steps_carry_no_rank() -> None:
    # untagged step lines: an untagged end after another rank's tagged line is the run's own end
    lines = [*(f"iter {i}: loss 3.{i}, time 24.70s" for i in range(3)), "[rank1]: a warning",
             "Training completed! Total time taken: 00:07:18"]
    assert session(lines, fmt="nanogpt").snapshot().status == "finished"


@pytest.mark.parametrize(("start", "first"), [("Initializing from OpenAI GPT-2 weights: gpt2", 0),
                                              ("Resuming training from out", 2000)])
def test_a_nanogpt_eval_without_its_step_after_a_second_run_starts_is_the_new_runs_first(start: str,
                                                                                          first: int) -> None:
    """A second run appended to the same file: its eval before its first step belongs to that step
    (0 for a new run, the resume step, printed by the first `iter` line, for a resumed one), not to
    the step after the first run's last."""
    def run(at: int) -> list[str]:
        return ["eval: train loss 3.1, val loss 3.2", *(f"iter {i}: loss 3.0, time 24.70s" for i in range(at, at + 3))]
    lines = [start.replace("out", "x") if first else start, *run(0), "Training completed! Total time taken: 00:01:14",
             start, *run(first)]
    s = session(lines)
    assert [[e.iter for e in r.evals] for r in s.state.runs] == [[0], [first]]
    assert (s.snapshot().iter, s.snapshot().val_loss) == (first + 2, pytest.approx(3.2))


def test_a_held_modded_train_line_shows_after_a_quiet_time_and_is_still_timed_by_its_val_line() -> None:
    """A modded fork's train line without a clock waits for its val line; a log quiet after it shows
    the step (without its time) at the latest HELD_SETTLE_S later, and a val line that comes after
    all still times it."""
    from monitor.session import HELD_SETTLE_S
    clock = FakeClock(T0)
    lines = ["step:0/400 val_loss:10.9 train_time:0.00s step_avg:nanms",
             "step:100/400 avg_train_loss:4.1 time:73s step_avg:91ms", "step:100/400 val_loss:4.2 train_time:9.00s step_avg:91ms",
             "step:200/400 avg_train_loss:4.0 time:86s step_avg:91ms"]
    s = session(lines, clock, t=T0)
    assert s.snapshot(T0).iter == 100  # just read: its val line may come yet
    assert (s.snapshot(T0 + HELD_SETTLE_S).iter, s.snapshot(T0 + HELD_SETTLE_S).loss) == (200, pytest.approx(4.0))
    s.ingest([LinesRead([(T0 + 2 * HELD_SETTLE_S, b"step:200/400 val_loss:4.1 train_time:18.00s step_avg:90ms")])])
    snap = s.snapshot(T0 + 2 * HELD_SETTLE_S)
    assert (snap.iter, snap.loss, snap.val_loss, snap.step_time_s) == (200, pytest.approx(4.0), pytest.approx(4.1),
                                                                         pytest.approx(0.09))
    assert s.state.current.iters.values.tolist() == [100, 200]


@pytest.mark.parametrize("mode", [["--once", "--json"], ["--jsonl"]])
def test_a_modded_log_ending_on_a_train_line_without_a_clock_shows_its_last_step(mode: list[str], tmp_path,
                                                                                 capsys) -> None:
    import json

    from monitor.cli import main
    log = tmp_path / "run.log"
    log.write_text("step:0/400 val_loss:10.9 train_time:0.00s step_avg:nanms\n"
                   "step:100/400 avg_train_loss:4.1 time:73s step_avg:91ms\n"
                   "step:100/400 val_loss:4.2 train_time:9.00s step_avg:91ms\n"
                   "step:200/400 avg_train_loss:4.0 time:86s step_avg:91ms\n")
    main(["replay", str(log), "--speed", "0", "--no-gpu", *mode])
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert (records[-1]["iter"], records[-1]["loss"]) == (200, pytest.approx(4.0))


# --- F: a step shown only in a tqdm bar (a nanoGPT fork, redrawn with `\r`) ----------------------

def _bar(done: int, total: int, rate: str, loss: float) -> str:
    share = 100 * done // total
    return f"Training:  {share:2d}%|█▍        | {done}/{total} [20:48:41<125:50:55, {rate}, loss={loss:.4f}, lr=1.00e-07, mfu=68.0%]"


def test_a_nanogpt_forks_tqdm_bar_with_the_loss_is_its_step_line() -> None:
    """A fork (LOZO) prints no `iter` line: its steps are a bar redrawn twice a step (the postfix set
    for the step, then the count moved on); the count is the step, the loss the one shown as the
    count first reaches it, the rate tqdm's. The run stood at 'starting' for 14036 steps."""
    lines = ["tokens per iteration will be: 1,310,720", "Training:   0%|          | 0/20 [00:00<?, ?it/s]"]
    for i in range(20):
        loss = 11.0 - i / 10
        lines += [_bar(i, 20, "5.27s/it", loss), _bar(i + 1, 20, "5.27s/it", loss)]
    snap = session(lines[:-10]).snapshot()
    assert (snap.format, snap.status, snap.iter, snap.max_iters) == ("nanogpt", "training", 15, 20)
    assert snap.loss == pytest.approx(11.0 - 1.4) and snap.step_time_s == pytest.approx(5.27, rel=0.01)
    assert session(lines).snapshot().status == "finished"  # the bar at its total: nanoGPT's loop ends at max_iters
    parser = nanogpt.Parser()
    assert parser.parse(_bar(3, 20, "1.30it/s", 2.5)) == Iteration(iter=3, loss=2.5, step_time_s=pytest.approx(1 / 1.3),
                                                                   max_iters=20)
    assert parser.parse(_bar(3, 20, "1.30it/s", 2.4)) is None  # the next step's loss, before its count
    # bars without a loss in their postfix are a loader's or an eval's, not steps
    assert parser.parse("Map: 100%|██████████| 500/500 [00:01<00:00, 312.44 examples/s]") is None
    assert parser.parse("Validation: 100%|██████████| 1/1 [00:08<00:00,  8.78s/it]") is None


# --- F, E: a nanochat port's step lines without the share, and base_train's last evaluation ------

@pytest.mark.parametrize(("line", "step", "total", "dt_s"), [
    ("step 00050/300 | loss: 7.6973 | dt: 38ms | tok/s: 217,651", 50, 300, 0.038),  # JAX port on a TPU
    ("step 01000/100000 (1.0%) | loss: 6.1779 | lr_mult: 0.501 | dt: 118ms | tok/s: 138,962 | eta: 195.6m", 1000, 100000, 0.118),
])
def test_a_nanochat_ports_step_line_with_its_total_and_no_share_is_a_step(line: str, step: int, total: int,
                                                                          dt_s: float) -> None:
    assert nanochat.sniff(line) == 3
    event = nanochat.Parser().parse(line)
    events = event if isinstance(event, tuple) else (event,)
    it = next(e for e in events if isinstance(e, Iteration))
    assert (it.iter, it.max_iters, it.step_time_s) == (step, total, pytest.approx(dt_s))


def test_a_step_line_without_total_or_share_is_not_nanochats() -> None:
    # build-nanogpt's `step    50 | loss: …` (llm.c's family) and a trainer's `step 0 | elapsed 0.14m | loss: …`
    for line in ("step    50 | loss: 7.603826 | lr 6.0000e-04 | norm: 0.2771 | dt: 421.55ms | tok/sec: 1243708.51",
                 "step 00050 | loss: 7.6973 | dt: 38ms"):
        assert nanochat.sniff(line) == 0 and nanochat.Parser().parse(line) is None


def _base_lines(total: int) -> list[str]:
    return [f"step {i:05d}/{total:05d} ({100 * i / total:.2f}%) | loss: {3 + 1 / (i + 1):.6f} | lrm: 1.00 | dt: 480.12ms"
            f" | tok/sec: 1,092,233 | mfu: 49.50 | total time: {i * 0.008:.2f}m" for i in range(total)]


def test_base_trains_evaluation_at_its_total_ends_the_run() -> None:
    """base_train evaluates at step == num_iterations and stops (a port logging every 1000 steps
    prints its last step line long before): the run is finished at that eval, before the summary;
    an error while it samples or saves after it is still this run's."""
    lines = ["Step 00000 | Validation bpb: 3.2", *_base_lines(20)[::5], "Step 00020 | Val loss: 6.6444 (best: 6.6444)"]
    s = session(lines)
    assert (s.snapshot().status, s.snapshot().iter, s.snapshot().val_loss) == ("finished", 15, pytest.approx(6.6444))
    s.feed("Traceback (most recent call last):")
    s.feed("OSError: [Errno 28] No space left on device")
    assert (s.snapshot().status, len(s.state.runs)) == ("crashed", 1)
    # an eval before the total does not end it; a second run after it is a new run
    assert session(lines[:-1] + ["Step 00017 | Val loss: 7.0"]).snapshot().status == "training"
    two = session([*lines, "Step 00000 | Val loss: 10.3978", *_base_lines(20)[:3]])
    assert (len(two.state.runs), two.snapshot().status, two.snapshot().iter) == (2, "training", 2)


def test_base_trains_evaluation_at_its_total_ends_the_run_read_in_bulk(tmp_path, capsys) -> None:
    """The same through the bulk reader (step lines folded in without parse()): two runs logged every
    10 steps, each ended by its evaluation at its total (the second's lines all read in bulk)."""
    import json

    from monitor.cli import main

    def run(total: int) -> list[str]:
        return ["Step 00000 | Validation bpb: 3.2", *_base_lines(total)[::10], f"Step {total:05d} | Validation bpb: 0.81"]
    log = tmp_path / "base.log"
    log.write_text("\n".join([*run(2000), *run(3000)]) + "\n")
    main([str(log), "--once", "--json", "--no-gpu"])
    record = json.loads(capsys.readouterr().out)
    assert (record["status"], record["iter"], record["max_iters"], record["run_index"]) == ("finished", 2990, 3000, 1)


# --- B, detection: a family's start-up lines are found when a log is skimmed ---------------------

def test_every_start_up_line_a_family_sniffs_holds_a_skim_signal() -> None:
    """Skimming a log no family has recognised reads only the lines holding a signal: a start-up line
    a family sniffs without one leaves a log that dies before its first step unrecognised (--once,
    replay), though following it line by line recognises it."""
    from monitor.core.formats import skim
    sniffed = (*nanochat._OWN_LINES, *nanogpt._OWN_LINES, *nanogpt._SHARED_LINES, *llmc._OWN_LINES, *llmc._SHARED_LINES,
               *modded._SHARED_START)
    unmarked = [line for line in sniffed if not any(s in line.lower().encode() for s in skim.SIGNALS)]
    assert unmarked == []


@pytest.mark.parametrize("own", ["Estimated FLOPs per token: 1.191462e+08", "Tokens / micro-batch / rank: 8 x 2048 = 16,384",
                                 "Muon: Grouping 80 params of shape torch.Size([1280, 1280]), device cuda:0",
                                 "Scaling the LR for the AdamW parameters ∝1/√(1280/768) = 0.774597"])
def test_a_nanochat_descendant_dying_before_its_first_step_is_recognised_when_read_whole(own: str, tmp_path,
                                                                                         capsys) -> None:
    """An autoresearch trial (nanochat's loop) on a 6 GB GPU: its model printout, one of nanochat's own
    start-up lines, compiler warnings, then an OOM before any step; it read as no family's log."""
    import json

    from monitor.cli import main
    lines = ["Vocab size: 8,192", "Parameter counts:", *(f"  layer_{i}                 : 3,145,728" for i in range(40)), own,
             "Time budget: 300s", *(["  warnings.warn("] * 40), "Traceback (most recent call last):",
             '  File "train.py", line 500, in <module>',
             "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 512.00 MiB."]
    log = tmp_path / "trial.log"
    log.write_text("\n".join(lines) + "\n")
    main([str(log), "--once", "--json", "--no-gpu"])
    record = json.loads(capsys.readouterr().out)
    assert (record["format"], record["status"]) == ("nanochat", "crashed")


# --- eleventh collection --------------------------------------------------------------------------

def _chat_rows(steps: range, minutes_per_step: float = 0.0418) -> list[str]:
    return [f"step {i:05d}/00500 ({i / 5:.2f}%) | loss: {10 - i / 100:.6f} | lrm: 0.50 | dt: 2500.00ms | tok/sec: 104,857 "
            f"| bf16_mfu: 0.00 | epoch: 1 pq: 0 rg: 1 | total time: {i * minutes_per_step:.2f}m" for i in steps]


def test_a_line_of_the_runs_cut_part_pasted_under_its_end_is_no_new_run() -> None:
    """A poster cut the middle of a base_train log (`...`) and pasted one of its lines (step 100) under
    the end: no start-up line before it, and its training clock lies between the clocks of the steps
    around it. It is a copy, not a new run; a line whose clock does not fit starts one."""
    rows = _chat_rows(range(500))
    head = ["Autodetected device type: cuda", "Step 00000 | Validation bpb: 3.169725", *rows[:15], "...", *rows[498:],
            "Step 00500 | Validation bpb: 1.147239", "Downloading https://example.com/eval_bundle.zip...", ""]
    s = session([*head, rows[100]])
    assert (len(s.state.runs), s.snapshot().status, s.snapshot().iter) == (1, "finished", 499)
    for other in (rows[0].replace("loss: 10.000000", "loss: 10.397340"),  # a new process from its start
                  rows[100].replace("total time: 4.18m", "total time: 31.00m"),  # a clock after the run's end
                  rows[300].replace("total time: 12.54m", "total time: 0.50m")):  # a clock that restarted
        s = session([*head, other])
        assert (len(s.state.runs), s.snapshot().status) == (2, "training"), other


def test_a_line_of_the_runs_cut_part_pasted_under_its_end_is_no_new_run_in_bulk() -> None:
    """The same through the bulk reader (a block of step lines folded in at once)."""
    rows = _chat_rows(range(500))
    lines = ["Autodetected device type: cuda", *rows[:40], "...", *rows[460:], "Step 00500 | Validation bpb: 1.147239",
             rows[100], rows[101]]
    s = _block_session(lines)
    assert (len(s.state.runs), s.snapshot().iter, s.state.lines) == (1, 499, len(lines))
    assert len(session(lines).state.runs) == 1


@pytest.mark.parametrize(("line", "step"), [
    ("local_iter 1 total_iter 11: loss 4.0948, time 1493386.86ms, mfu -100.00%", 11),  # a fork's two counters
    ("global_iter 7: loss 3.2, time 86.86ms, mfu 1.00%", 7),
    ("inner_iter 3, outer_iter 40: loss 3.2, time 86.86ms", 40),
    ("epoch 3 iter 11: loss 3.2, time 14.86ms", None),  # an iter counted within an epoch goes back: not a step line
])
def test_a_nanogpt_forks_named_iteration_counters_before_its_step(line: str, step: int | None) -> None:
    """A fork keeping several counters names them (`local_iter 1 total_iter 11:`): the number before
    the colon is the step, read like train.py's `iter 11:`."""
    event = nanogpt.Parser().parse(line)
    assert (event.iter if isinstance(event, Iteration) else None) == step
    assert (nanogpt.sniff(line) == 3) == (step is not None)


@pytest.mark.parametrize("line", ["300 | loss 4.0938 | lr 3.000000e-04 | 13707.39ms",
                                  "step    1/3 | loss 11.032358 (+nanz)| norm 22.1414 (+nanz)| lr 8.57e-07"])
def test_a_familys_own_pipes_are_no_compose_column(line: str) -> None:
    """A compose column may begin with a digit, but llama2.c's `300 | loss` and llm.c's `step 1/3 | loss` stay."""
    stripped = strip(line)
    assert stripped is None or stripped.text == line


# --- twelfth collection -----------------------------------------------------------------------------
# --- A: a log quoted as comments (in a script or a source file, as a list) ---------------------------

NANOCHAT_COMMENTED = ["Tokens / micro-batch / rank: 8 x 2048 = 16,384", "Tokens / micro-batch: 131,072",
                      "Total batch size 524,288 => gradient accumulation steps: 4",
                      ("step 00004/71680 (0.01%) | loss: 8.813754 | lrm: 1.00 | dt: 1571.88ms | tok/sec: 83,385 | "
                       "mfu: 50.92 | total time: 0.00m"),
                      ("step 00005/71680 (0.01%) | loss: 8.488074 | lrm: 1.00 | dt: 1572.76ms | tok/sec: 83,338 | "
                       "mfu: 50.89 | total time: 0.00m")]


@pytest.mark.parametrize("marker", ["# ", "#    - ", "// ", "  # ", "#\t", "# * "])
@pytest.mark.parametrize("family", ["nanochat", "llama2c"])
@pytest.mark.parametrize("bulk", [False, True])
def test_a_log_quoted_as_comments_is_read_through_its_markers(marker: str, family: str, bulk: bool) -> None:
    """run1000.sh quotes base_train's output as `# ` comments; a translation of it as a `#    - ` list:
    the comment marker (and a list bullet after it) is a margin once a second line carries it."""
    body = NANOCHAT_COMMENTED if family == "nanochat" else LLAMA2C
    lines = [marker + line for line in body] + [marker.rstrip() + " ..."]
    if bulk:
        s = _block_session(lines)
    else:
        s = session(lines)
    snap = s.snapshot()
    want = (5, 71680, 524288) if family == "nanochat" else (2429, None, None)
    assert (s.format, snap.iter, snap.max_iters if family == "nanochat" else None,
            snap.tokens_per_iter if family == "nanochat" else None) == (family, *want)


def test_a_comment_on_the_first_line_alone_makes_no_margin() -> None:
    """A heading (`# notes`) or one comment before the log: the lines after it are read as they are,
    a later commented line keeps its marker."""
    m = Margin()
    assert m.cut("# nanochat training report") == "nanochat training report"
    assert m.cut("step 00001/00010 (10.00%) | loss: 9.0") == "step 00001/00010 (10.00%) | loss: 9.0"
    assert m.cut("# a note") == "# a note"
    for first in ("#!/bin/bash", "#1 step", "//"):  # a shebang, a marker with no space after it: no margin
        m = Margin()
        assert m.cut(first) == first


# --- detection, F: nanochat's step line trimmed to its loss and LR multiplier ----------------------------

TRIMMED = ["Step 00000 | Validation bpb: 0.2982      <- healthy base model",
           "step 00001 | loss: 13.070236 | lrm: 1.00",
           "step 00150 | Validation bpb: 1.7252      <- destroyed inside 150 steps",
           "step 00401 | loss:  6.900375 | lrm: 1.00",
           "step 02381 | loss:  6.870882 | lrm: -0.00 <- flat at ~6.88 for 2200 steps",
           "Step 02381 | Validation bpb: 1.6045      <- 5h21m bought back nothing"]


@pytest.mark.parametrize("bulk", [False, True])
def test_a_nanochat_step_line_trimmed_to_its_lrm_is_nanochats(bulk: bool) -> None:
    """A writer kept `step N | loss: X | lrm: Y` of mid_train's lines: no total, no share, a loss aligned
    with two spaces. `| lrm:` is nanochat's own field, so the line is nanochat's, not build-nanogpt's."""
    if bulk:
        s = _block_session(TRIMMED)
    else:
        s = session(TRIMMED)
    snap = s.snapshot()
    assert (s.format, snap.iter, snap.loss) == ("nanochat", 2381, 6.870882)


@pytest.mark.parametrize("line", ["step     5 | loss: 9.842177 | lr 3.3566e-05 | norm: 8.7426 | dt: 331.73ms | tok/sec: 1580471.80",
                                  "step 50 | loss: 6.1 | dt: 330.00ms | tok/sec: 1580000.00"])
def test_build_nanogpts_step_line_stays_llmcs(line: str) -> None:
    assert (llmc.sniff(line) > 0, nanochat.sniff(line)) == (True, 0)
    assert (llmc.sniff(TRIMMED[1]), nanochat.sniff(TRIMMED[1]) > 0) == (0, True)


# --- thirteenth collection --------------------------------------------------------------------------
# --- G: llm.c's parameter table of April-May 2024 (no gradient accumulation, no total row) -----------

def _old_table(b: int, t: int, processes: int | None) -> list[str]:
    rows = ["+-----------------------+----------------------------------------------------+",
            "| Parameter             | Value                                              |",
            "+-----------------------+----------------------------------------------------+",
            "| input dataset prefix  | data/tiny_shakespeare                              |",
            f"| batch size B          | {b:<50} |",
            f"| sequence length T     | {t:<50} |",
            "| max_steps             | -1                                                 |",
            "+-----------------------+----------------------------------------------------+",
            "| max_sequence_length T | 1024                                               |",
            "| num_parameters        | 124475904                                          |",
            "+-----------------------+----------------------------------------------------+"]
    if processes is not None:
        rows += [f"| num_processes         | {processes:<50} |",
                 "+-----------------------+----------------------------------------------------+"]
    return rows + ["val loss 4.506145",
                   "step    1/74: train loss 4.364526 (acc 4.364526) (43.898880 ms, 93305.343750 tok/s)",
                   "step    2/74: train loss 4.501646 (acc 4.501646) (41.996288 ms, 97532.406250 tok/s)"]


@pytest.mark.parametrize(("b", "t", "processes", "tokens"), [(4, 1024, 1, 4096), (32, 1024, 1, 32768),
                                                             (16, 1024, 4, 65536), (4, 1024, None, None)])
@pytest.mark.parametrize("bulk", [False, True])
def test_llmcs_older_table_gives_b_times_t_times_processes(b: int, t: int, processes: int | None,
                                                          tokens: int | None, bulk: bool) -> None:
    """train_gpt2cu before gradient accumulation printed `batch size B`, `sequence length T` and, in its
    last section, `num_processes`, and no `total batch size`: a step is B*T*num_processes tokens. A table
    cut before its num_processes row (`[...]` in a paste) says nothing of it."""
    lines = _old_table(b, t, processes)
    s = _block_session(lines) if bulk else session(lines)
    snap = s.snapshot()
    assert (s.format, snap.iter, snap.tokens_per_iter) == ("llmc", 2, tokens)


def test_llmcs_table_with_a_total_row_keeps_its_total() -> None:
    """The table with gradient accumulation names its rows `micro batch size B` and `total batch size`:
    the total is the step's tokens, whatever B*T*num_processes is."""
    lines = _old_table(4, 1024, 1)
    lines[4] = "| micro batch size B    | 4                                                  |"
    lines.insert(6, "| total batch size      | 524288                                             |")
    assert session(lines).snapshot().tokens_per_iter == 524288


def test_llmcs_older_table_of_a_second_process_starts_again() -> None:
    """Two runs pasted one after the other: the second table's rows are its own (the first one's B and
    T do not carry into a second table cut before its num_processes row)."""
    first = _old_table(4, 1024, None)
    second = _old_table(16, 1024, 1)
    del second[4]  # the second table lost its `batch size B` row
    s = session(first + ["$ mpirun -np 4 ./train_gpt2amd -b 16"] + second)
    assert s.snapshot().tokens_per_iter is None
