"""Serve the latest Snapshot(s) as Prometheus / OpenMetrics text (`--metrics-port`).

ADAPTER ring: imports prometheus-client and the PURE core, never textual. Rendering happens on
scrape, from frozen Snapshots the front end published; nothing here reads a log or a clock.
"""

from __future__ import annotations

import contextlib
import errno
import math
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily, Metric, StateSetMetricFamily
from prometheus_client.exposition import choose_encoder

from monitor.core.sanitise import clean, clean_name
from monitor.core.snapshot import STATUSES, Snapshot

#: Loopback unless the user asks otherwise: a training box should not publish to its network by accident.
DEFAULT_ADDR = "127.0.0.1"
PREFIX = "nanowatch"
#: Every series carries these, so one Prometheus can tell apart every run of a cluster.
LABELS = ("log", "run", "format")


class MetricsError(Exception):
    """The metrics endpoint could not start; the message is one line for stderr."""


@dataclass(frozen=True, slots=True)
class Gauge:
    """One Snapshot field (or a value computed from it) exported as a gauge."""

    name: str
    field: str | Callable[[Snapshot], object]
    help: str
    unit: str = ""

    def value(self, snap: Snapshot) -> float | None:
        raw = self.field(snap) if callable(self.field) else getattr(snap, self.field)
        return _number(raw)


# Names follow Prometheus conventions: base units, unit as suffix, `_ratio` for 0..1.
GAUGES = (
    Gauge("progress_ratio", "progress", "Fraction of the planned iterations done (0..1)."),
    Gauge("iteration", "iter", "Last iteration the log printed."),
    Gauge("max_iterations", "max_iters", "Planned last iteration (from the log, a flag or the default)."),
    Gauge("eta_finish_timestamp_seconds", "eta_finish", "Predicted finish time (Unix epoch).", "seconds"),
    Gauge("eta_remaining_seconds", "eta_remaining_s", "Predicted time left.", "seconds"),
    Gauge("eta_low_timestamp_seconds", "eta_low", "Early end of the finish-time band (Unix epoch).", "seconds"),
    Gauge("eta_high_timestamp_seconds", "eta_high", "Late end of the finish-time band (Unix epoch).", "seconds"),
    Gauge("loss", "loss", "Last training loss."),
    Gauge("val_loss", "val_loss", "Last validation loss."),
    Gauge("step_time_seconds", "step_time_s", "Steady time per iteration (warm-up excluded).", "seconds"),
    Gauge("eval_time_seconds", "eval_time_s", "Time one evaluation pause takes.", "seconds"),
    Gauge("mfu_ratio", "mfu", "Model FLOPs utilisation as the log prints it."),
    Gauge("mfu_gpu_ratio", "mfu_gpu", "Model FLOPs utilisation against the detected GPU's peak."),
    Gauge("tokens_per_iteration", "tokens_per_iter", "Tokens per iteration."),
    Gauge("tokens_seen", "tokens_seen", "Tokens trained on so far."),
    Gauge("tokens_planned", "tokens_total", "Tokens the whole run will train on."),
    Gauge("gpu_count", "gpu_count", "GPUs of the run."),
    Gauge("power_watts", "power_w", "Power drawn by the run's GPUs now.", "watts"),
    Gauge("vram_used_bytes", "vram_used_bytes", "GPU memory in use on the run's GPUs.", "bytes"),
    Gauge("vram_peak_bytes", "vram_peak_bytes", "Peak GPU memory in use seen so far.", "bytes"),
    Gauge("vram_total_bytes", "vram_total_bytes", "GPU memory of the run's GPUs.", "bytes"),
    Gauge("energy_joules", "energy_j", "GPU energy used since the run started.", "joules"),
    Gauge("energy_projected_joules", "energy_final_j", "GPU energy projected to the finish.", "joules"),
    Gauge("cpu_energy_joules", "cpu_energy_j", "Host CPU energy (RAPL package + DRAM) since the run started.", "joules"),
    Gauge("last_update_timestamp_seconds", "t", "Time of the snapshot these values come from.", "seconds"),
    Gauge("warnings", lambda snap: len(snap.warnings), "Warnings the run has now (the summary lists them)."),
)


