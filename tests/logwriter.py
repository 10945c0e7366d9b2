"""A real writer process for the follower tests and the latency benchmark: it appends to,
truncates, rotates and deletes a log on command (one JSON list per line on stdin) and
answers "ok" once each command is done."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import IO


def iter_line(i: int, step_ms: float = 100.0) -> str:
    """A nanoGPT training-step line."""
    return f"iter {i}: loss {5 - i / 10_000:.4f}, time {step_ms:.2f}ms, mfu 10.00%\n"


def _serve(path: str) -> None:
    f: IO[bytes] | None = None

    def write(text: str) -> None:
        assert f is not None
        f.write(text.encode())

    for raw in sys.stdin:
        op, *args = json.loads(raw)
        if op == "open":  # append, as `>>` or a logger does
            f = open(path, "ab", buffering=0)  # noqa: SIM115 (open across commands, as a trainer keeps it)
        elif op == "write":  # one write() call
            write(args[0])
        elif op == "lines":  # one write() call per line, `args[1]` seconds apart
            for line in args[0]:
                write(line)
                if len(args) > 1 and args[1]:
                    time.sleep(args[1])
        elif op == "rewrite":  # `>` reuse: the same file, truncated
            if f is not None:
                f.close()
            f = open(path, "wb", buffering=0)  # noqa: SIM115
        elif op == "rotate":  # rename the log away, start a new file under its name
            os.rename(path, path + ".1")
            if f is not None:
                f.close()
            f = open(path, "wb", buffering=0)  # noqa: SIM115
        elif op == "unlink":  # delete the name, keep writing to the open file
            os.unlink(path)
        elif op == "delete":
            if f is not None:
                f.close()
                f = None
            os.unlink(path)
        elif op == "stamp":  # write one line per entry at the given rate; print each write's time
            stamps = []
            for line in args[0]:
                stamps.append(time.time())
                write(line)
                time.sleep(args[1])
            print(json.dumps(stamps))
        print("ok", flush=True)


class Writer:
    """Drives a writer process; each call returns once the process has done the command."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-u", __file__, os.fspath(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def __call__(self, op: str, *args: object) -> list[str]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps([op, *args]) + "\n")
        self.proc.stdin.flush()
        out = []
        while (line := self.proc.stdout.readline()) != "ok\n":
            assert line, "the writer process died"
            out.append(line)
        return out

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=10)


class Collector:
    """Records every callback of a source, in order, from its thread."""

    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []
        self._lock = threading.Lock()

    def _add(self, kind: str, payload: object = None) -> None:
        with self._lock:
            self.events.append((kind, payload))

    def lines(self, batch: list[tuple[float | None, bytes]]) -> None:
        self._add("lines", list(batch))

    def error(self, message: str) -> None:
        self._add("error", message)

    def state(self, state: str) -> None:
        self._add("state", state)

    def reset(self, cause: str = "") -> None:
        self._add("reset", cause)

    def of(self, kind: str) -> list[object]:
        with self._lock:
            return [p for k, p in self.events if k == kind]

    def batches(self) -> list[list[tuple[float | None, bytes]]]:
        return self.of("lines")  # type: ignore[return-value]

    def texts(self) -> list[bytes]:
        return [line for batch in self.batches() for _, line in batch]

    def times(self) -> list[float | None]:
        return [t for batch in self.batches() for t, _ in batch]

    def kinds(self) -> list[str]:
        """The order of events, lines batches merged: e.g. ["lines", "reset", "lines"]."""
        with self._lock:
            out: list[str] = []
            for kind, _ in self.events:
                if kind in ("lines", "reset") and not (out and out[-1] == kind == "lines"):
                    out.append(kind)
            return out


def wait_for(condition: Callable[[], object], timeout_s: float = 60.0, what: str = "condition") -> None:
    """Wait for something a thread or another process does; fail (not hang) if it never happens."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


if __name__ == "__main__":
    _serve(sys.argv[1])
