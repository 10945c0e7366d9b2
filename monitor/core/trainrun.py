"""Run: one training process's part of a log (its step rows, evals, notes, settings, how it
ended), and the values it holds: EvalPoint, Note, Setting.

PURE ring: no I/O, no textual/watchdog/pynvml imports.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Literal

from monitor.core.events import Crash, Launched
from monitor.core.steps import Steps
from monitor.core.textfmt import counted

#: Notes a run keeps for the events panel (the newest).
MAX_NOTES = 500


@dataclass(frozen=True, slots=True)
class EvalPoint:
    iter: int
    val_loss: float | None
    train_loss: float | None
    t: float | None
    metric: str = "val loss"


@dataclass(frozen=True, slots=True)
class Note:
    """One line for the events panel: evals, checkpoints, warnings, crashes."""

    t: float | None
    kind: str
    text: str
    #: how many times in a row the log said it (a warning every rank prints, or every step)
    count: int = 1

    def shown(self) -> str:
        """The text with its repeats folded: `UserWarning: … × 12`."""
        return self.text if self.count == 1 else f"{self.text} × {self.count}"


#: Why a follower says a log started over: the file got smaller; its bytes already read changed;
#: the path names another file.
ResetCause = Literal["truncated", "rewritten", "replaced"]
#: The words for each ResetCause.
CAUSES: dict[ResetCause, str] = {"truncated": "truncated", "rewritten": "truncated", "replaced": "rotated"}


@dataclass(frozen=True, slots=True)
class Continuation:
    """The log started over at step `from_step` (None: before the run's first step) and the
    same run went on at `at_step`."""

    cause: ResetCause
    from_step: int | None
    at_step: int
    t: float | None

    def text(self) -> str:
        """One short line for the events panel and the record's warnings."""
        cause = CAUSES.get(self.cause, self.cause)
        if self.from_step is None:
            return (f"the log was {cause} before the run's first step; the same run went on at step "
                    f"{self.at_step:,} (its start-up lines kept)")
        return (f"the log was {cause} at step {self.from_step:,}; "
                f"the same run went on at step {self.at_step:,} (earlier steps kept)")


@dataclass(frozen=True, slots=True)
class Setting:
    value: object
    source: str  # "log" | "flag" | "default"


class Run(Steps):
    """One training process's part of the log (its per-step rows: Steps)."""

    def __repr__(self) -> str:
        return f"Run({self.index})"

    def __init__(self, index: int, inherited: dict[str, object] | None = None) -> None:
        super().__init__()
        self.index = index
        self._best_val: tuple[int, float | None] = (0, None)  # (evals seen, best val loss among them)
        self.evals: list[EvalPoint] = []
        self.checkpoints = 0
        self.config: dict[str, object] = dict(inherited or {})
        #: the process before this one in the same log (a run resumed into its log), if any
        self.previous: Run | None = None
        self.tokens_per_iter: int | None = None
        self.params: int | None = None
        self.vocab_size: int | None = None
        self.init: str | None = None
        #: the command that ran it, where the log shows it (a shell prompt, `time`'s report)
        self.launched: Launched | None = None
        self.compiling = False
        #: steps where the schedule changes the step time, when the log says (modded-nanogpt)
        self.schedule_changes: tuple[int, ...] = ()
        self.printed_max_iters: int | None = None
        #: the total computed from the share of the run the step lines print
        self.share_max_iters: int | None = None
        #: the root cause: the first error of the run's end (a rank's own exception, not the
        #: launcher's wrapper that follows it)
        self.crash: Crash | None = None
        #: the ranks that raised the same error (torchrun tags their lines)
        self.crash_ranks: set[int] = set()
        self.in_traceback = False
        #: the trainer said its training loop is over (TrainingEnded), and how many steps it took
        self.ended = False
        #: the trainer's process goes on after its loop (TrainingEnded.goes_on)
        self.goes_on = False
        self.total_steps: int | None = None
        self.nan_losses = 0
        #: the times the log started over (truncated, rotated) and this run went on in it
        self.continued: list[Continuation] = []
        #: begun after another run's steps by lines sample.py prints too (`Overriding: …`, the
        #: model's size) and nothing else yet: not shown as the newest run until it says more
        self.tentative = False
        #: the start-up lines it printed (RunState._said: a setting's key, or the kind of line):
        #: the same again after the log started over is a new run's
        self.said: set[object] = set()
        self.notes: deque[Note] = deque(maxlen=MAX_NOTES)
        self.first_t: float | None = None
        #: the coarsest resolution of the line times (s): a printed timestamp's last digit
        #: (1 for whole seconds); 0 for the reader's own clock
        self.t_resolution_s = 0.0
        self.last_t: float | None = None
        self.last_line_t: float | None = None
        #: the time of the line before the last (the last may turn out to start the next run)
        self.prior_line_t: float | None = None
        self.lines = 0
        #: the estimator's own per-run state (monitor.core.tracker.Tracker), made on first use
        self.estimator_state: object | None = None

    @property
    def n_iters(self) -> int:
        return len(self.iters)

    @property
    def last_iter(self) -> int | None:
        return int(self.iters.last()) if len(self.iters) else None

    @property
    def first_iter(self) -> int | None:
        return int(self.iters.head[0]) if len(self.iters) else None

    @property
    def last_loss(self) -> float | None:
        return float(self.loss.last()) if len(self.loss) else None

    @property
    def best_val_loss(self) -> float | None:
        """The lowest finite val loss of the run (running: each eval is looked at once)."""
        seen, best = self._best_val
        for e in self.evals[seen:]:
            if e.val_loss is not None and math.isfinite(e.val_loss) and (best is None or e.val_loss < best):
                best = e.val_loss
        self._best_val = (len(self.evals), best)
        return best

    def setting(self, key: str, defaults: dict[str, object], flags: dict[str, object] | None = None) -> Setting | None:
        """The effective value of a setting and where it came from."""
        if flags and flags.get(key) is not None:
            return Setting(flags[key], "flag")
        if key in self.config:
            return Setting(self.config[key], "log")
        given = dict(self.launched.settings) if self.launched is not None else {}
        if key in given:  # on the command line the log shows
            return Setting(given[key], "log")
        if key in defaults:
            return Setting(defaults[key], "default")
        return None

    def note(self, t: float | None, kind: str, text: str) -> None:
        """Add a line for the events panel; the same line again folds into the last one (× n)."""
        last = self.notes[-1] if self.notes else None
        if last is not None and last.kind == kind and last.text == text:
            self.notes[-1] = Note(last.t if t is None else t, kind, text, last.count + 1)
        else:
            self.notes.append(Note(t, kind, text))

    def replace_note(self, old: Note | None, kind: str, text: str) -> bool:
        """Put a note of `kind` and `text` in the place (and at the time) of `old`; False when
        `old` is not among the notes (None, or dropped from the bounded deque)."""
        for i in range(len(self.notes) - 1, -1, -1):
            if self.notes[i] is old:
                self.notes[i] = Note(old.t, kind, text)
                return True
        return False

    @property
    def error(self) -> str | None:
        """The root-cause exception line of a crashed or interrupted run, with the ranks that
        raised it where torchrun tagged them; None when the run did not fail."""
        if self.crash is None:
            return None
        ranks = sorted(self.crash_ranks)
        if not ranks:
            return self.crash.message
        first = self.crash.rank if self.crash.rank is not None else ranks[0]
        if len(ranks) == 1:
            return f"{self.crash.message} (rank {first})"
        return f"{self.crash.message} (rank {first} first; {counted(len(ranks), 'rank')} raised it)"

    def shift_times(self, shift_s: float) -> None:
        """Move every time of the run by `shift_s` (a printed clock anchored late)."""
        self.t.shift(shift_s)
        self.timed_head = [(it, t + shift_s) for it, t in self.timed_head]
        self.first_t, self.last_t, self.last_line_t = (
            None if x is None else x + shift_s for x in (self.first_t, self.last_t, self.last_line_t)
        )
        self.evals = [e if e.t is None else EvalPoint(e.iter, e.val_loss, e.train_loss, e.t + shift_s, e.metric)
                      for e in self.evals]
        self.notes = deque((n if n.t is None else Note(n.t + shift_s, n.kind, n.text, n.count) for n in self.notes),
                           maxlen=MAX_NOTES)
