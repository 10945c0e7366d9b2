"""`--gpu-source` endpoints that drip, flood or never answer (served on 127.0.0.1, bounded in
time): every request has a total deadline and a size cap, endpoints are sampled independently,
and neither --once nor --jsonl waits on the network to quit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from badserver import BadServer
from conftest import DATA
from test_dcgm import Exporter

from monitor.sources.dcgm import FetchError, http_get, open_dcgm
from monitor.sources.problems import GpuLost

ROOT = Path(__file__).resolve().parent.parent
SCRAPE_A = (DATA / "dcgm_exporter_h100x2_a.txt").read_text()
T0 = 1_800_000_000.0


@pytest.fixture
def servers() -> Iterator:
    started: list = []

    def start(kind: str, **kw) -> BadServer:
        started.append(BadServer(kind, **kw))
        return started[-1]

    yield start
    for s in started:
        s.close()


@pytest.mark.parametrize("kind", ["drip-headers", "drip-body"])
def test_a_dripping_server_is_cut_off_at_the_deadline(servers, kind: str) -> None:
    server = servers(kind)
    start = time.monotonic()
    with pytest.raises(FetchError, match=r"no complete answer within 0\.6 s"):
        http_get(server.url, 0.6)
    assert time.monotonic() - start < 3.0  # 0.6 s deadline; a per-read timeout would never end


@pytest.mark.parametrize("content_length", [False, True])
def test_a_huge_answer_is_capped_and_said(servers, content_length: bool) -> None:
    server = servers("huge", content_length=content_length)
    with pytest.raises(FetchError, match=r"over the 1 MiB cap"):
        http_get(server.url, 10.0, max_bytes=1 << 20)
    time.sleep(0.1)
    assert server.sent_bytes < 16 << 20  # the client stopped reading long before 64 MiB


def test_a_slow_endpoint_never_hides_a_good_one(servers) -> None:
    slow = servers("drip-body")
    good = Exporter([SCRAPE_A])
    errors: list[GpuLost] = []
    source = open_dcgm([slow.url, good.url], on_error=errors.append)
    source.timeout_s = 0.5
    try:
        for k in range(3):
            start = time.monotonic()
            assert len(source.poll(T0 + k)) == 2  # the good node's two GPUs, every time
            assert time.monotonic() - start < 2.5
        assert errors == [GpuLost(slow.url, "no complete answer within 0.5 s")] or errors[0].where == slow.url
        assert all(e.where != good.url for e in errors)
    finally:
        source.close()
        good.close()


def test_the_huge_endpoint_is_reported_and_the_good_one_sampled(servers) -> None:
    huge = servers("huge")
    good = Exporter([SCRAPE_A])
    errors: list[GpuLost] = []
    source = open_dcgm([huge.url, good.url], on_error=errors.append)
    try:
        assert len(source.poll(T0)) == 2
        assert errors == [GpuLost(huge.url, "answer over the 4 MiB cap: not read further")]
    finally:
        source.close()
        good.close()


def _nanowatch(*args: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "monitor", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def test_once_with_a_dripping_endpoint_ends_by_the_deadline(servers, tmp_path: Path) -> None:
    slow = servers("drip-body")
    log = tmp_path / "run.log"
    log.write_text("iter 0: loss 4.0000, time 100.00ms, mfu 10.00%\n")
    start = time.monotonic()
    proc = _nanowatch(str(log), "--once", "--gpu-source", slow.url)
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0 and "iter 0" in out
    assert "no complete answer within 5 s" in out
    assert time.monotonic() - start < 15  # 5 s deadline + start-up; it used to hang for ever


def test_jsonl_quits_at_once_while_an_endpoint_drips(servers, tmp_path: Path) -> None:
    slow = servers("drip-headers")
    log = tmp_path / "run.log"
    log.write_text("iter 0: loss 4.0000, time 100.00ms, mfu 10.00%\n")
    proc = _nanowatch(str(log), "--jsonl", "--gpu-source", slow.url)
    try:
        assert proc.stdout is not None
        proc.stdout.readline()  # the first record: following, the sampler asking the endpoint
        time.sleep(0.5)
        start = time.monotonic()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 130
        assert time.monotonic() - start < 3.0  # no wait for the request still in flight
    finally:
        proc.kill()
        proc.communicate()
