"""Test helper: hostile HTTP servers on 127.0.0.1 only, each bounded in time — one that drips
its answer a byte at a time, one that answers a page far larger than anyone should read."""

from __future__ import annotations

import socket
import threading
import time

#: No server here lives longer than this, whatever the test does.
MAX_LIFE_S = 30.0


class BadServer:
    """Accepts connections on 127.0.0.1 and answers each with `answer(conn)` on a daemon thread."""

    def __init__(self, kind: str, *, drip_s: float = 0.2, huge_bytes: int = 64 << 20, content_length: bool = False):
        self.kind, self.drip_s, self.huge_bytes, self.content_length = kind, drip_s, huge_bytes, content_length
        self.sent_bytes = 0
        self._stop = threading.Event()
        self._deadline = time.monotonic() + MAX_LIFE_S
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/metrics"

    def _alive(self) -> bool:
        return not self._stop.is_set() and time.monotonic() < self._deadline

    def _serve(self) -> None:
        while self._alive():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(2.0)
            conn.recv(4096)
            if self.kind == "drip-headers":
                for byte in b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n" * 1000:
                    if not self._alive():
                        return
                    conn.sendall(bytes([byte]))
                    time.sleep(self.drip_s)
            elif self.kind == "drip-body":
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n")
                while self._alive():
                    conn.sendall(b"#")
                    time.sleep(self.drip_s)
            elif self.kind == "huge":
                head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                if self.content_length:
                    head += f"Content-Length: {self.huge_bytes}\r\n"
                conn.sendall((head + "\r\n").encode())
                block = b"# " + b"x" * 65533 + b"\n"
                while self.sent_bytes < self.huge_bytes and self._alive():
                    conn.sendall(block)
                    self.sent_bytes += len(block)
        except OSError:
            return  # the client hung up: what these servers wait for
        finally:
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self.sock.close()
