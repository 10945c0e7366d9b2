"""A finished run's progress reads the same in every family and every view: done, never
`99.9% · 1 left`, whether its total was printed, read from the shares its steps print (nanochat's
mid_train: 770 at 99.83% makes 771) or is past the step a stage stops at (nanochat's SFT)."""

from __future__ import annotations

import pytest
from conftest import SAMPLES, FakeClock

from monitor.core.report import Options
from monitor.core.rows import run_row
from monitor.core.snapshot import Snapshot
from monitor.core.summary import summary
from monitor.session import Session
from monitor.tui.widgets.header import FinishLine, ProgressLine


def _snapshot(text: bytes, name: str = "run.log") -> Snapshot:
    session = Session(Options(source=name), FakeClock())
    session.feed_block(text)
    return session.snapshot()


def _progress_row(snap: Snapshot) -> str:
    return _row(snap, "progress")


def _row(snap: Snapshot, name: str) -> str:
    return next(line.split(name, 1)[1].strip() for line in summary(snap).splitlines()
                if line.strip().startswith(name))


def _mid_train() -> bytes:
    """chirag9127's speedrun up to the end of mid_train (its summary lines): the log's 2nd run."""
    lines = (SAMPLES / "nanochat/chirag9127_speedrun_d20.log").read_bytes().splitlines(keepends=True)
    end = max(i for i, line in enumerate(lines) if line.startswith(b"Minimum validation bpb"))
    return b"".join(lines[: end + 1])


def test_nanochat_mid_train_one_step_short_of_its_share_total_reads_done() -> None:
    snap = _snapshot(_mid_train())
    assert (snap.status, snap.iter, snap.max_iters) == ("finished", 770, 771)
    assert snap.progress == 1.0
    assert _progress_row(snap) == "iter 770 / 771 · done: 770 is the last step the log prints · 770 steps logged"
    assert run_row("run.log", snap).progress == "100.0%"  # the runs table
    header = ProgressLine().compose_line(snap, 100).plain
    assert "done (its last step)" in header and "99.9%" not in header


def test_the_same_run_while_it_trains_still_counts_what_is_left() -> None:
    lines = _mid_train().splitlines(keepends=True)
    last_step = max(i for i, line in enumerate(lines) if line.startswith(b"step 00770 "))
    snap = _snapshot(b"".join(lines[:last_step + 1]))
    assert snap.status != "finished"
    assert snap.progress is not None and snap.progress < 1.0
    assert "· 1 left ·" in _progress_row(snap)
    assert "done" not in ProgressLine().compose_line(snap, 100).plain


@pytest.mark.parametrize("name", [
    "autoresearch_ddp2_torchrun_carriage_return.log",             # autoresearch: 607 of 608
    "buildnanogpt_2n8g_smaller_log_txt_excerpt.log",              # build-nanogpt: 19,072 of 19,073
    "llmc_main_log_hellaswag_eval_lines_excerpt.log",             # llm.c: 19,551 of 19,552
    "modded_2024-06_llmc_logger_only_final_val.log",              # modded-nanogpt, llm.c's logger
    "modded_fork_parameter_golf_wallclock_cap_stop.log",          # stopped by its time cap: 13,780 of 20,000
    "nanochat_windows_rtx4070_laptop_80k_backticks_finished_excerpt.log",  # nanochat: 79,800 of 80,000
    "nanochat_fork_final_step_marker_summary_paste.log",          # at its total
    "nanogpt_ddp8_resumed_wandb_interleaved_finished.log",        # nanoGPT: at its total
    "llama2c_15m_100k_elided_comment_finished.log",               # llama2.c
])
def test_a_finished_run_reads_done_in_every_family(name: str) -> None:
    path = SAMPLES / "field" / name
    snap = _snapshot(path.read_bytes(), name)
    assert snap.status == "finished" and snap.iter is not None and snap.max_iters is not None
    assert snap.progress == 1.0
    row = _progress_row(snap)
    header = ProgressLine().compose_line(snap, 100).plain
    if snap.iter < snap.max_iters:
        assert f"done: {snap.iter:,} is the last step the log prints" in row and " left" not in row
        assert "done (its last step)" in header
    else:  # at (or past) its total: 100%, and no last step named that is not the one shown
        assert "100.0% · 0 left" in row and "done:" not in row
        assert "100.0%" in header
    assert run_row(name, snap).progress == "100.0%"


@pytest.mark.parametrize("said", [b"-1", b"-5000"])
def test_a_negative_printed_max_iters_is_not_a_finished_run(said: bytes) -> None:
    # `-1` is a switch (nanochat's num_iterations: "from the data ratio"), not a total already reached
    text = b"Overriding: max_iters = " + said + b"\n" + b"".join(
        b"iter %d: loss 4.0, time 100.00ms, mfu 10.00%%\n" % i for i in range(3))
    snap = _snapshot(text)
    assert (snap.status, snap.iter, snap.max_iters, snap.progress, snap.max_iters_source) == (
        "training", 2, None, None, None)
    assert f"max_iters {said.decode()} in the log is not a step count: pass --max-iters" in snap.warnings


def test_a_finished_run_read_cold_says_its_duration_is_added_up_in_the_tui_as_in_once() -> None:
    # the TUI read "finished 06:35 · 771.6 ms/step · eval pause 1 m 30 s · took 1 h 35 m" where
    # --once read "took ≈ 1 h 35 m (printed step times) · finished"
    snap = _snapshot((SAMPLES / "nanogpt/macmini_m4_mps_shakespeare_char_complete.log").read_bytes())
    assert (snap.status, snap.elapsed_measured) == ("finished", False)
    assert _row(snap, "time") == "took ≈ 1 h 35 m (printed step times) · finished"
    assert FinishLine().compose_line(snap, 80).plain.endswith(" · took ≈ 1 h 35 m")


def test_a_run_seen_arriving_says_how_long_it_took_without_a_sign() -> None:
    from dataclasses import replace
    snap = replace(_snapshot((SAMPLES / "nanogpt/macmini_m4_mps_shakespeare_char_complete.log").read_bytes()),
                   elapsed_measured=True)
    assert FinishLine().compose_line(snap, 80).plain.endswith(" · took 1 h 35 m")
