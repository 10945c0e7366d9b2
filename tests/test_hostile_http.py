"""Hostile answers from a `--gpu-source` endpoint (dcgm-exporter or Prometheus) and hostile
`--gpu-source` URLs: a web page instead of metrics, a redirect (to itself, with escapes in its
target), an error in a JSON body, a parser's complaint quoting a 200 KB line, a 100 KB GPU name,
a NaN reading that carries the GPU's name, a page or query of thousands of GPUs, a port or host
no URL can hold. Each is a one-line reason of bounded length (or exit 2 at startup), never a
traceback, a hang or a lost GPU."""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import SAMPLES

from monitor.cli import main
from monitor.sources.dcgm import (
    MAX_SERIES,
    DcgmSource,
    FetchError,
    GpuSourceError,
    http_get,
    parse_endpoint,
    parse_exposition,
    parse_query,
)
from monitor.sources.problems import REASON_CHARS
from monitor.sources.smicsv import MAX_NAME_CHARS

T0 = 1_800_000_000.0
LOG = SAMPLES / "recorded" / "h200_gpt2_124M" / "run.log"
ESCAPES = "\x1b]0;pwned\x07\x1b[2J\u202e[bold red]x"
#: The longest reason a hostile answer can make: our words around REASON_CHARS of theirs.
MAX_REASON = REASON_CHARS + 200


