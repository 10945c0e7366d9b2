"""`--metrics-port`: the Snapshot as Prometheus text, checked by parsing it back and by a real
Prometheus server (Debian's `prometheus`) that scrapes nanowatch on loopback."""

from __future__ import annotations

import socket
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from conftest import SAMPLES
from prometheus_client.parser import text_string_to_metric_families
from promserver import PROMETHEUS, SKIP_REASON, Prometheus, free_port

from monitor.core.report import Options
from monitor.core.snapshot import Snapshot
from monitor.inbox import FileTouched
from monitor.session import Session
from monitor.sources.logfile import read_lines
from monitor.sources.metrics import MetricsError, MetricsServer, SnapshotBoard, render

LOG = SAMPLES / "recorded" / "compiled" / "run.log"


def _snap(**kw: object) -> Snapshot:
    base: dict[str, object] = {"t": 1_800_000_000.0, "source": "/runs/a.log", "format": "nanogpt",
                               "status": "training", "run_index": 0, "price_per_kwh": 0.15, "currency": "EUR"}
    base.update(kw)
    return Snapshot(**base)  # type: ignore[arg-type]


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _value(text: str, name: str, **labels: str) -> float | None:
    for (n, lab), v in _samples(text).items():
        if n == name and set(labels.items()) <= set(lab):
            return v
    return None


def _session_snapshot(path: Path = LOG) -> Snapshot:
    session = Session(Options(source=str(path)), clock=lambda: 1_800_000_000.0)
    lines, _tail, mtime = read_lines(str(path))
    session.feed_many(lines)
    session.ingest([FileTouched(mtime)])
    return session.snapshot()


def test_known_fields_are_rendered_with_run_labels() -> None:
    snap = _snap(iter=1200, max_iters=5000, progress=0.24, loss=1.25, step_time_s=0.0144, eta_finish=1_800_000_300.0,
                 eta_remaining_s=300.0, energy_j=7.2e6, energy_final_j=3.0e7, cost=0.3, cost_final=1.25,
                 power_w=612.5, vram_used_bytes=2**33, gpu_names=("NVIDIA H100 80GB HBM3",), gpu_count=1,
                 energy_source="gpu-log", warnings=("loss is NaN/inf in 1 logged steps",))
    text = render([snap])
    labels = {"log": "/runs/a.log", "run": "0", "format": "nanogpt"}
    assert _value(text, "nanowatch_iteration", **labels) == 1200
    assert _value(text, "nanowatch_max_iterations", **labels) == 5000
    assert _value(text, "nanowatch_progress_ratio", **labels) == 0.24
    assert _value(text, "nanowatch_loss", **labels) == 1.25
    assert _value(text, "nanowatch_step_time_seconds", **labels) == 0.0144
    assert _value(text, "nanowatch_eta_finish_timestamp_seconds", **labels) == 1_800_000_300.0
    assert _value(text, "nanowatch_eta_remaining_seconds", **labels) == 300.0
    assert _value(text, "nanowatch_energy_joules", **labels) == 7.2e6
    assert _value(text, "nanowatch_energy_projected_joules", **labels) == 3.0e7
    assert _value(text, "nanowatch_power_watts", **labels) == 612.5
    assert _value(text, "nanowatch_vram_used_bytes", **labels) == 2**33
    assert _value(text, "nanowatch_cost", currency="EUR", **labels) == 0.3
    assert _value(text, "nanowatch_cost_projected", currency="EUR", **labels) == 1.25
    assert _value(text, "nanowatch_warnings", **labels) == 1
    assert _value(text, "nanowatch_status", nanowatch_status="training", **labels) == 1
    assert _value(text, "nanowatch_status", nanowatch_status="finished", **labels) == 0
    assert _value(text, "nanowatch_run_info", gpu_names="NVIDIA H100 80GB HBM3", energy_source="gpu-log") == 1


def test_unknown_is_absent_not_zero() -> None:
    text = render([_snap(status="starting")])
    names = {name for name, _ in _samples(text)}
    for absent in ("nanowatch_iteration", "nanowatch_loss", "nanowatch_eta_finish_timestamp_seconds",
                   "nanowatch_energy_joules", "nanowatch_cost", "nanowatch_power_watts"):
        assert absent not in names
    assert "nanowatch_status" in names
    assert _value(render([_snap(loss=float("nan"))]), "nanowatch_loss") is None


def test_several_logs_are_told_apart_by_labels() -> None:
    board = SnapshotBoard()
    board.publish(_snap(source="/a.log", iter=10))
    board.publish(_snap(source="/b.log", iter=20, run_index=2, format=None))
    board.publish(_snap(source="/a.log", iter=11))  # replaces the older one of the same log
    text = render(board.snapshots())
    assert _value(text, "nanowatch_iteration", log="/a.log") == 11
    assert _value(text, "nanowatch_iteration", log="/b.log", run="2", format="") == 20
    assert sum(1 for name, _ in _samples(text) if name == "nanowatch_iteration") == 2


def test_log_path_with_quotes_round_trips() -> None:
    odd = '/runs/a "quoted"\\path.log'
    assert _value(render([_snap(source=odd, iter=3)]), "nanowatch_iteration", log=odd) == 3


