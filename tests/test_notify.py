"""--notify and --bell: the pure alert detector, the notifier with real child processes (the
event in the environment, never in the command string; failing and slow commands reported,
nanowatch never blocked), and the front ends: replay --jsonl, several logs, the TUI."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

from conftest import SAMPLES, FakeClock
from test_app import send_from_thread, sync, text_of, until
from tui_fakes import ManualLines, recorded, utc

from monitor.cli import build_parsers, new_session
from monitor.core.alerts import CRASH_SETTLE_S, AlertWatch, alert
from monitor.core.snapshot import Snapshot
from monitor.sources.notify import AlertHook, Notifier, alert_env
from monitor.tui.app import make_app

INTERRUPTED = SAMPLES / "recorded/interrupted"
COMPILED = recorded("compiled")
# written whole, then named: a reader never sees half a file
DUMP_ENV = 'env | grep ^NANOWATCH_ | sort > "$OUT/.$$" && mv "$OUT/.$$" "$OUT/$NANOWATCH_EVENT.env"'


def snap(status: str = "training", *, t: float = 100.0, watched: bool = True, run_index: int = 0,
         loss: float | None = 2.0, error: str | None = None) -> Snapshot:
    return Snapshot(t=t, source="run.log", format="nanogpt", status=status, run_index=run_index, iter=40,
                    max_iters=100, loss=loss, eta_finish=t + 60, crash_message=error, watched=watched)


def events(watch: AlertWatch, *snaps: Snapshot) -> list[list[str]]:
    return [[a.event for a in watch.see(s)] for s in snaps]


def wait_for(condition, timeout_s: float = 60.0) -> None:
    """A deadline for a child process, not a speed requirement."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def read_env(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines())


# --- the pure detector ------------------------------------------------------------------------


def test_each_status_change_that_needs_someone_is_told_once() -> None:
    watch = AlertWatch()
    assert events(watch, snap("starting"), snap("training"), snap("stalled"), snap("stalled"),
                  snap("training"), snap("stalled"), snap("finished"), snap("finished")) == [
        [], [], ["stalled"], [], [], ["stalled"], ["finished"], []]


def test_a_nan_loss_is_told_when_it_turns_nan() -> None:
    watch = AlertWatch()
    nan = float("nan")
    assert events(watch, snap(), snap(loss=nan), snap(loss=nan), snap(loss=1.0), snap(loss=float("inf"))) == [
        [], ["nan"], [], [], ["nan"]]


def test_what_the_file_held_at_start_is_not_news() -> None:
    watch = AlertWatch()
    # a finished log opened later, then a line arrives while watched: still finished, nothing new
    assert events(watch, snap("finished", watched=False), snap("finished")) == [[], []]
    watch = AlertWatch()
    assert events(watch, snap("training", watched=False), snap("stalled", watched=False),
                  snap("training"), snap("crashed", error="RuntimeError: boom")) == [[], [], [], ["crashed"]]


def test_a_traceback_being_written_waits_for_its_last_line() -> None:
    watch = AlertWatch()
    assert events(watch, snap(t=0), snap("crashed", t=1), snap("interrupted", t=2, error="KeyboardInterrupt")) == [
        [], [], ["interrupted"]]
    watch = AlertWatch()  # a traceback cut short is told once it has been quiet a while
    assert events(watch, snap(t=0), snap("crashed", t=1), snap("crashed", t=1 + CRASH_SETTLE_S)) == [
        [], [], ["crashed"]]


def test_a_new_run_in_the_log_starts_afresh() -> None:
    watch = AlertWatch()
    assert events(watch, snap("finished"), snap("starting", run_index=1), snap("finished", run_index=1)) == [
        ["finished"], [], ["finished"]]


def test_the_environment_of_an_alert() -> None:
    found = alert("crashed", snap("crashed", error="torch.OutOfMemoryError: CUDA out of memory\x1b[31m"))
    env = alert_env(found)
    assert env["NANOWATCH_EVENT"] == env["NANOWATCH_STATUS"] == "crashed"
    assert (env["NANOWATCH_LOG"], env["NANOWATCH_ITER"], env["NANOWATCH_MAX_ITERS"]) == ("run.log", "40", "100")
    assert env["NANOWATCH_ERROR"] == "torch.OutOfMemoryError: CUDA out of memory\\x1b[31m"  # no escape reaches a phone
    assert env["NANOWATCH_ETA"] == "160.0" and env["NANOWATCH_RUN_INDEX"] == "0"
    assert env["NANOWATCH_MESSAGE"].startswith("run.log: crashed at iter 40: torch.OutOfMemoryError")
    assert alert_env(alert("finished", snap("finished", loss=None)))["NANOWATCH_LOSS"] == ""


