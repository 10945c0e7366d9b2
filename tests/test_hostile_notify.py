"""A `--notify` command that floods its stderr: only its end is kept (the whole of it was read
into memory: `yes >&2` for the 30 s of the timeout is gigabytes), and its last line is quoted."""

from __future__ import annotations

import io

from test_notify import alert, snap

from monitor.sources.notify import STDERR_CHARS, STDERR_KEEP_BYTES, Notifier, _Tail


def test_a_flooded_pipe_keeps_only_its_end() -> None:
    flood = io.BufferedReader(io.BytesIO(b"x" * (10 * STDERR_KEEP_BYTES) + b"\nthe last words\n"))
    tail = _Tail(flood)
    tail.join(20)
    assert tail.text().endswith("\nthe last words\n") and len(tail.text()) == STDERR_KEEP_BYTES


def test_a_command_that_floods_stderr_is_reported_with_its_last_line() -> None:
    notifier = Notifier(["head -c 20000000 /dev/zero | tr '\\0' x >&2; echo >&2; echo 'gave up: \x1b[2J' >&2; exit 3"],
                        environ={"PATH": "/usr/bin:/bin"})
    notifier.send(alert("crashed", snap("crashed")))
    notifier.wait(60)
    (report,) = notifier.reports()
    assert report.endswith(" exited 3: gave up: \\x1b[2J")


def test_a_long_last_line_is_cut() -> None:
    notifier = Notifier(["head -c 500000 /dev/zero | tr '\\0' y >&2; exit 1"], environ={"PATH": "/usr/bin:/bin"})
    notifier.send(alert("stalled", snap("stalled")))
    notifier.wait(60)
    (report,) = notifier.reports()
    assert report.endswith(" exited 1: " + "y" * STDERR_CHARS)
