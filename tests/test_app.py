"""The Textual app driven by Pilot: keys, the screen following lines as they arrive, an
unavailable GPU, a crashed run, log text that tries to be markup, a tiny terminal, SIGTERM."""

from __future__ import annotations

import asyncio
import fcntl
import functools
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable

import pytest
from conftest import FakeClock
from textual.widgets import Static
from tui_fakes import DATA, RECORDED, BrokenGpuSource, FakeGpuSource, ManualLines, recorded, session_at, utc

from monitor.core.report import Options
from monitor.inbox import GpuHooks, GpuWatched
from monitor.session import Session
from monitor.sources.gpu import GpuSampler, Unavailable
from monitor.tui.app import NanowatchApp, make_app
from monitor.tui.widgets import HelpScreen

COMPILED = recorded("compiled")
RECORDED_LOG = RECORDED / "compiled" / "run.log"
STARTUP = 50  # lines before the first iteration of the compiled run


@pytest.fixture(autouse=True)
def _utc():
    with utc():
        yield


def sync(test):
    """Run an async test body with asyncio.run (the suite has no asyncio plugin)."""

    @functools.wraps(test)
    def run(*args, **kwargs):
        return asyncio.run(test(*args, **kwargs))

    return run


def text_of(widget) -> str:
    return widget.content.plain