# --- the notifier: real child processes --------------------------------------------------------


def test_the_command_gets_the_event_in_its_environment_never_in_its_text(tmp_path: Path) -> None:
    hostile = "$(touch PWNED); `touch PWNED2` ' \" ; exit 9"
    found = alert("crashed", snap("crashed", error=hostile))
    notifier = Notifier([DUMP_ENV, 'printf %s "$NANOWATCH_ERROR" > "$OUT/error.txt"'],
                        environ={"PATH": "/usr/bin:/bin", "OUT": str(tmp_path)})
    notifier.send(found)
    notifier.wait(20)
    env = read_env(tmp_path / "crashed.env")
    assert env["NANOWATCH_EVENT"] == "crashed" and env["NANOWATCH_ITER"] == "40"
    assert (tmp_path / "error.txt").read_text() == hostile
    assert not list(Path.cwd().glob("PWNED*")) and not list(tmp_path.glob("PWNED*"))
    assert notifier.reports() == []


def test_a_failing_command_is_reported(tmp_path: Path) -> None:
    notifier = Notifier(["echo 'no route to ntfy.sh' >&2; exit 7", "/nonexistent/notify-me"],
                        environ={"PATH": "/usr/bin:/bin"})
    notifier.send(alert("finished", snap("finished")))
    notifier.wait(20)
    reports = {text.split(" exited ")[0]: text for text in notifier.reports()}
    assert reports["--notify '/nonexistent/notify-me'"].startswith("--notify '/nonexistent/notify-me' exited 127: ")
    assert "not found" in reports["--notify '/nonexistent/notify-me'"]  # the shell's own words
    assert reports["--notify \"echo 'no route to ntfy.sh' >&2; exit 7\""] == (
        "--notify \"echo 'no route to ntfy.sh' >&2; exit 7\" exited 7: no route to ntfy.sh")


def test_a_slow_command_never_blocks_and_is_stopped_at_its_timeout(tmp_path: Path) -> None:
    marker = tmp_path / "child.pid"
    notifier = Notifier([f"echo $$ > {marker}; sleep 30 & wait"], timeout_s=1.0, environ={"PATH": "/usr/bin:/bin"})
    notifier.send(alert("stalled", snap("stalled")))
    assert notifier._threads[0].is_alive()  # send() returned while the command runs
    notifier.wait(20)
    assert notifier.reports() == [f"--notify 'echo $$ > {marker}; sleep 30 & wait' still running after 1 s: stopped"]
    pid = int(marker.read_text())
    assert subprocess.run(["kill", "-0", str(pid)], capture_output=True, check=False).returncode != 0  # its group is gone


def test_the_hook_reports_on_the_snapshot_thread_and_keeps_the_metrics_board() -> None:
    published, said, told = [], [], []
    hook = AlertHook(Notifier(["exit 1"]), on_report=lambda s, text: said.append(text),
                     on_alert=lambda s, a: told.append(a.event), then=published.append)
    hook(snap())
    hook(snap("finished"))
    hook.notifier.wait(20)
    hook(snap("finished", t=101))
    assert told == ["finished"] and said == ["--notify 'exit 1' exited 1"] and len(published) == 3


# --- the front ends --------------------------------------------------------------------------------


def test_replay_jsonl_runs_notify_with_a_real_child(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "monitor", "replay", str(INTERRUPTED / "run.log"), "--times", str(INTERRUPTED / "run.times"),
         "--speed", "0", "--jsonl", "--no-gpu", "--notify", DUMP_ENV, "--notify", "exit 4"],
        capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", "OUT": str(tmp_path)}, check=False)
    assert proc.returncode == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["interrupted.env"]  # once, not "crashed" first
    env = read_env(tmp_path / "interrupted.env")
    assert env["NANOWATCH_ERROR"] == "KeyboardInterrupt" and env["NANOWATCH_ITER"] == "1240"
    assert env["NANOWATCH_LOG"] == str(INTERRUPTED / "run.log")
    assert proc.stderr == "nanowatch: --notify 'exit 4' exited 4\n"


