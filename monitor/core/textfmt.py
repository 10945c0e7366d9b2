"""Human formatting of numbers, durations and clock times, shared by `--once` and the TUI.

PURE ring: no I/O, no textual/watchdog/pynvml imports. Unknown values print as "?".
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from monitor.core.snapshot import Snapshot

from monitor.core.sanitise import clean

UNKNOWN = "?"
YEAR_S = 365.25 * 86400
#: From a hundred years on, a duration is said in years.
LONG_S = 100 * YEAR_S
#: 9999-12-31 23:59:59 UTC: the last time strftime's four-digit year can show.
LAST_CLOCK_T = 253402300799.0


def duration(seconds: float | None) -> str:
    """`3 h 12 m`, `4 m 05 s`, `12 s`; "?" when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return UNKNOWN
    if seconds >= LONG_S:  # a figure from a garbled number: said short, not in 290 digits
        return f"{seconds / YEAR_S:.3g} years"
    s = round(max(0.0, seconds))
    days, s = divmod(s, 86400)
    hours, s = divmod(s, 3600)
    minutes, s = divmod(s, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes:02d} m"
    if minutes:
        return f"{minutes} m {s:02d} s"
    return f"{s} s"


def clock(t: float | None, now: float | None = None, seconds: bool = True) -> str:
    """Local wall-clock time (`14:32:05`, or `14:32` without seconds); the day is added when
    it is not `now`'s day."""
    if t is None or not math.isfinite(t):
        return UNKNOWN
    if not -LAST_CLOCK_T <= t <= LAST_CLOCK_T:  # past what a calendar (and localtime) can say
        return "after 9999" if t > 0 else "before 1"
    local = time.localtime(t)
    if now is not None and time.localtime(now)[:3] != local[:3]:
        return time.strftime("%a %d %b %H:%M", local)
    return time.strftime("%H:%M:%S" if seconds else "%H:%M", local)


def si(value: float | None, unit: str = "", digits: int = 3) -> str:
    """1.23 M, 45.6 G, 7.89 P… (decimal prefixes)."""
    if value is None or not math.isfinite(value):
        return UNKNOWN
    for factor, prefix in ((1e18, "E"), (1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.{digits}g} {prefix}{unit}".rstrip()
    return f"{value:.{digits}g} {unit}".rstrip()


def count(value: int | None) -> str:
    return UNKNOWN if value is None else f"{value:,}"


def counted(n: int, noun: str) -> str:
    """`1 run`, `3 runs`, `1,200 logs`: n and the noun, plural (an s) unless n is 1."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def num(value: float | None, fmt: str = ".4f") -> str:
    if value is None or not math.isfinite(value):
        return UNKNOWN if value is None else str(value)
    return format(value, fmt)


def pct(fraction: float | None, digits: int = 1) -> str:
    if fraction is None or not math.isfinite(fraction):
        return UNKNOWN
    return f"{fraction * 100:.{digits}f}%"


def share(fraction: float | None) -> str:
    """A percentage with at least two significant digits below 10% (`0.012%`, `3.5%`, `22.2%`),
    so a small share (MFU on a CPU) never reads as 0.0%."""
    if fraction is None or not math.isfinite(fraction):
        return UNKNOWN
    percent = fraction * 100
    if percent == 0 or abs(percent) >= 10:
        return f"{percent:.1f}%"
    digits = min(4, max(1, 1 - math.floor(math.log10(abs(percent)))))
    return f"{percent:.{digits}f}%"


def gib(n_bytes: float | None) -> str:
    if n_bytes is None:
        return UNKNOWN
    return f"{n_bytes / 2**30:.1f} GiB"


def kwh(energy_j: float | None) -> str:
    """Energy in kWh with at least two significant digits (`0.00025 kWh`,
    `0.0049 kWh`, `0.012 kWh`), as money() writes the cost beside it: a small run's energy
    never reads as `0.000 kWh` next to a cost that is not zero."""
    number = kwh_number(energy_j)
    return number if number == UNKNOWN else f"{number} kWh"


def kwh_number(energy_j: float | None) -> str:
    """kwh() without its unit, for the runs table's kWh column."""
    if energy_j is None or not math.isfinite(energy_j):
        return UNKNOWN
    value = energy_j / 3.6e6
    digits = 3 if value == 0 or abs(value) >= 0.01 else 1 - math.floor(math.log10(abs(value)))
    return f"{value:.{min(digits, 9)}f}"


def status_words(snap: Snapshot) -> str:
    """The run's status in words, the same in the TUI's header, the runs table and `--once`:
    `training`, `waiting for the log`, `stalled since 14:32` (`stalled for 5 m 00 s` when the
    last line's time is unknown)."""
    if snap.status == "waiting":
        return "waiting for the log"
    if snap.status == "stalled":
        if snap.last_line_t is not None:
            return f"stalled since {clock(snap.last_line_t, snap.t, seconds=False)}"
        if snap.stalled_for_s is not None:
            return f"stalled for {duration(snap.stalled_for_s)}"
    return snap.status


def since_first(snap: Snapshot) -> str:
    """` since iter 1,200` after the time a run took when its first step in the log is not its
    first (a log that starts mid-run, a resumed run): the time is that of the steps read, not
    the run's own; empty otherwise."""
    first = snap.first_iter
    return f" since iter {first:,}" if first is not None and first > 1 else ""


def done_short(snap: Snapshot) -> bool:
    """The run is over at a step short of its total, as it meant to be: nanochat's SFT counts to
    651 and trains up to step 649; a stage whose total comes from the shares it prints (mid_train's
    `step 00770 (99.83%)`: 771) ends at 770. Shown as done at its last step, never as
    `99.9% · 1 left`, in the TUI, the runs table and `--once` alike."""
    if snap.iter is None or snap.max_iters is None or snap.iter >= snap.max_iters:
        return False
    reached = snap.final_iter is not None and snap.iter >= snap.final_iter
    return reached or snap.status == "finished"


def money(amount: float | None, currency: str | None) -> str:
    """Cost with enough digits to be seen: a small run costs fractions of a cent."""
    if amount is None or not math.isfinite(amount):
        return UNKNOWN
    digits = 2 if abs(amount) >= 1 or amount == 0 else max(2, 1 - math.floor(math.log10(abs(amount))))
    return f"{amount:.{min(digits, 6)}f} {clean(currency or '')}".rstrip()


def no_step(evals_done: int) -> str:
    """What the progress line says before the first step line: never "no training step"
    alone when evals were read."""
    if evals_done:
        return f"no step line yet · {counted(evals_done, 'eval')} read"
    return "no training step logged yet"
