"""A GpuSource that reads the run's GPUs from NVIDIA's DCGM exporter (one endpoint per node)
or from a Prometheus server that scrapes them (`--gpu-source URL`, repeatable).

ADAPTER ring: HTTP on the sampler's thread, prometheus-client's text parser; never textual.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

from monitor.core.sanitise import clean
from monitor.core.telemetry import GpuSample
from monitor.sources.fetch import Fetch, FetchError, http_get, shown_url
from monitor.sources.problems import REASON_CHARS, GpuLost
from monitor.sources.smicsv import MAX_GPU_INDEX, MAX_POWER_W, MAX_TEMP_C, gpu_name, vram, within

POWER = "DCGM_FI_DEV_POWER_USAGE"  # W
ENERGY = "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION"  # mJ since the driver loaded
FB_USED = "DCGM_FI_DEV_FB_USED"  # MiB
FB_FREE = "DCGM_FI_DEV_FB_FREE"  # MiB
FB_RESERVED = "DCGM_FI_DEV_FB_RESERVED"  # MiB; not in the default set, counted when present
UTIL = "DCGM_FI_DEV_GPU_UTIL"  # %
TEMP = "DCGM_FI_DEV_GPU_TEMP"  # C
POWER_LIMIT = "DCGM_FI_DEV_POWER_MGMT_LIMIT"  # W; not in the default set
FIELDS = (POWER, ENERGY, FB_USED, FB_FREE, FB_RESERVED, UTIL, TEMP, POWER_LIMIT)
#: Fields that MIG splits into one series per GPU instance of the same GPU: those add up.
PER_INSTANCE = (FB_USED, FB_FREE, FB_RESERVED)
MIB = 2**20
#: Total time one endpoint may take to answer a poll (all its requests together).
TIMEOUT_S = 5.0
SCHEMES = ("http", "https", "prom+http", "prom+https")
#: Longest DNS name (RFC 1035, 2.3.4).
MAX_HOST_CHARS = 253
#: Most series of one field an answer may hold: one per GPU (or MIG instance) of the GPUs asked
#: for, so a few hundred at most; a page or a query with more is not one run's GPUs (a whole
#: cluster through Prometheus, a hostile page) and would cost seconds of parsing at every poll.
MAX_SERIES = 1024


class GpuSourceError(ValueError):
    """A `--gpu-source` the command line cannot use; the message is one line."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One `--gpu-source`: a dcgm-exporter `/metrics` URL or a Prometheus base URL, and the
    labels that pick the run's GPUs from what it reports (`#gpu=0,1&Hostname=node1`)."""

    url: str
    prometheus: bool
    select: tuple[tuple[str, frozenset[str]], ...] = ()

    @property
    def name(self) -> str:
        return ("prom+" if self.prometheus else "") + shown_url(self.url)

    def matches(self, labels: dict[str, str]) -> bool:
        return all(labels.get(key) in values for key, values in self.select)


def parse_endpoint(text: str, gpus: Sequence[int] | None = None) -> Endpoint:
    """`http://node:9400/metrics#gpu=0,1`, `prom+http://prom:9090#Hostname=a,b`; `gpus`
    (from --gpus) selects by the `gpu` label where the URL does not say otherwise."""
    if not text.strip().isprintable():  # an escape's `[` would read as an IPv6 bracket below
        raise GpuSourceError(f"--gpu-source {shown_url(text)!r}: holds control characters; not a URL")
    try:
        parts = urllib.parse.urlsplit(text.strip())
    except ValueError:  # urllib's only reason here: "Invalid IPv6 URL"
        raise GpuSourceError(f"--gpu-source {shown_url(text)!r}: an IPv6 address goes whole in brackets, "
                             "as http://[::1]:9400/metrics") from None
    _port_checked(text, parts)
    if parts.scheme not in SCHEMES or not parts.netloc:
        raise GpuSourceError(f"--gpu-source {shown_url(text)!r}: expected http://HOST:9400/metrics or prom+http://HOST:9090")
    host = parts.hostname or ""
    if not 0 < len(host) <= MAX_HOST_CHARS or clean(host) != host or not host.isprintable() or " " in host:
        raise GpuSourceError(f"--gpu-source {shown_url(text)!r}: not a host name")
    select: dict[str, frozenset[str]] = {}
    for item in re.split(r"[&;]", parts.fragment):
        if not item.strip():
            continue
        key, sep, values = item.partition("=")
        names = frozenset(v.strip() for v in values.split(",") if v.strip())
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key.strip()) or not names:
            raise GpuSourceError(f"--gpu-source {shown_url(text)!r}: select GPUs as #LABEL=V1,V2 (e.g. #gpu=0,1&Hostname=node1)")
        select[key.strip()] = names
    if gpus and "gpu" not in select:
        select["gpu"] = frozenset(str(i) for i in gpus)
    prometheus = parts.scheme.startswith("prom+")
    scheme = parts.scheme.removeprefix("prom+")
    path = parts.path
    if not prometheus and path in ("", "/"):
        path = "/metrics"  # dcgm-exporter's only page
    url = urllib.parse.urlunsplit((scheme, parts.netloc, path.rstrip("/") if prometheus else path, parts.query, ""))
    return Endpoint(url, prometheus, tuple(sorted(select.items())))