async def until(pilot, condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    """Let the app run until `condition` holds (a deadline, not a speed requirement)."""
    for _ in range(int(timeout_s / 0.02)):
        if condition():
            return
        await pilot.pause(0.02)
    raise AssertionError("condition not reached")


def send_from_thread(source: ManualLines, lines: list[tuple[float | None, bytes]]) -> None:
    """Deliver lines as a follower does: from another thread."""
    thread = threading.Thread(target=source.hooks.on_lines, args=(lines,))
    thread.start()
    thread.join()


def live_app(clock: FakeClock, gpu=None) -> tuple[NanowatchApp, Session]:
    ManualLines.instances.clear()
    session = Session(Options(source="train.log"), clock)
    return make_app(session, ManualLines, gpu, handle_signals=False), session


@sync
async def test_q_quits_with_status_0() -> None:
    app, _ = live_app(FakeClock())
    async with app.run_test() as pilot:
        await pilot.press("q")
    assert app.return_code == 0
    assert ManualLines.instances[0].started and ManualLines.instances[0].stopped


@sync
async def test_help_opens_and_closes() -> None:
    app, _ = live_app(FakeClock())
    async with app.run_test() as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


@sync
async def test_help_is_made_from_the_key_bindings() -> None:
    app, _ = live_app(FakeClock())
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("question_mark")
        text = app.screen.query_one(Static)
        shown = "\n".join("".join(s.text for s in text.render_line(y)).rstrip() for y in range(text.size.height))
        assert " [ ]    look at the previous / next run\n" in shown
        for binding in app.BINDINGS:
            assert (binding.tooltip or binding.description) in shown  # type: ignore[union-attr]


@sync
async def test_the_screen_follows_lines_as_they_arrive() -> None:
    clock = FakeClock(COMPILED[0][0])
    app, _ = live_app(clock)
    async with app.run_test(size=(120, 40)) as pilot:
        source = ManualLines.instances[0]
        assert text_of(app.header_view).strip().startswith("starting")
        assert "no training step" in text_of(app.progress_view)

        clock.t = COMPILED[STARTUP + 100][0]
        send_from_thread(source, COMPILED[: STARTUP + 100])
        await until(pilot, lambda: app.snapshot is not None and app.snapshot.status == "training")
        iter_now = app.snapshot.iter
        assert f"iter {iter_now:,} / 5,000" in text_of(app.progress_view)
        assert text_of(app.finish_view).startswith("finishes ")
        # the charts got data (within CHART_MIN_S of their first drawing, at mount)
        await until(pilot, lambda: "train" in app.loss_chart.render().plain)

        clock.t = COMPILED[-1][0] + 1
        send_from_thread(source, COMPILED[STARTUP + 100 :])
        await until(pilot, lambda: app.snapshot.status == "finished")
        assert "iter 5,000 / 5,000" in text_of(app.progress_view)
        assert text_of(app.finish_view).startswith("finished ")
        assert "step 5000: train loss 0.6151" in text_of(app.events_view._body)


@sync
async def test_whole_blocks_of_lines_are_read_like_lines() -> None:
    clock = FakeClock(COMPILED[-1][0] + 1)
    app, session = live_app(clock)
    async with app.run_test() as pilot:
        source = ManualLines.instances[0]
        block = b"".join(line + b"\n" for _, line in COMPILED)
        thread = threading.Thread(target=source.hooks.on_block, args=(None, block))
        thread.start()
        thread.join()
        await until(pilot, lambda: app.snapshot.status == "finished")
        assert session.state.current.n_iters == sum(1 for _, line in COMPILED if line.startswith(b"iter "))
        assert "iter 5,000 / 5,000" in text_of(app.progress_view)


@sync
async def test_a_silent_log_turns_stalled_with_the_time_it_went_quiet() -> None:
    clock = FakeClock()
    session = session_at(COMPILED[:300], clock)
    app = make_app(session, handle_signals=False)
    async with app.run_test() as pilot:
        assert app.snapshot.status == "training"
        clock.advance(3600)
        await pilot.press("f")  # any redraw; the 1-s tick would do the same
        assert app.snapshot.status == "stalled"
        since = time.strftime("%H:%M", time.gmtime(COMPILED[299][0]))
        assert f"stalled since {since}" in text_of(app.header_view)


@sync
async def test_pause_holds_the_screen_and_loses_nothing() -> None:
    clock = FakeClock(COMPILED[0][0])
    app, session = live_app(clock)
    paused: list[bool] = []
    app._on_pause = paused.append
    async with app.run_test() as pilot:
        source = ManualLines.instances[0]
        clock.t = COMPILED[200][0]
        send_from_thread(source, COMPILED[:200])
        await until(pilot, lambda: app.snapshot.iter is not None)
        before = app.snapshot.iter
        await pilot.press("p")
        assert "PAUSED" in text_of(app.header_view)
        send_from_thread(source, COMPILED[200:300])
        await until(pilot, lambda: session.state.current.last_iter > before)
        await pilot.pause(0.3)
        assert app.snapshot.iter == before  # the screen held still
        await pilot.press("p")
        assert app.snapshot.iter == session.state.current.last_iter
        assert "PAUSED" not in text_of(app.header_view)
    assert paused == [True, False]


@sync
async def test_l_toggles_the_loss_chart_to_log_scale() -> None:
    app = make_app(session_at(COMPILED, FakeClock()), handle_signals=False)
    async with app.run_test(size=(120, 40)) as pilot:
        assert "log scale" not in app.loss_chart.render().plain
        await pilot.press("l")
        assert "loss (log scale)" in app.loss_chart.render().plain
        await pilot.press("l")
        assert "log scale" not in app.loss_chart.render().plain


@sync
async def test_e_shows_the_events_full_screen_and_back() -> None:
    app = make_app(session_at(COMPILED, FakeClock()), handle_signals=False)
    async with app.run_test() as pilot:
        await pilot.press("e")
        assert app.screen.maximized is app.events_view
        await pilot.press("e")
        assert app.screen.maximized is None


@sync
async def test_earlier_runs_can_be_looked_at_and_f_goes_back_to_the_newest() -> None:
    clock = FakeClock()
    interrupted = recorded("interrupted")
    shift = COMPILED[-1][0] + 60 - interrupted[0][0]
    items = COMPILED + [(t + shift, line) for t, line in interrupted]
    app = make_app(session_at(items, clock), handle_signals=False)
    async with app.run_test(size=(120, 40)) as pilot:
        assert "run 2 of 2" in text_of(app.header_view)
        assert app.snapshot.status == "interrupted"
        await pilot.press("left_square_bracket")
        assert "run 1 of 2" in text_of(app.header_view)
        assert "earlier run" in text_of(app.header_view)
        assert app.snapshot.status == "finished"
        await pilot.press("f")
        assert "run 2 of 2" in text_of(app.header_view)
        assert app.snapshot.status == "interrupted"


@sync
async def test_gpu_rows_come_from_the_gpu_source() -> None:
    clock = FakeClock(COMPILED[-1][0] + 1)
    session = session_at(COMPILED, clock, gpus=None)
    session.ingest([GpuWatched("nvml")])
    fake = FakeGpuSource(gpus=2)

    def gpu(hooks: GpuHooks) -> GpuSampler:
        return GpuSampler(fake, 0.05, clock, hooks.on_samples, hooks.on_error)

    app = make_app(session, gpu=gpu, handle_signals=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: len(app.snapshot.gpus) == 2)
        text = text_of(app.gpu_view)
        assert "0 H100 80GB HBM3" in text and "1 H100 80GB HBM3" in text
        assert "31.5/80.0 GiB" in text and "/700 W" in text and "97% util" in text and "61°C" in text
        assert "energy" in text_of(app.energy_view)


@sync
async def test_unavailable_gpu_is_said_not_invented() -> None:
    clock = FakeClock()
    session = session_at(COMPILED[:300], clock, gpus=None)
    source = Unavailable("NVML library not found (no NVIDIA driver here?)")

    def gpu(hooks: GpuHooks) -> GpuSampler:
        return GpuSampler(source, 0.05, clock, hooks.on_samples, hooks.on_error)

    app = make_app(session, gpu=gpu, handle_signals=False)
    async with app.run_test() as pilot:
        await until(pilot, lambda: "unavailable" in text_of(app.gpu_view))
        assert text_of(app.gpu_view) == "GPU telemetry unavailable: NVML library not found (no NVIDIA driver here?)"
        assert app.snapshot.gpus == () and app.snapshot.power_w is None
        assert "no energy measurement" in text_of(app.energy_view)


@sync
async def test_a_gpu_source_that_raises_is_shown_and_the_app_goes_on() -> None:
    clock = FakeClock()
    session = session_at(COMPILED[:300], clock, gpus=None)
    source = BrokenGpuSource("NVML said no")

    def gpu(hooks: GpuHooks) -> GpuSampler:
        return GpuSampler(source, 0.05, clock, hooks.on_samples, hooks.on_error)

    app = make_app(session, gpu=gpu, handle_signals=False)
    said = "GPU sampler failed: RuntimeError: NVML said no"
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: said in text_of(app.events_view.warnings))
        assert said in app.snapshot.warnings and said in text_of(app.events_view._body)
        await pilot.press("l")  # the app still answers
        assert app.is_running
        source.broken = False  # the sampler tried again, and now the GPU answers
        await until(pilot, lambda: len(app.snapshot.gpus) == 1)
        assert said not in app.snapshot.warnings  # a lasting warning only while it lasts
        assert said in text_of(app.events_view._body)  # the event stays in the log of events


