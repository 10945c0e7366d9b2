"""The metrics server under abuse: half-sent requests hold no unbounded threads and time out,
running out of file descriptors does not spin a core, and malformed or hostile requests get an
HTTP error at once, never a hang or a dead server."""

from __future__ import annotations

import errno
import os
import select
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
        # three times the clients it admits: past the listen queue (socketserver's 5), each eighth
        # connection waits a second for the kernel to retry it, so not more
        for _ in range(3 * metrics.MAX_CLIENTS):
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


#: Requests no scraper sends, each answered at once with this status; the server goes on.
HOSTILE_REQUESTS = {
    "post": (b"POST /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", b"501"),
    "options": (b"OPTIONS * HTTP/1.0\r\n\r\n", b"501"),
    "control characters in the path": (b"GET /\x1b[31mred\x07 HTTP/1.0\r\n\r\n", b"404"),
    "a path of 70 kB": (b"GET /" + b"a" * 70_000 + b" HTTP/1.0\r\n\r\n", b"414"),
    "200 headers": (b"GET /metrics HTTP/1.0\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(200)) + b"\r\n", b"431"),
    "a header of 70 kB": (b"GET /metrics HTTP/1.0\r\nX: " + b"y" * 70_000 + b"\r\n\r\n", b"431"),
    "binary": (bytes(range(1, 256)) * 4, b"400"),
    "HTTP/9.9": (b"GET /metrics HTTP/9.9\r\n\r\n", b"505"),
    "a header in the path": (b"GET /metrics%0d%0aSet-Cookie:x HTTP/1.0\r\n\r\n", b"404"),
    "an absolute URI": (b"GET http://elsewhere/metrics HTTP/1.0\r\n\r\n", b"404"),
    "a bad Accept": (b"GET /metrics HTTP/1.0\r\nAccept: application/openmetrics-text; version=99; x=\xff\r\n\r\n",
                     b"200"),
    "HEAD": (b"HEAD /metrics HTTP/1.0\r\n\r\n", b"200"),
}


def _ask(port: int, request: bytes) -> bytes:
    """The server's whole answer to `request`; b"" where it closed the connection without one.

    A server that closes at once may do so before the request is written or half-closed: sending
    then fails (EPIPE, ECONNRESET, ENOTCONN), which is that same answer, not a fault of the test.
    """
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
        try:
            c.sendall(request)
            c.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass
        except OSError as e:
            if e.errno != errno.ENOTCONN:
                raise
        try:
            while chunk := c.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
    return answer


@pytest.mark.parametrize("case", sorted(HOSTILE_REQUESTS))
def test_a_hostile_request_gets_an_http_error_at_once_and_the_server_goes_on(case: str) -> None:
    request, status = HOSTILE_REQUESTS[case]
    server = MetricsServer(SnapshotBoard(), port=0).start()
    try:
        answer = _ask(server.port, request)  # within the socket's 5 s: no wait for the 10 s deadline
        # a request whose version cannot be read is answered as HTTP/0.9 (http.server): the page alone
        code = answer.split(b" ")[1] if answer.startswith(b"HTTP/") else answer.partition(b"Error code: ")[2][:3]
        assert code == status, answer[:200]
        assert b"\x1b" not in answer and b"Set-Cookie" not in answer.split(b"\r\n\r\n")[0]
        assert b"Python/" not in answer and b"BaseHTTP" not in answer  # no versions for a scanner
        if case == "HEAD":
            head, _, body = answer.partition(b"\r\n\r\n")
            assert body == b"" and b"Content-Length:" in head
        with urllib.request.urlopen(server.url, timeout=5) as resp:
            assert resp.status == 200
    finally:
        server.close()


def test_clients_that_send_nothing_do_not_starve_a_scrape() -> None:
    server = MetricsServer(SnapshotBoard(), port=0).start()
    silent = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(metrics.MAX_CLIENTS)]
    dripping = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    dripping.sendall(b"GET /metr")  # half a request line, the rest never comes
    try:
        for _ in range(3):  # a scrape takes the slot of the oldest idle client, long before its deadline
            with urllib.request.urlopen(server.url, timeout=5) as resp:
                assert resp.status == 200
        # The oldest idle ones were dropped for the dripping client and the first scrape (a later
        # scrape may take the slot the one before gave back) long before their deadline (10 s):
        # they read end-of-stream within 5 s, waited for all together, not 5 s each.
        waiting, dropped, deadline = [*silent, dripping], 0, time.monotonic() + 5
        while dropped < 2 and (left := deadline - time.monotonic()) > 0:
            for c in select.select(waiting, [], [], left)[0]:
                waiting.remove(c)
                dropped += c.recv(1) == b""
        assert dropped >= 2
    finally:
        for c in [*silent, dripping]:
            c.close()
        server.close()


def test_a_request_being_answered_is_never_dropped_for_a_newcomer(monkeypatch: pytest.MonkeyPatch) -> None:
    started, release = threading.Event(), threading.Event()
    encode = metrics.choose_encoder

    def slow_choose(accept: str):
        encoder, content_type = encode(accept)

        def slow(registry):
            started.set()
            release.wait(5)
            return encoder(registry)
        return slow, content_type

    monkeypatch.setattr(metrics, "choose_encoder", slow_choose)
    monkeypatch.setattr(metrics, "MAX_CLIENTS", 1)
    monkeypatch.setattr(metrics, "SLOT_WAIT_S", 0.1)
    server = MetricsServer(SnapshotBoard(), port=0).start()
    try:
        result: list[int] = []
        first = threading.Thread(target=lambda: result.append(urllib.request.urlopen(server.url, timeout=10).status))
        first.start()
        assert started.wait(5)
        answer = _ask(server.port, b"GET /metrics HTTP/1.0\r\n\r\n")  # no slot: closed at once
        release.set()
        first.join(10)
        assert answer == b"" and result == [200]
    finally:
        release.set()
        server.close()


def test_a_burst_of_connections_is_queued_by_the_kernel_not_refused_for_a_retry() -> None:
    # the accept loop is not running: only listen()'s backlog holds connections, and a connection
    # past it is left unanswered (its SYN dropped until a retry a second or more later)
    server = metrics._Server(("127.0.0.1", 0), metrics.CollectorRegistry())
    clients: list[socket.socket] = []
    try:
        port = server.server_address[1]
        for _ in range(20):
            c = socket.socket()
            c.setblocking(False)
            clients.append(c)
            c.connect_ex(("127.0.0.1", port))
        # loopback completes a queued handshake at once; one past the backlog waits for the SYN
        # retry (1 s on Linux): half a second tells the two apart
        _, writable, _ = select.select([], clients, [], 0.0)
        deadline = time.monotonic() + 0.5
        while len(writable) < len(clients) and time.monotonic() < deadline:
            time.sleep(0.02)
            _, writable, _ = select.select([], clients, [], 0.0)
        done = [c for c in writable if c.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0]
        assert len(done) == 20  # with socketserver's backlog of 5, six at most
    finally:
        for c in clients:
            c.close()
        server.server_close()