def test_several_logs_jsonl_notify_when_one_finishes(tmp_path: Path) -> None:
    lines = (SAMPLES / "recorded/compiled/run.log").read_bytes().splitlines(keepends=True)
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    a.write_bytes(b"".join(lines[:200]))
    b.write_bytes(b"".join(lines[:100]))
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", str(a), str(b), "--jsonl", "--no-gpu", "--interval", "0.2",
         "--notify", 'env | grep ^NANOWATCH_ | sort > "$OUT/.$$" && mv "$OUT/.$$" "$OUT/$(basename "$NANOWATCH_LOG").$NANOWATCH_EVENT"'],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={"PATH": "/usr/bin:/bin", "OUT": str(out)})
    try:
        assert proc.stdout is not None
        # both read to the end they had (what a file held is not news), then a.log goes on: a record
        # can come before its log's history is read, and lines appended before that read are history too
        last = {str(a): 1390, str(b): 470}
        seen: set[str] = set()
        while len(seen) < 2:
            record = json.loads(proc.stdout.readline())
            if record["iter"] == last[record["source"]]:
                seen.add(record["source"])
        threading.Thread(target=proc.stdout.read, daemon=True).start()  # keep the pipe drained
        with a.open("ab") as f:
            f.write(b"".join(lines[200:]))
        wait_for(lambda: (out / "a.log.finished").exists())
        assert read_env(out / "a.log.finished")["NANOWATCH_ITER"] == "5000"
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 130
    assert sorted(p.name for p in out.iterdir()) == ["a.log.finished"]


@sync
async def test_the_tui_notifies_rings_and_says_so(tmp_path: Path) -> None:
    args = build_parsers()[0].parse_args(["train.log", "--notify", f"touch {tmp_path}/$NANOWATCH_EVENT", "--bell"])
    clock = FakeClock(COMPILED[0][0])
    session = new_session(args, clock)
    ManualLines.instances.clear()
    app = make_app(session, ManualLines, handle_signals=False, bell=True)
    rings = []
    app.bell = lambda: rings.append(clock.t)  # type: ignore[method-assign]
    with utc():
        async with app.run_test(size=(120, 40)) as pilot:
            source = ManualLines.instances[0]
            clock.t = COMPILED[300][0]
            send_from_thread(source, COMPILED[:300])
            await until(pilot, lambda: app.snapshot is not None and app.snapshot.status == "training")
            assert rings == []
            clock.t = COMPILED[-1][0] + 1
            send_from_thread(source, COMPILED[300:])
            await until(pilot, lambda: app.snapshot.status == "finished")
            await until(pilot, lambda: (tmp_path / "finished").exists(), timeout_s=20)
            assert rings == [clock.t]
            app.redraw()
            assert "notify     finished: ran --notify" in text_of(app.events_view._body)


def test_notify_and_bell_refuse_once() -> None:
    from monitor.cli import main

    assert main([str(INTERRUPTED / "run.log"), "--once", "--notify", "true"]) == 2
    assert main([str(INTERRUPTED / "run.log"), "--jsonl", "--bell"]) == 2


def test_bell_rings_in_the_runs_table_on_any_run() -> None:
    from monitor.core.alerts import AlertWatch as Watch

    watches: dict[int, Watch] = {}
    seen = [replace(snap("training"), source="a"), replace(snap("training"), source="b")]
    found = [watches.setdefault(i, Watch()).see(s) for i, s in enumerate(seen)]
    assert not any(found)
    seen[1] = replace(seen[1], status="crashed", crash_message="RuntimeError")
    found = [watches.setdefault(i, Watch()).see(s) for i, s in enumerate(seen)]
    assert [[a.event for a in f] for f in found] == [[], ["crashed"]]



@sync
async def test_the_newest_run_is_watched_while_an_earlier_one_is_on_screen(tmp_path: Path) -> None:
    args = build_parsers()[0].parse_args(["train.log", "--notify", f"touch {tmp_path}/$NANOWATCH_EVENT"])
    clock = FakeClock(COMPILED[0][0])
    session = new_session(args, clock)
    ManualLines.instances.clear()
    app = make_app(session, ManualLines, handle_signals=False, bell=True)
    rings = []
    app.bell = lambda: rings.append(clock.t)  # type: ignore[method-assign]
    second = [(t + 1000, line) for t, line in COMPILED]  # the same run again, appended: run 2
    async with app.run_test(size=(80, 24)) as pilot:
        source = ManualLines.instances[0]
        clock.t = second[300][0]
        send_from_thread(source, COMPILED + second[:300])
        await until(pilot, lambda: app.snapshot is not None and app.snapshot.run_count == 2)
        await pilot.press("left_square_bracket")  # look at run 1 (finished) meanwhile
        assert app.pinned_run == 0 and rings == []
        clock.t = second[-1][0] + 1
        send_from_thread(source, second[300:])
        await until(pilot, lambda: (tmp_path / "finished").exists(), timeout_s=20)
        assert rings == [clock.t] and app.pinned_run == 0