class SnapshotBoard:
    """The latest Snapshot of every log, published by the front end and read by the scrape thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._latest: dict[str, Snapshot] = {}

    def publish(self, snapshot: Snapshot) -> None:
        with self._lock:
            self._latest[snapshot.source] = snapshot

    def snapshots(self) -> list[Snapshot]:
        with self._lock:
            return list(self._latest.values())


class SnapshotCollector:
    """A prometheus-client custom collector: renders whatever Snapshots `snapshots()` returns now."""

    def __init__(self, snapshots: Callable[[], Sequence[Snapshot]]) -> None:
        self._snapshots = snapshots

    def collect(self) -> Iterator[Metric]:
        snaps = list(self._snapshots())
        for gauge in GAUGES:
            family = GaugeMetricFamily(f"{PREFIX}_{gauge.name}", gauge.help, labels=LABELS, unit=gauge.unit)
            for snap in snaps:
                value = gauge.value(snap)
                if value is not None:  # unknown stays absent, never 0
                    family.add_metric(_labels(snap), value)
            yield family
        yield from _cost_families(snaps)
        status = StateSetMetricFamily(f"{PREFIX}_status", "What the run is doing.", labels=LABELS)
        info = InfoMetricFamily(f"{PREFIX}_run", "Facts about the run that are not numbers.", labels=LABELS)
        for snap in snaps:
            status.add_metric(_labels(snap), {s: s == snap.status for s in STATUSES})
            info.add_metric(_labels(snap), _info(snap))
        yield status
        yield info


def _cost_families(snaps: Iterable[Snapshot]) -> Iterator[Metric]:
    labels = (*LABELS, "currency")
    so_far = GaugeMetricFamily(f"{PREFIX}_cost", "Energy cost so far (energy × PUE × price).", labels=labels)
    final = GaugeMetricFamily(f"{PREFIX}_cost_projected", "Energy cost projected to the finish.", labels=labels)
    price = GaugeMetricFamily(f"{PREFIX}_price_per_kwh", "Price of one kWh.", labels=labels)
    for snap in snaps:
        key = [*_labels(snap), snap.currency or ""]
        for family, value in ((so_far, snap.cost), (final, snap.cost_final), (price, snap.price_per_kwh)):
            number = _number(value)
            if number is not None:
                family.add_metric(key, number)
    yield from (so_far, final, price)


def _labels(snap: Snapshot) -> list[str]:
    # the page is read with curl in a terminal too: a log's name goes through the sanitiser
    return [clean_name(snap.source), str(snap.run_index), snap.format or ""]


def _info(snap: Snapshot) -> dict[str, str]:
    return {
        "gpu_names": clean(",".join(snap.gpu_names or ())),
        "energy_source": snap.energy_source or "",
        "max_iters_source": snap.max_iters_source or "",
    }


def _number(value: object) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def registry_for(snapshots: Callable[[], Sequence[Snapshot]]) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(snapshots))  # type: ignore[arg-type]
    return registry


def render(snapshots: Sequence[Snapshot]) -> str:
    """The exposition text a scrape would get (Prometheus text format 0.0.4)."""
    return generate_latest(registry_for(lambda: snapshots)).decode()


#: Scrapes served at once. When all are taken, the oldest connection that has not sent its whole
#: request yet is dropped for the newcomer (a client that sends nothing cannot hold a slot others
#: need); when every slot is answering a request, the newcomer is closed (Prometheus retries).
MAX_CLIENTS = 8
#: Connections waiting to be accepted (see _Server.request_queue_size).
LISTEN_BACKLOG = 64
#: How long a newcomer waits for the slot of the dropped idle connection to come free.
SLOT_WAIT_S = 1.0
#: A client has this long in all to send its request and take the answer.
CLIENT_DEADLINE_S = 10.0
#: Pause of the accept loop when the process is out of file descriptors: no busy loop.
NO_FD_BACKOFF_S = 0.5


class _Handler(BaseHTTPRequestHandler):
    """GET /metrics (or /) answers the exposition text, OpenMetrics when asked for; HEAD its headers."""

    server: _Server
    server_version = "nanowatch"  # not http.server's "BaseHTTP/0.6 Python/3.11.7": no versions to a scanner
    sys_version = ""

    def setup(self) -> None:
        self.request.settimeout(CLIENT_DEADLINE_S)  # per read: an idle client is dropped
        super().setup()
        # and in all: a client that drips its request a byte at a time is cut off too
        self._deadline = threading.Timer(CLIENT_DEADLINE_S, _shut, (self.connection,))
        self._deadline.daemon = True
        self._deadline.start()

    def parse_request(self) -> bool:
        read = super().parse_request()  # the request line and headers, read in full or refused
        self.server.request_read(self.connection)  # either way no longer idle: it cannot be dropped
        return read

    def finish(self) -> None:
        self._deadline.cancel()
        with contextlib.suppress(OSError):
            super().finish()

    def do_GET(self) -> None:
        self._answer(body=True)

    def do_HEAD(self) -> None:
        """A health check's HEAD (`curl -I`): GET's status and headers, no body."""
        self._answer(body=False)

    def _answer(self, body: bool) -> None:
        if self.path.split("?")[0] not in ("/", "/metrics"):
            self.send_error(404)
            return
        encoder, content_type = choose_encoder(self.headers.get("Accept") or "")
        try:
            text = encoder(self.server.registry)
        except (UnicodeError, ValueError) as e:  # a value the format cannot hold: said to the scraper, not a dead thread
            self.send_error(500, explain=clean(f"{type(e).__name__}: {e}", 200))
            return
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        if body:
            self.wfile.write(text)

    def log_message(self, format: str, *args: object) -> None:
        pass  # a scrape every few seconds is not news


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


class _Server(socketserver.TCPServer):
    """At most MAX_CLIENTS connections, each on a daemon thread, an idle one dropped for a newcomer;
    out of file descriptors, the accept loop pauses instead of spinning on a listening socket it
    cannot accept from."""

    allow_reuse_address = True
    daemon_threads = True
    #: Connections the kernel completes before the accept loop takes them (listen's backlog).
    #: socketserver's 5 makes a burst of clients (several Prometheus servers, a dashboard's
    #: panels) wait for the kernel's SYN retry, a second and more each, past the sixth.
    request_queue_size = LISTEN_BACKLOG

    def __init__(self, address: tuple[str, int], registry: CollectorRegistry) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.registry = registry
        self._slots = threading.BoundedSemaphore(MAX_CLIENTS)
        self._idle_lock = threading.Lock()
        self._idle: dict[socket.socket, None] = {}  # connections still sending their request, oldest first
        super().__init__(address, _Handler)

    def get_request(self) -> tuple[socket.socket, object]:
        try:
            return super().get_request()
        except OSError as e:
            if e.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                time.sleep(NO_FD_BACKOFF_S)
            raise  # socketserver drops this attempt and goes back to select()

    def process_request(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        if not self._slots.acquire(blocking=False) and not (self._drop_oldest_idle()
                                                            and self._slots.acquire(timeout=SLOT_WAIT_S)):
            self.shutdown_request(request)
            return
        with self._idle_lock:
            self._idle[request] = None
        try:
            threading.Thread(target=self._serve_one, args=(request, client_address), daemon=True).start()
        except RuntimeError:  # no thread can start now (threads-max, `ulimit -v`): refuse this one, go on
            self.request_read(request)
            self.shutdown_request(request)
            self._slots.release()

    def request_read(self, request: socket.socket) -> None:
        """The handler has the request line and headers (or gave up on them): not idle any more."""
        with self._idle_lock:
            self._idle.pop(request, None)

    def _drop_oldest_idle(self) -> bool:
        with self._idle_lock:
            oldest = next(iter(self._idle), None)
            if oldest is None:
                return False
            del self._idle[oldest]
        _shut(oldest)  # its handler reads end-of-stream, ends, and gives its slot back
        return True

    def _serve_one(self, request: socket.socket, client_address: object) -> None:
        try:
            self.finish_request(request, client_address)
        except OSError:
            pass  # the client went away or was cut off at its deadline: nothing to tell
        finally:
            self.request_read(request)
            self.shutdown_request(request)
            self._slots.release()


class MetricsServer:
    """The HTTP endpoint: `/metrics` on `addr:port`, served from a daemon thread; at most
    MAX_CLIENTS scrapes at once, each within CLIENT_DEADLINE_S."""

    def __init__(self, board: SnapshotBoard, port: int, addr: str = DEFAULT_ADDR) -> None:
        self.board = board
        self.port = port
        self.addr = addr
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> MetricsServer:
        try:
            server = _Server((self.addr, self.port), registry_for(self.board.snapshots))
        except OSError as e:
            raise MetricsError(f"cannot serve metrics on {self.addr}:{self.port}: {e.strerror or e}") from None
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="nanowatch-metrics", daemon=True)
        self._thread.start()
        self.port = server.server_address[1]  # the real one when asked for port 0
        return self

    @property
    def url(self) -> str:
        host = f"[{self.addr}]" if ":" in self.addr else self.addr
        return f"http://{host}:{self.port}/metrics"

    def close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
