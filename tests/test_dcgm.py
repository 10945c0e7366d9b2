"""`--gpu-source`: GPU samples from recorded dcgm-exporter pages (2 × H100, two scrapes 10 s
apart) served on loopback, directly and through a real Prometheus server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import DATA, SAMPLES
from promserver import PROMETHEUS, SKIP_REASON, Prometheus

from monitor.core.telemetry import Telemetry
from monitor.sources.dcgm import (
    ENERGY,
    POWER,
    Endpoint,
    FetchError,
    GpuSourceError,
    http_get,
    open_dcgm,
    parse_endpoint,
    parse_exposition,
    parse_query,
    query_url,
)
from monitor.sources.gpu import GpuSampler
from monitor.sources.problems import GpuLost, GpuProblem

SCRAPE_A = (DATA / "dcgm_exporter_h100x2_a.txt").read_text()
SCRAPE_B = (DATA / "dcgm_exporter_h100x2_b.txt").read_text()
UUID0 = "GPU-5fd4f087-86f3-7a43-b711-4771313afc50"
UUID1 = "GPU-a3c1e9d2-0b7f-4c6e-9f12-8e4d2b7a61c3"
MIB = 2**20
T0 = 1_800_000_000.0


def other_node(text: str) -> str:
    """The same recording as if from a second node: other host name, other GPU UUIDs."""
    return text.replace("gpu-node-07", "gpu-node-08").replace("GPU-5fd4", "GPU-9e21").replace("GPU-a3c1", "GPU-77b0")


class Exporter:
    """A tiny dcgm-exporter stand-in on loopback: each GET of /metrics answers the next page
    of `pages` (the last one repeats); `status` other than 200 answers an error instead, and
    `cut_short` promises more bytes than it sends."""

    def __init__(self, pages: list[str]) -> None:
        self.pages = list(pages)
        self.status = 200
        self.cut_short = False
        self.hits = 0
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                exporter.hits += 1
                if self.path != "/metrics" or exporter.status != 200:
                    self.send_error(404 if self.path != "/metrics" else exporter.status)
                    return
                page = exporter.pages[0] if len(exporter.pages) == 1 else exporter.pages.pop(0)
                body = page.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                self.send_header("Content-Length", str(len(body) + (1000 if exporter.cut_short else 0)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass  # keep the test output clean

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    @property
    def url(self) -> str:
        return f"http://{self.address}/metrics"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def exporter() -> Iterator:
    started: list[Exporter] = []

    def start(*pages: str) -> Exporter:
        started.append(Exporter(list(pages)))
        return started[-1]

    yield start
    for e in started:
        e.close()


# --- parsing -------------------------------------------------------------------------------


def test_recorded_page_parses_to_the_fields_of_both_gpus() -> None:
    readings = parse_exposition(SCRAPE_A)
    by = {(r.field, r.labels["gpu"]): r for r in readings}
    assert by[(POWER, "0")].value == 612.384
    assert by[(ENERGY, "1")].value == 4698120455
    assert by[(POWER, "0")].labels["UUID"] == UUID0
    assert by[(POWER, "1")].labels["Hostname"] == "gpu-node-07"
    assert by[(POWER, "1")].labels["modelName"] == "NVIDIA H100 80GB HBM3"
    assert by[(POWER, "1")].labels["DCGM_FI_DRIVER_VERSION"] == "550.54.15"
    assert {r.field for r in readings} == {POWER, ENERGY, "DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_FB_FREE",
                                          "DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_GPU_TEMP"}


def test_garbage_is_a_reason_not_a_crash() -> None:
    with pytest.raises(FetchError, match="not Prometheus metrics text"):
        parse_exposition('DCGM_FI_DEV_POWER_USAGE{gpu="0" 12\n')
    with pytest.raises(FetchError, match="not a Prometheus query answer"):
        parse_query(POWER, "<html>proxy error</html>")
    with pytest.raises(FetchError, match="bad_data"):
        parse_query(POWER, '{"status":"error","errorType":"bad_data","error":"parse error"}')


def test_endpoints_and_selection() -> None:
    assert parse_endpoint("http://node:9400").url == "http://node:9400/metrics"
    e = parse_endpoint("http://node:9400/metrics#gpu=0,1&Hostname=node")
    assert e.select == (("Hostname", frozenset({"node"})), ("gpu", frozenset({"0", "1"})))
    assert e.matches({"gpu": "1", "Hostname": "node"}) and not e.matches({"gpu": "2", "Hostname": "node"})
    assert parse_endpoint("http://node:9400", gpus=[3]).select == (("gpu", frozenset({"3"})),)
    assert parse_endpoint("http://node:9400#gpu=1", gpus=[3]).select == (("gpu", frozenset({"1"})),)
    p = parse_endpoint("prom+https://prom.example:9090/#Hostname=a,b")
    assert (p.url, p.prometheus, p.name) == ("https://prom.example:9090", True, "prom+https://prom.example:9090")
    for bad in ("node:9400", "ftp://node/metrics", "http://node:9400#gpu", "http://node#1gpu=0"):
        with pytest.raises(GpuSourceError):
            parse_endpoint(bad)


def test_prometheus_queries_carry_the_selection_as_matchers() -> None:
    e = Endpoint("http://prom:9090", True, (("Hostname", frozenset({"a", "b.c"})), ("gpu", frozenset({"0"}))))
    url = query_url(e.url, POWER, e)
    assert url.startswith("http://prom:9090/api/v1/query?query=")
    from urllib.parse import parse_qs, urlsplit

    assert parse_qs(urlsplit(url).query)["query"] == ['DCGM_FI_DEV_POWER_USAGE{Hostname=~"a|b\\\\.c",gpu="0"}']


# --- sampling from an exporter on loopback -------------------------------------------------


def test_two_scrapes_give_samples_and_counter_energy(exporter) -> None:
    node = exporter(SCRAPE_A, SCRAPE_B)
    source = open_dcgm([node.url])
    first, second = source.poll(T0), source.poll(T0 + 10)
    assert [s.index for s in first] == [0, 1]
    g0 = first[0]
    assert (g0.t, g0.name, g0.power_w, g0.util_pct, g0.temp_c) == (T0, "NVIDIA H100 80GB HBM3", 612.384, 100, 61)
    assert g0.energy_j == 4812345.678
    assert g0.vram_used_bytes == 61234 * MIB
    assert g0.vram_total_bytes == (61234 + 19795) * MIB
    assert second[1].power_w == 603.551
    telemetry = Telemetry()
    telemetry.add(first + second)
    reading = telemetry.energy(T0, T0 + 10)
    assert reading is not None and reading.source == "nvml-counter"
    assert reading.energy_j == pytest.approx((4818398163 - 4812345678 + 4704077720 - 4698120455) / 1000)
    assert telemetry.total("power_w") == pytest.approx(598.113 + 603.551)


def test_select_one_gpu_by_index_or_uuid(exporter) -> None:
    node = exporter(SCRAPE_A)
    by_index = open_dcgm([node.url], gpus=[1]).poll(T0)
    by_uuid = open_dcgm([f"{node.url}#UUID={UUID1}"]).poll(T0)
    assert [s.power_w for s in by_index] == [s.power_w for s in by_uuid] == [587.902]


def test_several_nodes_sum_and_never_share_an_index(exporter) -> None:
    a, b = exporter(SCRAPE_A, SCRAPE_B), exporter(other_node(SCRAPE_A), other_node(SCRAPE_B))
    a_again = exporter(SCRAPE_A, SCRAPE_B)  # node a under a second name: its GPUs must not count twice
    source = open_dcgm([a.url, b.url, a_again.url])
    try:
        first, second = source.poll(T0), source.poll(T0 + 10)
    finally:
        source.close()
    assert [s.index for s in first] == [0, 1, 2, 3]
    telemetry = Telemetry()
    telemetry.add(first + second)
    one_node_j = (4818398163 - 4812345678 + 4704077720 - 4698120455) / 1000
    assert telemetry.energy(T0, T0 + 10).energy_j == pytest.approx(2 * one_node_j)  # type: ignore[union-attr]
    assert telemetry.total("vram_used_bytes") == 2 * (61234 + 61232) * MIB


def test_errors_are_one_line_reasons_and_sampling_goes_on(exporter) -> None:
    node = exporter(SCRAPE_A)
    errors: list[GpuProblem] = []
    dead = f"http://127.0.0.1:{_closed_port()}/metrics"
    source = open_dcgm([node.url, dead], on_error=errors.append)
    try:
        assert len(source.poll(T0)) == 2  # the live node still counts
        assert len(errors) == 1 and errors[0].where == dead and "\n" not in errors[0].reason
        source.poll(T0 + 1)
        assert len(errors) == 1  # the same reason is said once
        node.status = 503
        assert source.poll(T0 + 2) == []
        assert errors[-1] == GpuLost(node.url, "HTTP 503 Service Unavailable")
        node.status = 200
        assert len(source.poll(T0 + 3)) == 2
        assert node.url not in source.problems
    finally:
        source.close()


def test_a_reply_cut_short_is_a_reason(exporter) -> None:
    node = exporter(SCRAPE_A)
    node.cut_short = True
    errors: list[GpuProblem] = []
    assert open_dcgm([node.url], on_error=errors.append).poll(T0) == []
    assert errors == [GpuLost(node.url, "bad HTTP reply (IncompleteRead)")]


def test_gpus_without_uuid_or_hostname_stay_apart_by_endpoint(exporter) -> None:
    def bare(text: str) -> str:
        import re

        return re.sub(r'UUID="[^"]*",|,Hostname="[^"]*"', "", text)

    a, b = exporter(bare(SCRAPE_A)), exporter(bare(SCRAPE_A))
    source = open_dcgm([a.url, b.url])
    try:
        assert [s.index for s in source.poll(T0)] == [0, 1, 2, 3]
    finally:
        source.close()


def test_selection_that_matches_nothing_is_said(exporter) -> None:
    node = exporter(SCRAPE_A)
    errors: list[GpuProblem] = []
    source = open_dcgm([f"{node.url}#Hostname=gpu-node-99"], on_error=errors.append)
    assert source.poll(T0) == []
    assert errors == [GpuLost(node.url, "no GPU matches Hostname=gpu-node-99")]


def test_through_the_sampler_thread(exporter) -> None:
    node = exporter(SCRAPE_A)
    got: list[int] = []
    errors: list[GpuProblem] = []
    sampler = GpuSampler(open_dcgm([node.url]), interval_s=1.0, clock=lambda: T0,
                         on_samples=lambda s: got.extend(x.index for x in s), on_error=errors.append)
    assert sampler.tick() and got == [0, 1] and errors == []


def test_http_get_reasons() -> None:
    with pytest.raises(FetchError) as err:
        http_get(f"http://127.0.0.1:{_closed_port()}/metrics", 2.0)
    assert "refused" in str(err.value).lower()


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again on return: nothing listens there


# --- through a real Prometheus server ------------------------------------------------------


@pytest.mark.skipif(PROMETHEUS is None, reason=SKIP_REASON)
def test_prometheus_query_api_over_recorded_exporters(exporter, tmp_path: Path) -> None:
    a, b = exporter(SCRAPE_A), exporter(other_node(SCRAPE_A))
    prom = Prometheus(tmp_path, {"dcgm": [a.address, b.address]})
    try:
        prom.wait_for("count(DCGM_FI_DEV_POWER_USAGE) == 4")
        errors: list[GpuProblem] = []
        source = open_dcgm([f"prom+{prom.base}#Hostname=gpu-node-08"], on_error=errors.append)
        samples = source.poll(T0)
        assert errors == []
        assert [s.power_w for s in samples] == [612.384, 587.902]
        assert [s.energy_j for s in samples] == [4812345.678, 4698120.455]
        assert [s.vram_used_bytes for s in samples] == [61234 * MIB, 61232 * MIB]
        everything = open_dcgm([f"prom+{prom.base}"]).poll(T0)
        assert len(everything) == 4
        assert sum(s.power_w or 0 for s in everything) == pytest.approx(2 * (612.384 + 587.902))
    finally:
        prom.stop()


# --- from the command line -----------------------------------------------------------------


def test_once_json_sums_the_selected_gpus(exporter, capsys) -> None:
    from monitor.cli import main

    node = exporter(SCRAPE_A)
    log = str(SAMPLES / "recorded" / "compiled" / "run.log")
    assert main([log, "--once", "--json", "--gpu-source", node.url]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["gpu_count"] == 2
    assert record["gpu_names"] == ["NVIDIA H100 80GB HBM3"] * 2
    assert record["power_w"] == pytest.approx(612.384 + 587.902)
    assert record["vram_used_bytes"] == (61234 + 61232) * MIB
    assert main([log, "--once", "--json", "--gpu-source", f"{node.url}#UUID={UUID0}"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert (record["gpu_count"], record["power_w"]) == (1, 612.384)


def test_once_says_why_there_is_no_gpu(capsys) -> None:
    from monitor.cli import main

    dead = f"http://127.0.0.1:{_closed_port()}/metrics"
    log = str(SAMPLES / "recorded" / "compiled" / "run.log")
    assert main([log, "--once", "--gpu-source", dead]) == 0
    gpu_line = [line for line in capsys.readouterr().out.splitlines() if line.strip().startswith("gpu ")]
    assert gpu_line == [f"  gpu       GPU telemetry unavailable: {dead}: Connection refused"]


def test_bad_gpu_source_is_a_usage_error(capsys) -> None:
    from monitor.cli import main

    assert main(["run.log", "--once", "--gpu-source", "node:9400"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nanowatch: error: --gpu-source 'node:9400'") and err.count("\n") == 1
    assert main(["replay", "run.log", "--gpu-source", "http://node:9400"]) == 2
    assert "replay" in capsys.readouterr().err
