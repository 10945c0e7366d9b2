"""Alerts: the moments a run needs its owner (finished, crashed, interrupted, stalled, loss NaN),
found by comparing consecutive Snapshots; `--notify` and `--bell` act on them.

PURE ring: no I/O, no clock, no textual/watchdog/pynvml imports.
"""

from __future__ import annotations

from dataclasses import dataclass

from monitor.core import textfmt as fmt
from monitor.core.snapshot import Snapshot

#: Statuses worth telling someone about when a run reaches them.
ALERT_STATUSES = ("finished", "crashed", "interrupted", "stalled")
#: The event of a loss that turned NaN or infinite.
NAN = "nan"
#: A traceback without its final error line for this long (snapshot time) is told as a crash.
CRASH_SETTLE_S = 5.0


@dataclass(frozen=True, slots=True)
class Alert:
    """One event to tell: `event` is a status of ALERT_STATUSES or NAN; the rest is the run
    as it stood (None where unknown). Times are epoch seconds."""

    event: str
    t: float
    source: str
    status: str
    run_index: int
    iter: int | None
    max_iters: int | None
    progress: float | None
    loss: float | None
    eta_finish: float | None
    error: str | None
    stalled_for_s: float | None = None

    def message(self) -> str:
        """One line for a person: `run.log: crashed at iter 2,330: torch.OutOfMemoryError: …`."""
        where = f" at iter {self.iter:,}" if self.iter is not None else ""
        if self.event == NAN:
            text = f"the loss is {fmt.num(self.loss)}{where}"
        elif self.event == "stalled":
            text = f"stalled{where}: no new line for {fmt.duration(self.stalled_for_s)}"
        else:
            text = f"{self.event}{where}"
        if self.error:
            text += f": {self.error}"
        elif self.event not in ("finished", NAN) and self.eta_finish is not None:
            text += f" (it was to finish at {fmt.clock(self.eta_finish, self.t)})"
        return f"{self.source}: {text}"


def alert(event: str, snap: Snapshot) -> Alert:
    return Alert(event=event, t=snap.t, source=snap.source, status=snap.status, run_index=snap.run_index,
                 iter=snap.iter, max_iters=snap.max_iters, progress=snap.progress, loss=snap.loss,
                 eta_finish=snap.eta_finish, error=snap.crash_message, stalled_for_s=snap.stalled_for_s)


class AlertWatch:
    """Finds the alerts in consecutive Snapshots of one log's newest run.

    Only news counts: a Snapshot must hold a line that arrived while it was watched (a log read
    from its start, or a finished run opened later, says nothing). A status of ALERT_STATUSES is
    told when the run reaches it (again after it left it: stalled, training, stalled); a NaN
    loss when the loss turns NaN. A traceback still being written is "crashed" without its
    error line, which may yet say KeyboardInterrupt: it is told when its error line comes, or
    after CRASH_SETTLE_S without one. A new run in the log starts afresh."""

    def __init__(self) -> None:
        self._run_index: int | None = None
        self._status: str | None = None
        self._nan = False
        self._traceback_t: float | None = None

    def see(self, snap: Snapshot) -> tuple[Alert, ...]:
        """The alerts since the last Snapshot seen."""
        if snap.run_index != self._run_index:
            self._run_index, self._status, self._nan, self._traceback_t = snap.run_index, None, False, None
        status = snap.status
        if status == "crashed" and snap.crash_message is None:
            self._traceback_t = snap.t if self._traceback_t is None else self._traceback_t
            if snap.t - self._traceback_t < CRASH_SETTLE_S:
                return ()  # the traceback's last line says what it was
        else:
            self._traceback_t = None
        out = []
        if snap.watched and status in ALERT_STATUSES and status != self._status:
            out.append(alert(status, snap))
        if snap.watched and snap.loss_is_nan and not self._nan:
            out.append(alert(NAN, snap))
        self._status, self._nan = status, snap.loss_is_nan
        return tuple(out)
