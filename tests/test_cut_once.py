"""`--once` on a log cut by logrotate's copytruncate, its start-up in run.log.1: the run's total
is unknown (nanoGPT's default 600,000 is not assumed, no progress % beside "finish unknown"),
a warning says why and what to pass, and the time is that of the steps read (since the first
one the log holds). The TUI, `--once` and `--once --json` say the same."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from conftest import FakeClock

from monitor.cli import main
from monitor.core.report import Options
from monitor.session import Session
from monitor.tui.app import make_app

RUN = Path(__file__).parent.parent / "sample_logs" / "recorded" / "h200_gpt2_124M"
MID_RUN = "max_iters not in the log, which starts mid-run: finish unknown (pass --max-iters)"


def _cut(tmp_path: Path) -> Path:
    lines = (RUN / "run.log").read_bytes().splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.startswith(b"iter 150:")) + 1
    (tmp_path / "run.log.1").write_bytes(b"".join(lines[:at]))
    log = tmp_path / "run.log"
    log.write_bytes(b"".join(lines[at:]))
    return log


def test_once_json_after_copytruncate_has_no_made_up_total(tmp_path, capsys) -> None:
    assert main([str(_cut(tmp_path)), "--once", "--json", "--no-gpu"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["iter"] == 300
    assert (record["max_iters"], record["max_iters_source"], record["progress"]) == (None, None, None)
    assert record["eta_finish"] is None and record["tokens_total"] is None
    assert any(w.startswith(MID_RUN) for w in record["warnings"])


def test_once_after_copytruncate_shows_no_percent_and_the_time_of_the_steps_read(tmp_path, capsys) -> None:
    assert main([str(_cut(tmp_path)), "--once", "--no-gpu"]) == 0
    out = capsys.readouterr().out
    assert "600,000" not in out and "600000" not in out and "%  " not in out
    progress = next(line for line in out.splitlines() if line.strip().startswith("progress"))
    assert "%" not in progress and progress.split("progress", 1)[1].strip() == "iter 300 · 30 steps logged"
    time = next(line for line in out.splitlines() if line.strip().startswith("time"))
    assert " since iter 155 (printed step times) · finish unknown" in time
    assert MID_RUN in out and "its start may be in" in out


def test_the_tui_says_the_same(tmp_path) -> None:
    session = Session(Options(source="run.log"), FakeClock())
    session.feed_block(_cut(tmp_path).read_bytes())

    async def run() -> str:
        app = make_app(session, handle_signals=False)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            return "\n".join(strip.text for strip in app.screen._compositor.render_strips())

    screen = asyncio.run(run())
    assert "600,000" not in screen and "(default)" not in screen
    assert "iter 300 / ?" in screen and "finish unknown — pass --max-iters" in screen
    assert "since iter 155" in screen


STEPS = [f"iter {i}: loss 3.0, time 500.00ms" for i in range(1000, 1010)]


def _plan_of(lines: list[str]) -> tuple[object, object]:
    session = Session(Options(source="run.log"), FakeClock())
    session.feed_block("\n".join(lines).encode() + b"\n")
    snap = session.snapshot()
    return snap.max_iters, snap.max_iters_source


def test_the_command_line_the_log_shows_says_which_total_holds() -> None:
    # train.py run with no config file: its own default is in force, excerpt or not
    assert _plan_of(["$ torchrun --standalone --nproc_per_node=8 train.py", *STEPS]) == (600000, "default")
    assert _plan_of([*STEPS, "^CTraceback (most recent call last):", "KeyboardInterrupt", "",
                     ("python train.py --dataset=shakespeare --n_layer=4  142911.57s user 40453.75s system "
                     "302% cpu 16:49:10.45 total")]) == (600000, "default")
    # the total on the command line is the run's
    assert _plan_of(["$ python train.py --max_iters=5000", *STEPS]) == (5000, "log")
    assert _plan_of(["CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=4 python3 train.py --max_iters=7000", *STEPS]) == (7000, "log")
    assert _plan_of(["python: can't open file '/home/u/train.py': [Errno 2] No such file", *STEPS]) == (None, None)
    # a config file the log does not show may set its own total: unknown
    assert _plan_of(["$ python train.py config/train_gpt2.py --batch_size=8", *STEPS]) == (None, None)
    assert _plan_of(STEPS) == (None, None)
    # a traceback's frame naming train.py is no command
    assert _plan_of([*STEPS, '  File "/home/u/nanoGPT/train.py", line 286, in <module>']) == (None, None)


def test_a_run_that_crashed_is_not_asked_for_its_total() -> None:
    crash = ["Traceback (most recent call last):", '  File "train.py", line 1, in <module>',
             "torch.OutOfMemoryError: CUDA out of memory."]
    for head in ([], ["Overriding: batch_size = 8"]):  # the total unknown, then nanoGPT's default
        session = Session(Options(source="run.log"), FakeClock())
        session.feed_block("\n".join([*head, *STEPS, *crash]).encode() + b"\n")
        snap = session.snapshot()
        assert snap.status == "crashed"
        assert not [w for w in snap.warnings if "max-iters" in w], snap.warnings


def test_a_mid_run_log_beside_its_rotated_copy_names_it(tmp_path, capsys) -> None:
    log = _cut(tmp_path)
    assert main([str(log), "--once", "--json", "--no-gpu"]) == 0
    warnings = json.loads(capsys.readouterr().out)["warnings"]
    copy = f"{log}.1"
    assert f"{MID_RUN}; its start may be in {copy}: cat {copy} {log} | nanowatch -" in warnings
    (tmp_path / "run.log.1").unlink()
    assert main([str(log), "--once", "--json", "--no-gpu"]) == 0
    assert MID_RUN in json.loads(capsys.readouterr().out)["warnings"]


def test_a_line_too_long_for_a_command_is_none() -> None:
    long_line = "python " + "a " * 5000 + "train.py"
    assert _plan_of([long_line, *STEPS]) == (None, None)