@sync
async def test_a_crashed_run_says_so_everywhere() -> None:
    clock = FakeClock()
    t_end = COMPILED[299][0]
    crash = [(t_end + 0.5, line) for line in (DATA / "oom_traceback.txt").read_bytes().splitlines()]
    app = make_app(session_at(COMPILED[:300] + crash, clock), handle_signals=False)
    async with app.run_test() as pilot:
        assert app.snapshot.status == "crashed"
        assert text_of(app.header_view).strip().startswith("crashed")
        assert text_of(app.finish_view).startswith("crashed at iter 2,330")
        assert "torch.OutOfMemoryError: CUDA out of memory" in text_of(app.events_view._body)
        await pilot.press("q")



@sync
async def test_a_run_crashed_before_its_first_step_says_so_in_words() -> None:
    crash = [(1e9 + 0.5, line) for line in (DATA / "oom_traceback.txt").read_bytes().splitlines()]
    app = make_app(session_at(crash, FakeClock()), handle_signals=False)
    async with app.run_test() as pilot:
        assert app.snapshot.status == "crashed" and app.snapshot.iter is None
        assert text_of(app.finish_view).startswith("crashed before the first step")
        await pilot.press("q")

HOSTILE = [
    b"[bold red]LOUD[/] [@click=app.quit]click me[/] [link=https://example.com]x[/link]",
    b"\x1b]0;pwned\x07\x1b[2J\x1b[31mred\x1b[0m [reverse]",
]