def _port_checked(text: str, parts: urllib.parse.SplitResult) -> None:
    """GpuSourceError in our words for a port no request can use (urllib's `.port` raises
    "Port could not be cast to integer value as 'abc'" or "Port out of range 0-65535")."""
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        typed = parts.netloc.rpartition("@")[2].rpartition("]")[2].rpartition(":")[2]
        raise GpuSourceError(f"--gpu-source {shown_url(text)!r}: port {clean(typed, 20)!r} is not a port number "
                             "(1-65535, as in http://HOST:9400/metrics)")


@dataclass(frozen=True, slots=True)
class Reading:
    """One series of one scrape or query: a DCGM field of one GPU (or GPU instance)."""

    field: str
    labels: dict[str, str]
    value: float


def parse_exposition(text: str) -> list[Reading]:
    """The DCGM fields in a dcgm-exporter page (Prometheus text format)."""
    out = []
    try:
        for family in text_string_to_metric_families(_wanted_lines(text)):
            for sample in family.samples:
                # The parser names a counter's samples NAME_total (OpenMetrics style); DCGM does not.
                name = sample.name.removesuffix("_total") if sample.name not in FIELDS else sample.name
                if name in FIELDS:
                    out.append(Reading(name, dict(sample.labels), float(sample.value)))
    except (ValueError, TypeError, IndexError) as e:  # the parser's words quote the page: kept short
        raise FetchError(f"not Prometheus metrics text ({clean(e, REASON_CHARS)})") from None
    return out


_NAME = re.compile(r"^(?:# (?:HELP|TYPE) )?([A-Za-z_:][A-Za-z0-9_:]*)")


def _wanted_lines(text: str) -> str:
    """Only the families nanowatch reads: the parser is pure Python and a page has ~25 of them.
    Raises FetchError for a page with more than MAX_SERIES series of one field (see there)."""
    keep = []
    series = dict.fromkeys(FIELDS, 0)
    for line in text.splitlines():
        m = _NAME.match(line)
        if m is None or m.group(1) in FIELDS:  # blank lines and odd ones go to the parser, to be judged
            keep.append(line)
            if m is not None and not line.startswith("#"):
                series[m.group(1)] += 1
                if series[m.group(1)] > MAX_SERIES:
                    raise FetchError(_too_many(m.group(1), "a page of one node's dcgm-exporter"))
    return "\n".join(keep) + "\n"


def _too_many(field: str, want: str) -> str:
    return f"more than {MAX_SERIES} series of {field}: not one run's GPUs (expected {want})"


def query_url(base: str, field: str, endpoint: Endpoint) -> str:
    """An instant query for one field, with the GPU selection as PromQL label matchers."""
    matchers = []
    for key, values in endpoint.select:
        if len(values) == 1:
            matchers.append(f'{key}="{_promql_string(next(iter(values)))}"')
        else:
            alternatives = "|".join(re.escape(v) for v in sorted(values))
            matchers.append(f'{key}=~"{_promql_string(alternatives)}"')
    query = field + ("{" + ",".join(matchers) + "}" if matchers else "")
    return f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": query})


