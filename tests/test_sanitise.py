"""One hostile set of strings (C0/C1 controls, OSC 0/2/8/52 ending in BEL and in ST, DCS, CSI,
bidi controls, Rich markup) through every path by which outside text reaches a terminal: the
sanitiser itself, stderr notices, error messages quoting paths, --once (file name, log text, GPU
names from a CSV or a DCGM label, endpoint errors: HTTP reasons, Prometheus bodies), --once
--json, --jsonl's notices, the TUI (header, events, GPU panel), the runs table and its notices."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import ROOT, FakeClock
from test_dcgm import SCRAPE_A, Exporter
from tui_fakes import FakeGpuSource

from monitor.cli import main
from monitor.core.report import Options
from monitor.core.rows import run_row
from monitor.core.sanitise import clean, markup_escaped
from monitor.core.telemetry import GpuSample
from monitor.inbox import GpuSampled, GpuWatched
from monitor.session import Session

HOSTILE = {
    "osc52-bel": "\x1b]52;c;cm0gLXJmIH4=\x07",
    "osc52-st": "\x1b]52;c;cm0gLXJmIH4=\x1b\\",
    "osc0-title": "\x1b]0;pwned\x07",
    "osc2-title": "\x1b]2;pwned\x1b\\",
    "osc8-link": "\x1b]8;;http://evil.example\x1b\\click\x1b]8;;\x1b\\",
    "dcs": "\x1bP+q544e\x1b\\",
    "csi": "\x1b[2J\x1b[1;31mred\x1b[0m",
    "c1-csi": "\x9b2J",
    "c1-osc": "\x9d0;pwned\x9c",
    "c0": "bell\x07back\x08nul\x00vt\x0bff\x0ccr\rdel\x7f",
    "bidi": "\u202eevil\u202c \u2066iso\u2069 \u200emark\u200f \u061calm \u202a\u202b\u202d",
    "markup": "[bold red]x[/] [link=http://evil.example]y[/link]",
}
ALL = "".join(HOSTILE.values())
#: What must never reach a terminal raw. Tab and the newlines that separate output lines are fine.
FORBIDDEN = [chr(c) for c in range(0x20) if c not in (0x09, 0x0A)] + [chr(c) for c in range(0x7F, 0xA0)] + list(
    "\u061c\u200e\u200f\u2028\u2029\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
#: A file name cannot hold NUL or "/", nor more than 255 bytes.
NAME = "".join(HOSTILE[k] for k in ("osc52-bel", "osc2-title", "c1-csi", "bidi", "c0")).replace("\x00", "") + "[b]x"


def raw(text: str) -> list[str]:
    return sorted({c for c in text if c in FORBIDDEN})


# --- the sanitiser ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_clean_writes_out_every_control(kind: str) -> None:
    out = clean(HOSTILE[kind])
    assert raw(out) == [] and "\n" not in out


def test_clean_leaves_ordinary_text_alone_and_bounds_length() -> None:
    text = "iter 5,000 · loss 3.28 · 4 × NVIDIA H100 · €0.15/kWh\ttab"
    assert clean(text) is text or clean(text) == text
    assert clean("x" * 100, max_chars=10) == "x" * 9 + "…"
    assert clean("\x1b") == "\\x1b" and clean("\u202e") == "\\u202e"


def test_markup_escaped_makes_tags_literal() -> None:
    from rich.text import Text

    assert Text.from_markup(markup_escaped(HOSTILE["markup"])).plain == HOSTILE["markup"]


# --- stderr and --once ---------------------------------------------------------------------


def test_error_quoting_a_path(tmp_path: Path, capsys) -> None:
    assert main([str(tmp_path / NAME), "--once"]) == 2
    err = capsys.readouterr().err
    assert raw(err) == [] and err.count("\n") == 1 and "no such file" in err


def _hostile_log(tmp_path: Path) -> Path:
    log = tmp_path / f"{NAME}.log"
    log.write_text(
        "iter 0: loss 4.0000, time 100.00ms, mfu 10.00%\n"
        "iter 10: loss 3.9000, time 100.00ms, mfu 10.00%\n"
        "Traceback (most recent call last):\n"
        f'  File "train.py", line 1, in <module>\n'
        f"{CRASH}\n"
    )
    return log


def _hostile_csv(tmp_path: Path) -> Path:
    csv = tmp_path / "gpu.csv"
    name = ALL.replace(",", " ").replace('"', " ").replace("\n", " ").replace("\r", " ")
    csv.write_text("timestamp, index, name, power.draw [W]\n"
                   f"2025/01/01 10:00:00.000, 0, {name}, 300 W\n2025/01/01 10:00:01.000, 0, {name}, 300 W\n")
    return csv


def test_once_summary(tmp_path: Path, capsys) -> None:
    assert main([str(_hostile_log(tmp_path)), "--once", "--gpu-log", str(_hostile_csv(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert raw(out) == []
    assert "\\x1b]52;c;" in out and "\\u202e" in out  # written out, so the user sees what was there
    assert "[bold red]x[/]" in out  # markup shown as text


def test_once_json(tmp_path: Path, capsys) -> None:
    assert main([str(_hostile_log(tmp_path)), "--once", "--json", "--gpu-log", str(_hostile_csv(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert raw(out) == [] and out.isascii()
    assert "\x1b]52" in json.loads(out)["gpu_names"][0]  # the data is intact for a program


class _HostileHttp:
    """Answers every request with a status line, headers and body that carry the hostile set."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self._stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        deadline = time.monotonic() + 30
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    conn.recv(4096)
                    conn.sendall(self._answer())
                except OSError:
                    pass

    def _answer(self) -> bytes:
        reason = HOSTILE["osc52-bel"] + HOSTILE["bidi"] + HOSTILE["c1-csi"]
        if self.mode == "reason":
            return f"HTTP/1.1 500 {reason}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode()
        if self.mode == "prometheus":
            body = json.dumps({"status": "error", "errorType": "bad_data", "error": ALL}).encode()
        else:  # a DCGM page that does not parse, quoting the hostile text
            body = f"DCGM_FI_DEV_POWER_USAGE{{gpu=\"0\"}} {ALL}\n".encode()
        return b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(body) + body

    @property
    def url(self) -> str:
        scheme = "prom+http" if self.mode == "prometheus" else "http"
        return f"{scheme}://127.0.0.1:{self.sock.getsockname()[1]}/metrics"

    def close(self) -> None:
        self._stop.set()
        self.sock.close()