@sync
async def test_log_text_is_shown_as_text_in_every_widget() -> None:
    clock = FakeClock()
    t0 = COMPILED[299][0]
    hostile = [
        (t0, b"UserWarning: " + HOSTILE[0]),
        (t0, b"saving checkpoint to out[bold]/[/bold]" + HOSTILE[1]),
        (t0 + 1, b"Traceback (most recent call last):"),
        (t0 + 1, b'  File "train.py", line 1, in <module>'),
        (t0 + 1, b"RuntimeError: " + HOSTILE[0]),
    ]
    session = session_at(COMPILED[:300] + hostile, clock, source="run[bold]\x1b]0;title\x07.log", gpus=None)
    session.ingest([GpuWatched("nvml", "driver said [red]no[/red] \x1b[2J")])
    app = make_app(session, handle_signals=False)
    async with app.run_test(size=(120, 40)) as pilot:
        header = app.header_view.content
        assert "run[bold]\\x1b]0;title\\x07.log" in header.plain
        events = text_of(app.events_view._body)
        assert "[bold red]LOUD[/] [@click=app.quit]click me[/] [link=https://example.com]x[/link]" in events
        assert "out[bold]/[/bold]" in events
        assert "RuntimeError: [bold red]LOUD[/]" in events
        assert "[red]no[/red] \\x1b[2J" in text_of(app.gpu_view)
        for widget in (app.header_view, app.progress_view, app.finish_view, app.gpu_view, app.energy_view,
                       app.totals_view, app.events_view._body):
            text = widget.content
            assert "\x1b" not in text.plain and "\x07" not in text.plain
            assert not any("link" in str(span.style) or "click" in str(span.style) for span in text.spans)
        await pilot.click(app.events_view._body)  # a click on the "link" runs no action
        await pilot.pause()
        assert app.is_running