def _promql_string(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def parse_query(field: str, body: str) -> list[Reading]:
    """The vector a Prometheus instant query returned, as readings of `field`."""
    try:
        answer = json.loads(body)
        if answer.get("status") != "success":
            kind, error = clean(answer.get("errorType", "error"), 40), clean(answer.get("error", ""), REASON_CHARS)
            raise FetchError(f"Prometheus: {kind}: {error}".rstrip(": "))
        result = answer["data"]["result"]
        if len(result) > MAX_SERIES:
            raise FetchError(_too_many(field, "a query of the run's nodes: #Hostname=NODE1,NODE2"))
        return [Reading(field, {str(k): str(v) for k, v in r["metric"].items()}, float(r["value"][1])) for r in result]
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as e:
        raise FetchError(f"not a Prometheus query answer ({type(e).__name__}: {clean(e, REASON_CHARS)})") from None
    except RecursionError:  # json decodes nesting recursively: [[[[… deeper than Python's stack
        raise FetchError("not a Prometheus query answer (JSON nested too deep)") from None


class DcgmSource:
    """Samples the run's GPUs from dcgm-exporter endpoints or Prometheus servers.

    Each GPU (by UUID, else host and index) keeps one index for the whole session, in the
    order first seen, so GPUs of several nodes never share one. An endpoint that fails is
    reported through `on_error` once per new reason and skipped; the others go on, and the
    energy counter covers the gap when it answers again."""

    origin = "nvml"  # DCGM reads the GPUs through NVML: its energy is the NVML counter's

    def __init__(self, endpoints: Sequence[Endpoint], *, fetch: Fetch = http_get, timeout_s: float = TIMEOUT_S,
                 on_error: Callable[[GpuLost], None] | None = None) -> None:
        self.endpoints = list(endpoints)
        self.fetch = fetch
        self.timeout_s = timeout_s
        self.on_error = on_error
        self.status: str | None = None if self.endpoints else "no --gpu-source given"
        self.problems: dict[str, str] = {}  # endpoint name -> its current reason
        self._index: dict[tuple[str, ...], int] = {}
        self._asking: list[_Ask | None] = [None] * len(self.endpoints)
        self._quit = threading.Event()

    def poll(self, now: float) -> list[GpuSample]:
        """One sample of every endpoint that answers within `timeout_s`; returns within about
        that long whatever the others do."""
        results = self._ask_all()
        readings: list[tuple[int, Reading]] = []
        for order, (endpoint, result) in enumerate(zip(self.endpoints, results)):
            if result is None:
                self._problem(endpoint, f"no complete answer within {self.timeout_s:g} s; skipped until it answers")
                continue
            if isinstance(result, FetchError):
                self._problem(endpoint, str(result))
                continue
            mine = [r for r in result if endpoint.matches(r.labels)]
            if not mine:
                what = "no GPU matches " + _describe(endpoint.select) if endpoint.select and result else "no DCGM field"
                self._problem(endpoint, what)
                continue
            self._problem(endpoint, None)
            readings.extend((order, r) for r in mine)
        return self._samples(now, readings)

    def _read(self, endpoint: Endpoint, deadline: float) -> list[Reading] | FetchError:
        def get(url: str) -> str:
            left_s = deadline - time.monotonic()
            if left_s <= 0:
                raise FetchError(f"no complete answer within {self.timeout_s:g} s")
            return self.fetch(url, left_s)

        try:
            if not endpoint.prometheus:
                return parse_exposition(get(endpoint.url))
            out: list[Reading] = []
            for field in FIELDS:
                out.extend(parse_query(field, get(query_url(endpoint.url, field, endpoint))))
            return out
        except FetchError as e:
            return e

    def _ask_all(self) -> list[list[Reading] | FetchError | None]:
        """Every endpoint asked at once, each on its own daemon thread; None for one that has
        not answered by the deadline. Its thread is left to end by its own deadline and is not
        asked again until it has: at most one thread per endpoint, and quitting waits for none."""
        deadline = time.monotonic() + self.timeout_s
        for i, endpoint in enumerate(self.endpoints):
            if self._asking[i] is None:
                self._asking[i] = _Ask(self._read, endpoint, deadline)
        results: list[list[Reading] | FetchError | None] = []
        for i, ask in enumerate(self._asking):
            assert ask is not None
            # a little past the deadline: the fetch's own cut-off reports it better than we can
            while not ask.done.is_set() and not self._quit.is_set() and time.monotonic() < deadline + _GRACE_S:
                ask.done.wait(0.05)
            if ask.done.is_set():
                self._asking[i] = None
            results.append(ask.result)
        return results

    def interrupt(self) -> None:
        """Make a poll in progress return now (quitting waits on no endpoint)."""
        self._quit.set()

    def _problem(self, endpoint: Endpoint, reason: str | None) -> None:
        if reason is None:
            self.problems.pop(endpoint.name, None)
            return
        if self.problems.get(endpoint.name) != reason:
            self.problems[endpoint.name] = reason
            if self.on_error is not None:
                self.on_error(GpuLost(endpoint.name, reason))

    def _samples(self, now: float, readings: list[tuple[int, Reading]]) -> list[GpuSample]:
        gpus: dict[tuple[str, ...], dict[str, dict[str, float]]] = {}
        names: dict[tuple[str, ...], str | None] = {}
        order: dict[tuple[str, ...], tuple[int, str, int, str]] = {}
        for endpoint_order, r in readings:
            if not _gpu_label_ok(r.labels.get("gpu")):
                continue  # `gpu="-1"`: no GPU's series (smicsv takes indices 0..MAX_GPU_INDEX alike)
            key = _gpu_key(r.labels, endpoint_order)
            if not names.get(key):  # the name rides on any series, a NaN reading's too
                names[key] = gpu_name(r.labels.get("modelName"))
            if not math.isfinite(r.value):
                continue
            # One value per GPU instance: the same GPU scraped by two jobs must not count twice.
            fields = gpus.setdefault(key, {}).setdefault(r.field, {})
            fields.setdefault(r.labels.get("GPU_I_ID", ""), r.value)
            gpu = r.labels.get("gpu", "")
            order.setdefault(key, (endpoint_order, r.labels.get("Hostname", ""), _int(gpu), gpu))
        for key in sorted(gpus, key=order.__getitem__):
            self._index.setdefault(key, len(self._index))
        return [_sample(now, self._index[key], names[key], gpus[key]) for key in sorted(gpus, key=self._index.__getitem__)]

    def close(self) -> None:
        """Nothing to wait for: a request still running ends by its deadline on a daemon thread."""
        self._quit.set()
        self._asking = [None] * len(self.endpoints)


#: How long past the deadline a poll waits for a fetch to report its own timeout.
_GRACE_S = 0.25


class _Ask:
    """One endpoint asked on a daemon thread; `result` is set before `done`."""

    def __init__(self, read: Callable[[Endpoint, float], list[Reading] | FetchError], endpoint: Endpoint,
                 deadline: float) -> None:
        self.result: list[Reading] | FetchError | None = None
        self.done = threading.Event()

        def run() -> None:
            try:
                self.result = read(endpoint, deadline)
            except Exception as e:  # noqa: BLE001 - a parser bug must reach the user, not kill the thread silently
                self.result = FetchError(f"{type(e).__name__}: {clean(e, 200)}")
            finally:
                self.done.set()

        threading.Thread(target=run, name=f"nanowatch-gpu-source {endpoint.name}", daemon=True).start()


def _gpu_key(labels: dict[str, str], endpoint_order: int) -> tuple[str, ...]:
    if labels.get("UUID"):
        return ("uuid", labels["UUID"])
    # Prometheus adds `instance`, which tells nodes apart when the exporter wrote no Hostname
    host = labels.get("Hostname") or labels.get("instance") or str(endpoint_order)
    return ("host", host, labels.get("gpu", ""))


def _gpu_label_ok(text: str | None) -> bool:
    """True for a series without a `gpu` label or with a GPU index (0..MAX_GPU_INDEX)."""
    return text is None or text == "" or text.isascii() and text.isdigit() and int(text) <= MAX_GPU_INDEX


def _int(text: str) -> int:
    return int(text) if text.isdigit() else 1 << 30


def _describe(select: Iterable[tuple[str, frozenset[str]]]) -> str:
    return "&".join(f"{k}={','.join(sorted(v))}" for k, v in select)


def _sample(now: float, index: int, name: str | None, fields: dict[str, dict[str, float]]) -> GpuSample:
    def one(field: str) -> float | None:
        values = fields.get(field)
        return next(iter(values.values())) if values else None

    def mib(field: str) -> int | None:
        values = fields.get(field)
        return vram(sum(values.values()) * MIB) if values else None

    used, free, reserved = mib(FB_USED), mib(FB_FREE), mib(FB_RESERVED)
    total = None if used is None or free is None else vram(used + free + (reserved or 0), 1.0)
    energy_mj = one(ENERGY)
    return GpuSample(
        t=now,
        index=index,
        name=name,
        power_w=within(one(POWER), 0.0, MAX_POWER_W),  # an impossible reading is unknown, the rest stands
        energy_j=None if energy_mj is None or energy_mj < 0 else energy_mj / 1000.0,
        vram_used_bytes=used,
        vram_total_bytes=total,
        util_pct=within(one(UTIL), 0.0, 100.0),
        temp_c=within(one(TEMP), -50.0, MAX_TEMP_C),
        power_limit_w=within(one(POWER_LIMIT), 0.0, MAX_POWER_W),
    )


def open_dcgm(urls: Sequence[str], gpus: Sequence[int] | None = None,
              on_error: Callable[[GpuLost], None] | None = None) -> DcgmSource:
    """A DcgmSource for the `--gpu-source` URLs; GpuSourceError for one it cannot use."""
    return DcgmSource([parse_endpoint(u, gpus) for u in urls], on_error=on_error)
