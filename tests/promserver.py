"""Test helper: a real Prometheus server (Debian's `prometheus` binary) on loopback, started
with a temporary config and storage, asked through its HTTP API, and stopped afterwards."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

PROMETHEUS = shutil.which("prometheus")
SKIP_REASON = "the prometheus binary is not installed (Debian: apt-get install -y prometheus)"
#: Upper bound on waiting for Prometheus to start and scrape; the wait ends as soon as it has.
DEADLINE_S = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Prometheus:
    """One Prometheus process scraping `targets` (host:port on loopback) every second."""

    def __init__(self, workdir: Path, targets: dict[str, list[str]], metrics_path: str = "/metrics") -> None:
        assert PROMETHEUS is not None, SKIP_REASON
        self.workdir = workdir
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        jobs = "".join(
            f"  - job_name: {job}\n    metrics_path: {metrics_path}\n    static_configs:\n"
            f"      - targets: [{', '.join(repr(t) for t in hosts)}]\n"
            for job, hosts in targets.items()
        )
        config = workdir / "prometheus.yml"
        config.write_text("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n" + jobs)
        self.log_path = workdir / "prometheus.log"
        with open(self.log_path, "wb") as log:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={workdir / 'tsdb'}",
                 f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
                stdout=log, stderr=subprocess.STDOUT,
            )

    def query(self, promql: str) -> list[dict]:
        url = f"{self.base}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(url, timeout=5) as resp:
            body = json.load(resp)
        assert body["status"] == "success", body
        return body["data"]["result"]

    def wait_for(self, promql: str) -> list[dict]:
        """Poll (bounded by DEADLINE_S) until `promql` returns something."""
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                result = self.query(promql)
            except OSError:  # not listening yet
                result = []
            if result:
                return result
            time.sleep(0.25)
        log = self.log_path.read_text(errors="replace")[-2000:]
        raise AssertionError(f"Prometheus never returned {promql} within {DEADLINE_S} s; its log:\n{log}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
