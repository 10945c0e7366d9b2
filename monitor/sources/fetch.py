"""GET a URL within a total deadline and a body cap; every failure is one short line
(`--gpu-source`: dcgm-exporter pages and Prometheus queries).

ADAPTER ring: http.client and sockets, on the caller's thread; never textual.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import re
import socket
import threading
import urllib.parse
from collections.abc import Callable

from monitor.core.sanitise import clean
from monitor.sources.problems import REASON_CHARS

MIB = 2**20
#: Largest body read from an endpoint: a dcgm-exporter page of 8 GPUs is ~60 KB, a
#: Prometheus answer for a large cluster a few hundred KB.
MAX_BODY_BYTES = 4 * MIB
#: Of a failed request's body, only this much is read, for the reason it gives.
ERROR_BODY_BYTES = 64 * 1024


class FetchError(Exception):
    """An endpoint did not answer usefully; the message is one line for the user."""


Fetch = Callable[[str, float], str]


def http_get(url: str, timeout_s: float, max_bytes: int = MAX_BODY_BYTES) -> str:
    """GET `url` and return its text, within `timeout_s` in all (connect, headers and body: a
    server that drips a byte a second is cut off) and at most `max_bytes` of body. Every
    failure becomes a one-line FetchError. http.client rather than urllib3/requests: neither
    has a total deadline (their timeouts are per read), and the socket is all it takes."""
    parts = urllib.parse.urlsplit(url)
    cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = cls(parts.hostname or "", parts.port, timeout=timeout_s)
    late = threading.Event()
    sockets: list[socket.socket] = []
    # The deadline shuts the socket down from a timer thread: a read blocked in the kernel returns
    # at once. The socket itself is kept: http.client lets go of it once a reply is delimited by close.
    timer = threading.Timer(timeout_s, _cut_off, (sockets, late))
    timer.daemon = True
    timer.start()
    try:
        conn.connect()
        if conn.sock is not None:
            sockets.append(conn.sock)
        if late.is_set():
            raise TimeoutError
        headers = {"Accept": "text/plain;version=0.0.4, application/json", "Accept-Encoding": "identity"}
        if parts.username is not None:  # http://USER:PASSWORD@host: a Prometheus behind basic auth
            credentials = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
            headers["Authorization"] = "Basic " + base64.b64encode(credentials.encode()).decode()
        conn.request("GET", urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, "")), headers=headers)
        response = conn.getresponse()
        if response.status != 200:
            raise FetchError(_refusal(response))
        kind = (response.getheader("Content-Type") or "").partition(";")[0].strip().lower()
        if kind in ("text/html", "application/xhtml+xml"):  # a login page, a proxy, the wrong port
            raise FetchError(f"answered a web page ({clean(kind, 40)}), not metrics: is the URL right?")
        encoding = (response.getheader("Content-Encoding") or "identity").strip().lower()
        if encoding != "identity":  # asked for none: a proxy that compresses regardless
            raise FetchError(f"answered compressed ({clean(encoding, 40)}) though asked not to: not read")
        length = response.getheader("Content-Length")
        if length is not None and length.isdigit() and int(length) > max_bytes:
            raise FetchError(f"answer of {int(length) / MIB:.0f} MiB is over the {max_bytes / MIB:g} MiB cap: not read")
        body = bytearray()
        while chunk := response.read1(1 << 16):
            body += chunk
            if len(body) > max_bytes:
                raise FetchError(f"answer over the {max_bytes / MIB:g} MiB cap: not read further")
        if late.is_set():  # the cut-off reads as the end of a body without a length
            raise FetchError(f"no complete answer within {timeout_s:.2g} s")
        if response.length:  # read1() ends quietly where the server closed early
            raise http.client.IncompleteRead(bytes(body), response.length)
        return body.decode("utf-8", errors="replace")
    except (OSError, http.client.HTTPException, UnicodeError) as e:  # UnicodeError: a host name IDNA refuses
        if late.is_set():
            raise FetchError(f"no complete answer within {timeout_s:.2g} s") from None
        if isinstance(e, TimeoutError):
            raise FetchError(f"no answer within {timeout_s:.2g} s") from None
        if isinstance(e, http.client.HTTPException):  # a reply cut short or garbled: not an OSError
            raise FetchError(f"bad HTTP reply ({type(e).__name__})") from None
        raise FetchError(clean((e.strerror if isinstance(e, OSError) else None) or e, 200)) from None
    finally:
        timer.cancel()
        conn.close()
        for sock in sockets:
            sock.close()


def shown_url(url: str) -> str:
    """`url` as it may be shown: the password of `http://user:PASSWORD@host` written as `***`
    (a screen, a --jsonl warning or a notification is no place for it)."""
    return _PASSWORD.sub(r"\1***@", url)


_PASSWORD = re.compile(r"^([^/]*//[^/@:]*:)[^/]*@")


def _refusal(response: http.client.HTTPResponse) -> str:
    """The reason for an answer other than 200: its status, where a redirect points (it is
    not followed: the URL to give is the target), or the error a Prometheus API sent in its
    JSON body (400 for a bad query, 422 or 503 for one that failed)."""
    text = f"HTTP {response.status} {clean(response.reason, 80)}".rstrip()
    if 300 <= response.status < 400 and response.getheader("Location"):
        target = clean(response.getheader("Location"), REASON_CHARS)
        return f"{text}: redirected to {target} (redirects are not followed; give that URL)"
    if "json" in (response.getheader("Content-Type") or "") or response.status in (400, 422, 503):
        try:
            answer = json.loads(response.read(ERROR_BODY_BYTES))
        except (OSError, http.client.HTTPException, ValueError, RecursionError):  # [[[[… past Python's depth
            return text
        if isinstance(answer, dict) and answer.get("error"):
            return f"{text}: {clean(answer['error'], REASON_CHARS)}"
    return text


def _cut_off(sockets: list[socket.socket], late: threading.Event) -> None:
    late.set()
    for sock in sockets:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