class Answer:
    """One canned answer: status, headers, body."""

    def __init__(self, status: int = 200, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.status, self.body, self.headers = status, body, headers or {}


@pytest.fixture
def serve() -> Iterator:
    """serve(answer) -> base URL of a loopback server that gives `answer` to every GET."""
    servers: list[ThreadingHTTPServer] = []

    def start(answer: Answer) -> str:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(answer.status)
                for key, value in answer.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _reason(url: str) -> str:
    with pytest.raises(FetchError) as e:
        http_get(url, 10.0)
    return str(e.value)


def _one_line(text: str) -> None:
    controls = [c for c in text if c in "\n\x1b\x07\u202e" or "\x80" <= c <= "\x9f"]
    assert controls == [] and len(text) <= MAX_REASON, text[:300]


# --- what the endpoint answers -----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["text/html; charset=utf-8", "application/xhtml+xml"])
def test_a_web_page_is_said_to_be_one(serve, kind: str) -> None:
    page = b"<html><title>Sign in</title>" + b"x" * 50_000 + b"</html>"
    reason = _reason(serve(Answer(200, page, {"Content-Type": kind})) + "/metrics")
    assert "web page" in reason and "not metrics" in reason
    _one_line(reason)


@pytest.mark.parametrize("encoding", ["gzip", "br", "x-\x1b[2Jevil"])
def test_a_compressed_answer_nobody_asked_for_is_said_to_be_one(serve, encoding: str) -> None:
    """Its bytes went to the parser, whose complaint quoted compressed garbage."""
    reason = _reason(serve(Answer(200, gzip.compress(b"DCGM_FI_DEV_POWER_USAGE 1\n"),
                                  {"Content-Encoding": encoding})) + "/metrics")
    assert reason.startswith("answered compressed (") and reason.endswith("though asked not to: not read")
    _one_line(reason)


def test_a_redirect_says_where_it_points_and_is_not_followed(serve) -> None:
    # to itself, a loop if followed; a header's bytes arrive as Latin-1 (RFC 9110 5.5)
    base = serve(Answer(302, headers={"Location": ("/metrics" + ESCAPES).encode().decode("latin-1")}))
    reason = _reason(base + "/metrics")
    assert reason.startswith("HTTP 302") and "redirected to /metrics\\x1b]0;pwned" in reason
    assert "not followed" in reason
    _one_line(reason)


def test_a_prometheus_error_body_gives_its_reason(serve) -> None:
    body = json.dumps({"status": "error", "errorType": "bad_data", "error": "parse error at char 9" + ESCAPES})
    reason = _reason(serve(Answer(400, body.encode(), {"Content-Type": "application/json"})) + "/api/v1/query")
    assert reason.startswith("HTTP 400") and "parse error at char 9\\x1b]0;pwned" in reason
    _one_line(reason)


def test_an_error_body_that_is_not_json_or_too_long_leaves_the_status(serve) -> None:
    huge = json.dumps({"status": "error", "error": "E" * 200_000}).encode()
    for body in (b"<html>oops</html>", huge):
        assert _reason(serve(Answer(503, body, {"Content-Type": "application/json"})) + "/x") == \
            "HTTP 503 Service Unavailable"


def test_json_nested_past_pythons_depth_is_a_reason_not_a_recursion_error(serve) -> None:
    """json decodes nesting recursively: `[[[[…` deeper than the interpreter's stack raises
    RecursionError, which is no ValueError; as an error body it leaves the status, as a query
    answer it is said to be none."""
    deep = b"[" * 60_000
    assert _reason(serve(Answer(400, deep, {"Content-Type": "application/json"})) + "/x") == "HTTP 400 Bad Request"
    with pytest.raises(FetchError) as e:
        parse_query("DCGM_FI_DEV_POWER_USAGE", "[" * 200_000)
    assert str(e.value) == "not a Prometheus query answer (JSON nested too deep)"


def test_a_parser_complaint_quoting_a_huge_line_is_cut() -> None:
    page = 'DCGM_FI_DEV_POWER_USAGE{gpu="0"} ' + ESCAPES + "A" * 200_000 + "\n"
    with pytest.raises(FetchError) as e:
        parse_exposition(page)
    assert str(e.value).startswith("not Prometheus metrics text")
    _one_line(str(e.value))


def test_a_prometheus_error_message_is_cut() -> None:
    body = json.dumps({"status": "error", "errorType": "bad_data" + ESCAPES, "error": ESCAPES + "E" * 100_000})
    with pytest.raises(FetchError) as e:
        parse_query("DCGM_FI_DEV_POWER_USAGE", body)
    assert str(e.value).startswith("Prometheus: bad_data")
    _one_line(str(e.value))


def _series(n: int, field: str = "DCGM_FI_DEV_POWER_USAGE") -> str:
    return "".join(f'{field}{{gpu="{i}",UUID="GPU-{i}"}} 100\n' for i in range(n))


def test_a_page_of_more_series_than_gpus_is_refused_before_parsing() -> None:
    """50,000 GPUs in one page took the pure-Python parser ~5 s at every poll (and the rest of
    the poll longer still): more than MAX_SERIES series of one field is no node's GPUs."""
    assert len(parse_exposition(_series(MAX_SERIES))) == MAX_SERIES
    with pytest.raises(FetchError) as e:
        parse_exposition("# TYPE DCGM_FI_DEV_POWER_USAGE gauge\n" + _series(50_000))
    assert str(e.value).startswith(f"more than {MAX_SERIES} series of DCGM_FI_DEV_POWER_USAGE: not one run's GPUs")
    _one_line(str(e.value))


def test_a_query_answering_for_a_whole_cluster_is_refused() -> None:
    result = [{"metric": {"gpu": str(i), "UUID": f"GPU-{i}"}, "value": [T0, "100"]} for i in range(MAX_SERIES + 1)]
    body = json.dumps({"status": "success", "data": {"resultType": "vector", "result": result}})
    with pytest.raises(FetchError, match="#Hostname=NODE1,NODE2"):
        parse_query("DCGM_FI_DEV_POWER_USAGE", body)
    assert len(parse_query("DCGM_FI_DEV_POWER_USAGE", json.dumps(
        {"status": "success", "data": {"resultType": "vector", "result": result[:MAX_SERIES]}}))) == MAX_SERIES


def test_once_says_the_page_has_too_many_series(serve, capsys) -> None:
    url = serve(Answer(200, _series(MAX_SERIES + 1).encode())) + "/metrics"
    assert main([str(LOG), "--once", "--gpu-source", url]) == 0
    gpu_line = next(line for line in capsys.readouterr().out.splitlines() if line.lstrip().startswith("gpu"))
    assert "GPU telemetry unavailable" in gpu_line and f"more than {MAX_SERIES} series" in gpu_line


def _page(*lines: str) -> str:
    return "\n".join(lines) + "\n"


def _poll(page: str) -> list:
    source = DcgmSource([parse_endpoint("http://node:9400/metrics")], fetch=lambda url, timeout_s: page)
    return source.poll(T0)


def test_a_gpu_name_of_100_kb_is_cut_to_a_name() -> None:
    name = "H100 " + ESCAPES + "M" * 100_000
    (sample,) = _poll(_page(f'DCGM_FI_DEV_POWER_USAGE{{gpu="0",UUID="u0",modelName="{name}"}} 300'))
    assert sample.name is not None and len(sample.name) == MAX_NAME_CHARS and sample.name.startswith("H100 \x1b]0")
    assert sample.power_w == 300


def test_the_name_on_a_nan_reading_still_names_the_gpu() -> None:
    (sample,) = _poll(_page('DCGM_FI_DEV_POWER_USAGE{gpu="0",modelName="NVIDIA H100"} NaN',
                            'DCGM_FI_DEV_FB_USED{gpu="0"} 1024'))
    assert sample.name == "NVIDIA H100" and sample.power_w is None and sample.vram_used_bytes == 1024 * 2**20


def test_an_impossible_memory_reading_is_unknown_and_the_rest_stands() -> None:
    # 1e300 MiB used was shown as a 300-digit VRAM, a negative free made the total 0 bytes
    (sample,) = _poll(_page('DCGM_FI_DEV_POWER_USAGE{gpu="0",modelName="H100"} 300',
                            'DCGM_FI_DEV_FB_USED{gpu="0",modelName="H100"} 1e300',
                            'DCGM_FI_DEV_FB_FREE{gpu="0",modelName="H100"} -1e300'))
    assert (sample.power_w, sample.vram_used_bytes, sample.vram_total_bytes) == (300, None, None)
    (sample,) = _poll(_page('DCGM_FI_DEV_FB_USED{gpu="0"} 1024', 'DCGM_FI_DEV_FB_FREE{gpu="0"} -4096'))
    assert (sample.vram_used_bytes, sample.vram_total_bytes) == (1024 * 2**20, None)


def test_a_series_whose_gpu_label_is_no_index_is_no_gpu() -> None:
    # gpu="-1" was counted as a second GPU, its power added to the run's
    (sample,) = _poll(_page('DCGM_FI_DEV_POWER_USAGE{gpu="-1",modelName="H100"} 300',
                            'DCGM_FI_DEV_POWER_USAGE{gpu="99999999999999999999",modelName="H100"} 300',
                            'DCGM_FI_DEV_POWER_USAGE{gpu="١",modelName="H100"} 300',
                            'DCGM_FI_DEV_POWER_USAGE{gpu="0",modelName="H100"} 200'))
    assert sample.power_w == 200


def test_once_shows_a_gpu_without_a_name_as_unnamed(capsys) -> None:
    node_page = _page('DCGM_FI_DEV_FB_USED{gpu="0"} 1024', 'DCGM_FI_DEV_FB_FREE{gpu="0"} 1024')
    server = _StaticExporter(node_page)
    try:
        assert main([str(LOG), "--once", "--gpu-source", server.url]) == 0
    finally:
        server.close()
    gpu_line = next(line for line in capsys.readouterr().out.splitlines() if line.lstrip().startswith("gpu"))
    assert "1 × GPU (name unknown)" in gpu_line and "VRAM" in gpu_line


class _StaticExporter:
    """An exporter that answers the same page to every GET."""

    def __init__(self, page: str) -> None:
        body = page.encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/metrics"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- what the user typed -----------------------------------------------------------------------


@pytest.mark.parametrize("url", [
    "http://node:99999/metrics",          # port out of range
    "http://node:abc/metrics",            # port not a number
    "http://[::1/metrics",                # unclosed IPv6 bracket
    "http://node\x1b[2J/metrics",         # an escape in the host
    "http://no de/metrics",               # a space in the host
    "http://" + "a" * 300 + "/metrics",   # longer than any DNS name
])
def test_a_url_no_request_can_use_is_refused_at_startup(url: str, capsys) -> None:
    with pytest.raises(GpuSourceError):
        parse_endpoint(url)
    assert main([str(LOG), "--once", "--gpu-source", url]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nanowatch: error: --gpu-source") and err.count("\n") == 1 and "\x1b" not in err


@pytest.mark.parametrize("url", ["http://node\x1b[2J/metrics", "http://node/\x1b[2J", "http://node\n/metrics"])
def test_control_characters_in_a_url_are_said_to_be_that(url: str) -> None:
    # an escape's `[` in the host was answered "an IPv6 address goes whole in brackets"
    with pytest.raises(GpuSourceError, match="holds control characters; not a URL"):
        parse_endpoint(url)


def test_a_host_name_idna_refuses_is_a_reason_not_a_traceback() -> None:
    label = "a" * 64  # one DNS label over 63 characters: the IDNA codec raises UnicodeError
    reason = _reason(f"http://{label}.example/metrics")
    assert "label too long" in reason or "label empty or too long" in reason
    _one_line(reason)


def test_every_reason_reaches_once_as_one_short_line(serve, capsys, tmp_path: Path) -> None:
    page = Answer(200, b"<html>" + b"x" * 10_000, {"Content-Type": "text/html"})
    assert main([str(LOG), "--once", "--gpu-source", serve(page) + "/metrics"]) == 0
    gpu_line = next(line for line in capsys.readouterr().out.splitlines() if line.lstrip().startswith("gpu"))
    assert "GPU telemetry unavailable" in gpu_line and "web page" in gpu_line and len(gpu_line) < 300


def test_credentials_in_the_url_are_sent_as_basic_auth_and_never_shown() -> None:
    """`prom+https://user:PASSWORD@prom:9090`: a Prometheus behind basic auth. The credentials
    were dropped (HTTP 401 for ever) and the password shown in every reason; they are sent, and
    the password is written as *** wherever the endpoint is named."""
    seen: list[str | None] = []
    page = b'DCGM_FI_DEV_POWER_USAGE{gpu="0",modelName="NVIDIA H100"} 250\n'

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.headers.get("Authorization"))
            ok = seen[-1] == "Basic dXNlcjpzM2NyZXQ6IEA="  # user:s3cret: @
            self.send_response(200 if ok else 401)
            self.send_header("Content-Length", str(len(page) if ok else 0))
            self.end_headers()
            self.wfile.write(page if ok else b"")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        good = parse_endpoint(f"http://user:s3cret%3A%20%40@127.0.0.1:{port}/metrics")
        assert good.name == f"http://user:***@127.0.0.1:{port}/metrics"
        (sample,) = DcgmSource([good]).poll(T0)
        assert sample.power_w == 250.0 and seen == ["Basic dXNlcjpzM2NyZXQ6IEA="]
        errors: list = []
        wrong = parse_endpoint(f"http://user:wrong@127.0.0.1:{port}/metrics")
        assert DcgmSource([wrong], on_error=errors.append).poll(T0) == []
        (lost,) = errors
        assert "wrong" not in str(lost) and "HTTP 401" in str(lost)
    finally:
        server.shutdown()
        server.server_close()
    with pytest.raises(GpuSourceError) as e:
        parse_endpoint("http://user:s3cret@node:abc/metrics")
    assert "s3cret" not in str(e.value) and "user:***@node:abc" in str(e.value)