@pytest.mark.parametrize("mode", ["reason", "prometheus", "page"])
def test_once_with_a_hostile_endpoint(tmp_path: Path, capsys, mode: str) -> None:
    server = _HostileHttp(mode)
    try:
        assert main([str(_hostile_log(tmp_path)), "--once", "--gpu-source", server.url]) == 0
    finally:
        server.close()
    out, err = capsys.readouterr()
    assert raw(out) == [] and raw(err) == []
    assert "GPU telemetry unavailable" in out and "\\x1b" in out


def test_once_with_a_hostile_dcgm_model_name(tmp_path: Path, capsys) -> None:
    node = Exporter([SCRAPE_A.replace('modelName="NVIDIA H100 80GB HBM3"', 'modelName="\x1b]0;pwned\x07\u202eH100"')])
    try:
        assert main([str(_hostile_log(tmp_path)), "--once", "--gpu-source", node.url]) == 0
    finally:
        node.close()
    out = capsys.readouterr().out
    assert raw(out) == [] and "\\x1b]0;pwned\\x07\\u202eH100" in out


def test_jsonl_notices_on_stderr(tmp_path: Path) -> None:
    missing = tmp_path / NAME  # "waiting for … to appear"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "monitor", str(missing), "--jsonl", "--no-gpu"], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    proc.stdout.readline()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert "waiting for" in err and raw(err) == [] and raw(out) == []


# --- the TUI ---------------------------------------------------------------------------------


def _hostile_session(clock: FakeClock) -> Session:
    session = Session(Options(source=f"/runs/{NAME}.log"), clock)
    for i, line in enumerate(_hostile_log_lines()):
        session.feed(line, clock.t - 10 + i)
    gpu = FakeGpuSource(1).sample(clock.t - 1, 0)
    session.ingest([GpuWatched("nvml"), GpuSampled([GpuSample(**{**{f: getattr(gpu, f) for f in gpu.__slots__}, "name": ALL})])])
    return session


def _hostile_log_lines() -> list[bytes]:
    return [b"iter 0: loss 4.0000, time 100.00ms, mfu 10.00%", b"iter 10: loss 3.9000, time 100.00ms, mfu 10.00%",
            b"Traceback (most recent call last):", CRASH.encode()]


#: A crash line as a log would hold it (log text loses ESC sequences and splits at \r before
#: the sanitiser sees it: the markup and bidi controls remain).
CRASH = f"RuntimeError: {HOSTILE['markup']} {HOSTILE['bidi']} {HOSTILE['osc52-bel']}"


def _screen_text(app) -> str:
    """Every character on screen, as the terminal would get them."""
    from rich.console import Console

    console = Console(record=True, width=200, color_system=None, file=open(os.devnull, "w"))  # noqa: SIM115
    console.print(app.screen._compositor.render_update(full=True))
    return console.export_text()


def test_tui_header_events_and_gpu_panel() -> None:
    from monitor.tui.app import make_app

    clock = FakeClock(1_800_000_000.0)
    app = make_app(_hostile_session(clock), handle_signals=False)

    async def run() -> str:
        async with app.run_test(size=(200, 50)) as pilot:
            await pilot.pause()
            return _screen_text(app)

    text = asyncio.run(run())
    assert raw(text) == []
    assert "\\x1b]52;c;" in text  # the log's name in the header, the GPU's in its panel
    assert "[bold red]x[/]" in text and "\\u202eevil" in text  # the crash line, as text


def test_runs_table_cells_and_notifications() -> None:
    from test_multi import StaticRuns

    from monitor.tui.multi_app import make_multi_app

    clock = FakeClock(1_800_000_000.0)
    sessions = [_hostile_session(clock), _hostile_session(clock)]
    names = [f"a/{NAME}.log", "b/plain.log"]
    app = make_multi_app(lambda wake, notice: StaticRuns(sessions, names, clock))  # type: ignore[arg-type,return-value]

    async def run() -> tuple[str, list[str]]:
        async with app.run_test(size=(200, 50)) as pilot:
            app._noticed(f"{names[0]} was truncated {ALL}")  # as a feed's notice, told while draining
            await pilot.pause()
            await pilot.pause()
            return _screen_text(app), [str(n.message) for n in app._notifications]

    text, notices = asyncio.run(run())
    assert all(raw(c) == [] for c in run_row(names[0], sessions[0].snapshot()).cells())
    assert raw(text) == [] and "\\x1b]52;c;" in text  # the table's run cell
    assert len(notices) == 1 and raw(notices[0]) == [] and "was truncated \\x1b]52;c;" in notices[0]


def test_metrics_page_labels() -> None:
    """The /metrics page is read with curl in a terminal too."""
    from monitor.sources.metrics import render

    snap = Session(Options(source=f"/runs/{NAME}.log"), FakeClock(1_800_000_000.0)).snapshot()
    page = render([snap])
    assert raw(page) == [] and "\\x1b]52;c;" in page
