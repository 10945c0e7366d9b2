"""`--notify CMD`: run the user's command when a run needs them, with the event in NANOWATCH_*
environment variables (never in the command string), in the background, with a timeout.

ADAPTER ring: processes and threads; no textual. Failures come back as one-line reports.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import IO

from monitor.core.alerts import Alert, AlertWatch
from monitor.core.lines import visible
from monitor.core.snapshot import Snapshot

#: A command still running after this long is stopped (with its process group) and reported.
NOTIFY_TIMEOUT_S = 30.0
#: Characters of a failing command's stderr quoted in its report.
STDERR_CHARS = 200
SHELL = "/bin/sh"


def alert_env(alert: Alert) -> dict[str, str]:
    """The NANOWATCH_* variables of an alert; unknown values are empty strings. Log text has
    its control characters written out (and no NUL, which an environment cannot hold)."""

    def text(value: object) -> str:
        return "" if value is None else visible(str(value))

    return {
        "NANOWATCH_EVENT": alert.event,  # finished | crashed | interrupted | stalled | nan
        "NANOWATCH_STATUS": alert.status,
        "NANOWATCH_LOG": text(alert.source),
        "NANOWATCH_RUN_INDEX": str(alert.run_index),
        "NANOWATCH_ITER": text(alert.iter),
        "NANOWATCH_MAX_ITERS": text(alert.max_iters),
        "NANOWATCH_PROGRESS": text(alert.progress),
        "NANOWATCH_LOSS": text(alert.loss),
        "NANOWATCH_ETA": text(alert.eta_finish),  # epoch seconds of the predicted finish
        "NANOWATCH_ERROR": text(alert.error),
        "NANOWATCH_T": repr(alert.t),
        "NANOWATCH_MESSAGE": text(alert.message()),
    }


class Notifier:
    """Runs every `--notify` command for each alert, each through the shell on its own thread,
    stdin and stdout closed (the TUI and the JSON stream keep the terminal), in its own
    process group so that a timeout stops the whole pipeline. `reports()` hands over, on the
    caller's thread, what went wrong since the last call."""

    def __init__(self, commands: Sequence[str], *, timeout_s: float = NOTIFY_TIMEOUT_S,
                 environ: Mapping[str, str] | None = None) -> None:
        self.commands = tuple(commands)
        self.timeout_s = timeout_s
        self._environ = environ
        self._reports: deque[str] = deque(maxlen=100)
        self._threads: list[threading.Thread] = []

    def send(self, alert: Alert) -> None:
        env = {**(os.environ if self._environ is None else self._environ), **alert_env(alert)}
        self._threads = [t for t in self._threads if t.is_alive()]
        for command in self.commands:
            thread = threading.Thread(target=self._guarded, args=(command, env), name="notify", daemon=True)
            thread.start()
            self._threads.append(thread)

    def reports(self) -> list[str]:
        out = []
        while self._reports:
            out.append(self._reports.popleft())
        return out

    def wait(self, timeout_s: float) -> None:
        """Wait up to `timeout_s` for the commands started so far (tests; a clean exit)."""
        for thread in list(self._threads):
            thread.join(timeout_s)

    def _guarded(self, command: str, env: dict[str, str]) -> None:
        try:
            self._run(command, env)
        except (OSError, ValueError, subprocess.SubprocessError) as e:  # a thread never dies silently
            self._reports.append(f"--notify {visible(command)!r} failed: {type(e).__name__}: {visible(str(e))}")

    def _run(self, command: str, env: dict[str, str]) -> None:
        name = f"--notify {visible(command)!r}"
        try:
            proc = subprocess.Popen([SHELL, "-c", command], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, env=env, start_new_session=True)
        except OSError as e:
            self._reports.append(f"{name} could not start: {e.strerror or e}")
            return
        assert proc.stderr is not None
        tail = _Tail(proc.stderr)
        try:
            proc.wait(timeout=self.timeout_s)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass  # it ended in between
            proc.wait()
            tail.join()
            self._reports.append(f"{name} still running after {self.timeout_s:g} s: stopped")
            return
        tail.join(self.timeout_s)  # a child it left behind may hold stderr open: not waited for long
        if proc.returncode != 0:
            err = tail.text()
            said = visible(err.strip().splitlines()[-1][:STDERR_CHARS]) if err.strip() else ""
            self._reports.append(f"{name} exited {proc.returncode}" + (f": {said}" if said else ""))


#: Bytes of a command's stderr kept (its end): `yes >&2` must not fill the memory in 30 s.
STDERR_KEEP_BYTES = 1 << 16


class _Tail:
    """Reads a pipe to its end on a daemon thread, keeping only its last STDERR_KEEP_BYTES."""

    def __init__(self, pipe: IO[bytes]) -> None:
        self._pipe = pipe
        self._kept = bytearray()
        self._thread = threading.Thread(target=self._read, name="notify-stderr", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        with self._pipe:
            while chunk := self._pipe.read1(1 << 16):  # type: ignore[attr-defined]
                self._kept += chunk
                del self._kept[:-STDERR_KEEP_BYTES]

    def join(self, timeout_s: float | None = None) -> None:
        self._thread.join(timeout_s)

    def text(self) -> str:
        return bytes(self._kept).decode("utf-8", "replace")


class AlertHook:
    """Session.on_snapshot for `--notify`: every Snapshot of the newest run goes through an
    AlertWatch; each alert runs the commands and is told to `on_alert`; reports of failed
    commands go to `on_report`, both on the thread that builds Snapshots. `then` is the
    on_snapshot it wraps (a metrics board), called first."""

    def __init__(self, notifier: Notifier | None, *, on_report: Callable[[Snapshot, str], None],
                 on_alert: Callable[[Snapshot, Alert], None] | None = None,
                 then: Callable[[Snapshot], None] | None = None) -> None:
        self.notifier = notifier
        self.watch = AlertWatch()
        self.on_report = on_report
        self.on_alert = on_alert
        self.then = then

    def __call__(self, snap: Snapshot) -> None:
        if self.then is not None:
            self.then(snap)
        for found in self.watch.see(snap):
            if self.notifier is not None:
                self.notifier.send(found)
            if self.on_alert is not None:
                self.on_alert(snap, found)
        if self.notifier is not None:
            for report in self.notifier.reports():
                self.on_report(snap, report)
