"""The metrics server under abuse: half-sent requests hold no unbounded threads and time out,
and running out of file descriptors does not spin a core."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from monitor.sources import metrics
from monitor.sources.metrics import MetricsServer, SnapshotBoard

ROOT = Path(__file__).resolve().parent.parent


def test_half_sent_requests_hold_bounded_threads_and_time_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metrics, "CLIENT_DEADLINE_S", 0.5)
    server = MetricsServer(SnapshotBoard(), port=0).start()
    before = threading.active_count()
    clients = []
    try:
        for _ in range(100):
            c = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            c.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")  # never finished
            clients.append(c)
        time.sleep(0.2)
        # a handler thread and its deadline timer per admitted client, no more
        assert threading.active_count() - before <= 2 * metrics.MAX_CLIENTS
        time.sleep(1.0)  # past the deadline: the slow ones were cut off
        with urllib.request.urlopen(server.url, timeout=5) as resp:
            assert resp.status == 200
        assert threading.active_count() - before <= 2
    finally:
        for c in clients:
            c.close()
        server.close()


SCRIPT = textwrap.dedent("""
    import os, resource, socket, sys, time
    from monitor.sources import metrics
    from monitor.sources.metrics import MetricsServer, SnapshotBoard
    tries = []
    accept = metrics._Server.get_request
    metrics._Server.get_request = lambda self: tries.append(1) or accept(self)
    server = MetricsServer(SnapshotBoard(), port=0).start()
    print(server.port, flush=True)
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
    held = []
    try:
        while True:
            held.append(os.open(os.devnull, os.O_RDONLY))
    except OSError:
        print("full", flush=True)
    sys.stdin.readline()  # the test has connected: accept() now fails with EMFILE
    time.sleep(2.0)
    print(len(tries), flush=True)
""")


def test_out_of_file_descriptors_does_not_spin() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT], env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdin is not None
        port = int(proc.stdout.readline())
        assert proc.stdout.readline().strip() == "full"
        client = socket.create_connection(("127.0.0.1", port), timeout=5)  # waits in the backlog
        proc.stdin.write("go\n")
        proc.stdin.flush()
        tries = int(proc.stdout.readline())
        client.close()
        assert 1 <= tries <= 10  # in 2 s, a pause of 0.5 s after each; a spinning loop tries thousands of times
    finally:
        proc.kill()
        proc.wait(timeout=10)