def test_server_serves_on_loopback_and_both_formats(serve) -> None:
    board = SnapshotBoard()
    server = serve(board)
    assert server.addr == "127.0.0.1"
    board.publish(_snap(iter=42))
    text = urllib.request.urlopen(server.url, timeout=5).read().decode()
    assert _value(text, "nanowatch_iteration") == 42
    board.publish(_snap(iter=43))  # rendered on scrape: the next scrape sees the new snapshot
    req = urllib.request.Request(server.url, headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        body = resp.read().decode()
        assert resp.headers["Content-Type"].startswith("application/openmetrics-text")
    assert body.rstrip().endswith("# EOF")
    assert "nanowatch_iteration" in body and " 43" in body
    assert "# UNIT nanowatch_eta_remaining_seconds seconds" in body


def test_port_in_use_is_a_one_line_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(MetricsError) as err:
            MetricsServer(SnapshotBoard(), port=port).start()
    assert str(port) in str(err.value) and "\n" not in str(err.value)


def test_snapshot_of_a_real_log_renders() -> None:
    snap = _session_snapshot()
    text = render([snap])
    assert _value(text, "nanowatch_iteration", log=str(LOG)) == snap.iter == 5000
    assert _value(text, "nanowatch_status", nanowatch_status="finished") == 1


# --- a real Prometheus server scraping nanowatch on loopback ---------------------------------


@pytest.fixture
def serve():
    """Start MetricsServers on loopback (port 0: any free one); close them after the test."""
    servers: list[MetricsServer] = []

    def start(board: SnapshotBoard) -> MetricsServer:
        servers.append(MetricsServer(board, port=0).start())
        return servers[-1]

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def prometheus(tmp_path: Path):
    """A starter for a real Prometheus scraping given loopback targets; stopped after the test."""
    if PROMETHEUS is None:
        pytest.skip(SKIP_REASON)
    started: list[Prometheus] = []

    def start(*targets: str) -> Prometheus:
        started.append(Prometheus(tmp_path, {"nanowatch": list(targets)}))
        return started[-1]

    yield start
    for prom in started:
        prom.stop()


def test_real_prometheus_scrapes_nanowatch(prometheus, serve) -> None:
    snap = _session_snapshot()
    other = _snap(source="/runs/b.log", iter=77, status="stalled", cost=0.5, energy_j=1.2e7)
    board = SnapshotBoard()
    board.publish(snap)
    board.publish(other)
    server = serve(board)
    prom = prometheus(f"127.0.0.1:{server.port}")
    result = prom.wait_for("nanowatch_iteration")
    by_log = {r["metric"]["log"]: float(r["value"][1]) for r in result}
    assert by_log == {str(LOG): 5000.0, "/runs/b.log": 77.0}
    assert {r["metric"]["job"] for r in result} == {"nanowatch"}
    up = prom.query('up{job="nanowatch"}')
    assert [float(r["value"][1]) for r in up] == [1.0]
    stalled = prom.query('nanowatch_status{nanowatch_status="stalled"} == 1')
    assert [r["metric"]["log"] for r in stalled] == ["/runs/b.log"]
    cost = prom.query('nanowatch_cost{currency="EUR"}')
    assert [float(r["value"][1]) for r in cost] == [0.5]
    kwh = prom.query("sum(nanowatch_energy_joules) / 3.6e6")
    assert float(kwh[0]["value"][1]) == pytest.approx(1.2e7 / 3.6e6)
    finished = prom.query(f'nanowatch_status{{log="{LOG}",nanowatch_status="finished"}}')
    assert [float(r["value"][1]) for r in finished] == [1.0]


def test_session_publishes_its_newest_run_only() -> None:
    board = SnapshotBoard()
    session = Session(Options(source="/runs/a.log"), clock=lambda: 1_800_000_000.0, on_snapshot=board.publish)
    session.feed("iter 10: loss 2.5000, time 14.40ms, mfu 22.00%", 1_799_999_999.0)
    session.snapshot(run_index=0)  # browsing a run: not what the endpoint reports
    assert board.snapshots() == []
    snap = session.snapshot()
    assert board.snapshots() == [snap]
    assert _value(render(board.snapshots()), "nanowatch_loss", log="/runs/a.log") == 2.5


def test_nanowatch_jsonl_serves_prometheus_while_following(prometheus, tmp_path: Path) -> None:
    """End to end: `nanowatch LOG --jsonl --metrics-port P` follows a growing log; a real
    Prometheus scrapes it and sees the new iteration."""
    log = tmp_path / "run.log"
    lines = LOG.read_bytes().splitlines(keepends=True)
    log.write_bytes(b"".join(lines[:60]))
    port = free_port()
    cmd = [sys.executable, "-m", "monitor", str(log), "--jsonl", "--no-gpu", "--interval", "0.2",
           "--metrics-port", str(port)]
    with open(tmp_path / "nanowatch.out", "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    try:
        prom = prometheus(f"127.0.0.1:{port}")
        first = prom.wait_for(f'nanowatch_iteration{{log="{log}"}}')
        first_iter = float(first[0]["value"][1])
        with open(log, "ab") as f:
            f.write(b"iter 4990: loss 0.8100, time 14.40ms, mfu 22.00%\n")
        moved = prom.wait_for(f'nanowatch_iteration{{log="{log}"}} == 4990')
        assert first_iter < 4990 and moved[0]["metric"]["format"] == "nanogpt"
        assert prom.query(f'nanowatch_max_iterations{{log="{log}"}}')[0]["value"][1] == "5000"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