@sync
async def test_a_20x5_terminal_and_back() -> None:
    app = make_app(session_at(COMPILED, FakeClock()), handle_signals=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.resize_terminal(20, 5)
        await pilot.pause(0.2)
        await pilot.press("l", "e", "e")
        assert app.is_running
        await pilot.resize_terminal(80, 24)
        await pilot.pause(0.2)
        assert "iter 5,000 / 5,000" in text_of(app.progress_view)
        assert len(text_of(app.progress_view)) == app.progress_view.size.width == 78  # the bar grew back


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
@sync
async def test_sigterm_and_sighup_end_the_app_cleanly(sig: signal.Signals) -> None:
    app = make_app(session_at(COMPILED[:100], FakeClock()), handle_signals=True)
    async with app.run_test() as pilot:
        os.kill(os.getpid(), sig)
        await until(pilot, lambda: not app.is_running)
    assert app.return_code == 128 + sig
    # the handlers went with the app: the process has its usual ones again
    assert signal.getsignal(sig) in (signal.SIG_DFL, signal.default_int_handler)


# --- the real program in a pseudo-terminal ------------------------------------------------


class Terminal:
    """`python -m monitor ARGS` on a fresh pseudo-terminal that is its controlling terminal."""

    def __init__(self, args: list[str], stdin: int | None = None) -> None:
        self.master, self.slave = pty.openpty()
        fcntl.ioctl(self.slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        self.modes_before = termios.tcgetattr(self.slave)
        env = {**os.environ, "TERM": "xterm-256color", "TZ": "UTC"}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", OWN_TERMINAL, *args],
            stdin=self.slave if stdin is None else stdin, stdout=self.slave, stderr=self.slave,
            start_new_session=True, env=env,
        )  # fmt: skip
        self.output = b""

    def read_until(self, marker: bytes, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while marker not in self.output:
            assert time.monotonic() < deadline, self.output[-2000:]
            if select.select([self.master], [], [], 0.1)[0]:
                self.output += os.read(self.master, 65536)

    def settle(self, quiet_s: float = 0.5, timeout_s: float = 60.0) -> None:
        """Read until the program has written nothing for `quiet_s` (a screen fully drawn)."""
        deadline = time.monotonic() + timeout_s
        while select.select([self.master], [], [], quiet_s)[0]:
            assert time.monotonic() < deadline, self.output[-2000:]
            self.output += os.read(self.master, 65536)

    def finish(self, timeout_s: float = 60.0) -> int:
        deadline = time.monotonic() + timeout_s
        while self.proc.poll() is None:
            assert time.monotonic() < deadline, self.output[-2000:]
            if select.select([self.master], [], [], 0.1)[0]:
                self.output += os.read(self.master, 65536)
        while select.select([self.master], [], [], 0.1)[0]:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                break
            if not chunk:
                break
            self.output += chunk
        return self.proc.returncode

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)
        os.close(self.slave)


# In its own session, the child takes the pty (its stdout) as controlling terminal, so that
# /dev/tty is the pty, then runs `python -m monitor`.
OWN_TERMINAL = (
    "import fcntl, runpy, sys, termios; fcntl.ioctl(1, termios.TIOCSCTTY, 0); "
    "sys.argv[0] = 'nanowatch'; runpy.run_module('monitor', run_name='__main__')"
)


ALT_SCREEN_ON, ALT_SCREEN_OFF = b"\x1b[?1049h", b"\x1b[?1049l"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_restores_the_terminal(sig: signal.Signals) -> None:
    log = str(RECORDED_LOG)
    term = Terminal([log, "--no-gpu"])
    try:
        term.read_until(b"nanogpt")
        term.proc.send_signal(sig)
        assert term.finish() == 128 + sig
        after = term.output[term.output.rindex(b"nanogpt") :]
        assert ALT_SCREEN_OFF in after  # back from the alternate screen
        assert termios.tcgetattr(term.slave) == term.modes_before  # echo, canonical mode: as before
    finally:
        term.close()


def test_keys_come_from_the_terminal_when_the_log_is_piped() -> None:
    read_end, write_end = os.pipe()
    term = Terminal(["-", "--no-gpu"], stdin=read_end)
    os.close(read_end)
    try:
        os.write(write_end, RECORDED_LOG.read_bytes()[:20000])
        term.read_until(b"iter ")
        os.write(term.master, b"q")
        assert term.finish() == 0
        assert termios.tcgetattr(term.slave) == term.modes_before
    finally:
        os.close(write_end)
        term.close()


def test_a_lone_escape_and_keys_reach_the_app_whose_input_thread_sleeps() -> None:
    # The input thread waits for the terminal without Textual's 0.1-s polls (tui.driver): a
    # lone Esc must still be let go after the escape delay (it closes the help), and q quits.
    term = Terminal([str(RECORDED_LOG), "--no-gpu"])
    try:
        term.read_until(b"nanogpt")
        os.write(term.master, b"?")
        term.read_until(b"nanowatch keys")
        term.settle()  # the rest of the help drawn: the main screen's words below are the redraw's
        shown = len(term.output)
        os.write(term.master, b"\x1b")  # help closes: else the q below would close it instead
        deadline = time.monotonic() + 60
        while b"nanogpt" not in term.output[shown:]:  # the main screen drawn again
            assert time.monotonic() < deadline, term.output[-2000:]
            if select.select([term.master], [], [], 0.1)[0]:
                term.output += os.read(term.master, 65536)
        os.write(term.master, b"q")
        assert term.finish() == 0
    finally:
        term.close()


@pytest.mark.parametrize(
    ("last_input_s", "last_tick_s", "timeout"),
    [
        (None, None, None),  # no key yet: wait for one
        (100.0, None, 0.1),  # a key came, no tick since: an Esc may be pending
        (100.0, 100.0, 0.1),  # the tick right after the key: tick again at Textual's pace
        (100.0, 100.09, 0.1),  # a tick within the escape delay (0.1 s) could not let it go
        (100.0, 100.11, None),  # a tick past the delay let it go: wait for the next key
        (100.0, 100.5, None),  # a late tick (a loaded machine) let it go too
    ],
)
def test_the_input_thread_ticks_until_a_tick_has_run_past_the_escape_delay(
    last_input_s: float | None, last_tick_s: float | None, timeout: float | None
) -> None:
    from monitor.tui.driver import input_timeout

    assert input_timeout(last_input_s, last_tick_s, escape_delay_s=0.1) == timeout


def test_the_app_takes_the_quiet_driver_where_textual_would_take_its_linux_driver() -> None:
    from textual.drivers.headless_driver import HeadlessDriver
    from textual.drivers.linux_driver import LinuxDriver

    from monitor.tui.app import quiet_driver
    from monitor.tui.driver import QuietLinuxDriver

    assert quiet_driver(LinuxDriver) is QuietLinuxDriver
    assert quiet_driver(HeadlessDriver) is HeadlessDriver  # tests, and any driver chosen otherwise


def test_a_textual_without_the_parser_the_quiet_driver_leans_on_keeps_its_own_driver(monkeypatch) -> None:
    import sys

    from textual.drivers.linux_driver import LinuxDriver

    from monitor.tui.app import quiet_driver

    monkeypatch.setitem(sys.modules, "monitor.tui.driver", None)  # import fails as if textual._xterm_parser moved
    assert quiet_driver(LinuxDriver) is LinuxDriver
