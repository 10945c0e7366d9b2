"""RunState: folds parser events into runs (trainrun.Run: numpy columns, evals, config) and
splits a file into runs where a new process starts or the step counter goes back.

PURE ring: no I/O, no textual/watchdog/pynvml imports.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Sequence

import numpy as np

from monitor.core.columns import Column, NanColumn, last_finite
from monitor.core.events import (
    Checkpoint,
    Compiling,
    ConfigValue,
    Crash,
    Eval,
    Event,
    Iteration,
    Launched,
    ModelInit,
    Params,
    PyWarning,
    RunStarted,
    SamplerOutput,
    ScheduleChanges,
    TokensPerIter,
    TracebackStarted,
    TrainingEnded,
    VocabSize,
)
from monitor.core.trainrun import MAX_NOTES, EvalPoint, Note, Run, Setting

__all__ = ["MAX_NOTES", "Column", "EvalPoint", "NanColumn", "Note", "Run", "RunState", "Setting", "last_finite"]

#: torchrun's own exception around a rank's failure: the rank's error, or the root cause its
#: table names (a signal), is the run's cause.
_LAUNCHER_WRAPPER = "ChildFailedError"
_STARTUP = (RunStarted, ConfigValue, TokensPerIter, VocabSize, ModelInit, Params, Compiling)
#: start-up lines nanoGPT's sample.py prints as train.py does (a run they begin is tentative)
_SAMPLE_PY_LINES = (ConfigValue, Params)
NAN = float("nan")
#: No run takes more steps than this; a larger "step number" is noise.
MAX_STEP = 10**15
#: A step longer than this (11.6 days), a training clock beyond ten years, a negative time or an
#: MFU over 100 (10,000% of the peak) is a garbled number, not a measurement: it is not printed
#: (NaN). Without the bound one `time 1e300ms` line made the run 10^290 days long.
MAX_STEP_TIME_S = 1e6
MAX_TRAIN_TIME_S = 3.2e8
MAX_MFU = 100.0


def _measured(x: float | None, top: float) -> float:
    """A printed value as a row holds it: NaN when not printed or outside [0, top]."""
    return x if x is not None and 0.0 <= x <= top else NAN


def _measured_column(x: np.ndarray, top: float) -> np.ndarray:
    """_measured() for a column (NaN stays NaN)."""
    inside = (x >= 0.0) & (x <= top)
    return x if inside.all() else np.where(inside, x, NAN)


class RunState:
    """All runs of one log, in order; the last one is the current run."""

    def __init__(self) -> None:
        self.runs: list[Run] = [Run(0)]
        self.lines = 0
        #: the lowest rank seen printing step lines (their prefix tags it; None: untagged): its
        #: end line ends a run, another rank's does not
        self.step_rank: int | None = None
        #: the log started over (truncated, rotated) since the last step: its last step again is
        #: a new run, not a repeated line (a cut log never repeats what it held)
        self.started_over = False

    def steps_from_rank(self, rank: int) -> None:
        """Step lines tagged with `rank` were read."""
        if self.step_rank is None or rank < self.step_rank:
            self.step_rank = rank

    @property
    def current(self) -> Run:
        return self.runs[-1]

    @property
    def shown(self) -> Run:
        """The run a front end shows as the newest: the current one, unless it is tentative
        (it may be sample.py's, withdrawn when its text comes)."""
        return self.runs[self.shown_count - 1]

    @property
    def shown_count(self) -> int:
        """The runs a front end shows: all but a tentative newest one."""
        runs = self.runs
        return len(runs) - 1 if runs[-1].tentative and len(runs) > 1 else len(runs)

    def shift_times(self, shift_s: float) -> None:
        """Move every time already folded in by `shift_s` (see PrintedClock)."""
        for run in self.runs:
            run.shift_times(shift_s)

    def line_seen(self, t: float | None, count: int = 1) -> None:
        """Every line (known or not) moves the run's clock: a silent log is a stall signal.
        `count` lines seen at `t` count as one call for each."""
        self.lines += count
        _lines_seen(self.current, count, t)

    def lines_seen_at(self, times: np.ndarray) -> None:
        """Lines seen at times[0], times[1], … in order (each a float): line_seen() for each."""
        n = len(times)
        if n == 0:
            return
        self.lines += n
        run = self.current
        run.lines += n
        if run.lines == n:
            run.first_t = float(times[0])
        run.prior_line_t = float(times[-2]) if n > 1 else run.last_line_t
        run.last_line_t = float(times[-1])

    def apply(self, event: Event, t: float | None) -> bool:
        """Fold one event in; True when it changed what a front end shows."""
        if isinstance(event, (Iteration, Eval)) and abs(event.iter) > MAX_STEP:
            return False  # a garbled number, not a step: it would not fit the int64 columns either
        run = self.current
        if run.tentative and not isinstance(event, _SAMPLE_PY_LINES):
            run.tentative = False  # it said more than sample.py does
        if isinstance(event, Iteration):
            return self._iteration(event, t)
        if isinstance(event, _STARTUP):
            # After the log started over in a run's start-up, a start-up line the run already
            # printed is a new run's; the rest of its own header (a cut while it loads) is not.
            said = _said(event)
            cut = self.started_over and said in run.said
            if run.n_iters or run.crash is not None or run.ended or cut:
                had_steps = run.n_iters > 0
                run = self._new_run(t)
                run.tentative = had_steps and isinstance(event, _SAMPLE_PY_LINES)
            run.said.add(said)
        elif isinstance(event, (TracebackStarted, Crash)) and run.ended and not run.goes_on and run.crash is None:
            run = self._new_run(t)  # the run said it was over: what fails now is the next process
        if isinstance(event, Eval):
            last = run.last_iter
            if last is not None and event.iter < last:
                run = self._new_run(t)
            run.evals.append(EvalPoint(event.iter, event.val_loss, event.train_loss, t, event.metric))
            run.note(t, "eval", _eval_text(event))
            return True
        if isinstance(event, ConfigValue):
            run.config[event.key] = event.value
        elif isinstance(event, Launched):
            run.launched = event
        elif isinstance(event, TokensPerIter):
            run.tokens_per_iter = event.tokens
        elif isinstance(event, Params):
            run.params = event.count
        elif isinstance(event, VocabSize):
            run.vocab_size = event.size
        elif isinstance(event, ModelInit):
            run.init = event.kind
            if event.kind == "resume":
                run.note(t, "resume", f"resumed from {event.detail}")
        elif isinstance(event, ScheduleChanges):
            run.schedule_changes = event.steps
        elif isinstance(event, Compiling):
            run.compiling = True
        elif isinstance(event, Checkpoint):
            run.checkpoints += 1
            # the events panel's kind column already says "checkpoint"
            run.note(t, "checkpoint", f"saved to {event.path}" if event.path is not None else f"written at step {event.step}")
        elif isinstance(event, PyWarning):
            run.note(t, "warning", f"{event.category}: {event.message}")
            return False
        elif isinstance(event, TracebackStarted):
            run.in_traceback = True
        elif isinstance(event, TrainingEnded):
            if event.rank is not None and event.rank != (self.step_rank or 0):
                return False  # another rank finished first: the followed rank's steps go on
            if event.total_steps is not None:
                run.total_steps = event.total_steps
            if not run.ended:  # a summary of several lines is one end
                run.note(t, "finished", event.text)
                run.goes_on = event.goes_on
            run.ended = True
        elif isinstance(event, Crash):
            self._crash(run, event, t)
        elif isinstance(event, SamplerOutput):
            if run.n_iters or run.crash is not None or run.previous is None:
                return False
            self._withdraw()  # sample.py after a run: its start-up lines began no training run
        else:
            return False
        return True

    @staticmethod
    def _crash(run: Run, event: Crash, t: float | None) -> None:
        """The first error of a failing run is its cause; the same error from other ranks is
        counted, and what comes after (other ranks' follow-on errors, torchrun's
        ChildFailedError wrapper) is only noted."""
        run.in_traceback = False
        if run.crash is None or _LAUNCHER_WRAPPER in run.crash.message and _LAUNCHER_WRAPPER not in event.message:
            run.crash = event  # (the launcher's wrapper gives way to the root cause it names after it)
        elif event.message != run.crash.message:
            if event.message != (run.notes[-1].text if run.notes else None):
                run.note(t, "error", event.message)
            return
        if event.rank is not None:
            if event.rank in run.crash_ranks:
                return
            run.crash_ranks.add(event.rank)
        elif run.notes and run.notes[-1].text == event.message:
            return  # a chained traceback ends twice with the same error: one event for the user
        run.note(t, "interrupted" if event.interrupted else "crash", event.message)

    def _iteration(self, event: Iteration, t: float | None) -> bool:
        run = self.current
        last = run.last_iter
        if last is not None and event.iter <= last:
            # The last step again is a repeated line (a terminal copy duplicates lines), unless
            # the run said its loop was over and the line says otherwise: the next process's.
            again = (event.iter == last and not self.started_over
                     and (not run.ended or _same_step(run, event.iter, event.loss)))
            if again or (event.loss is not None and event.train_time_s is not None
                         and (_said_before(run, event.iter, event.loss, event.train_time_s)
                              or _inside_clock(run.iters.values, run.train_time_s.values, event.iter, event.train_time_s))):
                return False  # a repeated line, or a copy of a line of this run that was not shown: nothing new
            run = self._new_run(t)
        elif run.crash is not None:
            # Training went on after an error was printed: it was not fatal.
            run.note(t, "warning", f"run continued after: {run.crash.message}")
            run.crash = None
            run.crash_ranks.clear()
        self.started_over = False
        run.add_row(event.iter, NAN if event.loss is None else event.loss,
                    _measured(event.step_time_s, MAX_STEP_TIME_S), _measured(event.mfu, MAX_MFU),
                    NAN if t is None else t, _measured(event.train_time_s, MAX_TRAIN_TIME_S))
        if event.max_iters is not None:
            run.printed_max_iters = event.max_iters
        if event.share_total is not None:
            run.share_max_iters = event.share_total
        if event.loss is not None and not math.isfinite(event.loss):
            run.nan_losses += 1
            if run.nan_losses == 1:
                run.note(t, "nan", f"loss is {event.loss} at step {event.iter}")
        if t is not None:
            run.last_t = t
        return True

    def extend_iterations(
        self,
        iters: np.ndarray,
        loss: np.ndarray,
        step_time_s: np.ndarray,
        mfu: np.ndarray,
        t: float | None,
        silent: np.ndarray | None = None,
        train_time_s: np.ndarray | None = None,
        max_iters: np.ndarray | None = None,
    ) -> bool:
        """Iteration lines seen at `t`, in order, folded in at once: the same as line_seen(t)
        and apply(Iteration(...), t) for each. NaN in any column (None for a whole optional
        column) means not printed: a bulk reader never takes a printed nan or inf, which the
        line path counts as a NaN loss. `silent[i]` lines that carried no event came before row i,
        and `silent[n]` after the last (line_seen(t) for each)."""
        n = len(iters)
        silent = np.zeros(n + 1, dtype=np.int64) if silent is None else silent
        repeated = None if n == 0 else _repeated_rows(self.current, iters, loss, train_time_s)
        if repeated is not None:  # lines said again word for word (a terminal copy): not a new run
            kept = ~repeated
            gaps = np.cumsum(silent[:n] + repeated)
            at = np.flatnonzero(kept)
            silent = np.concatenate((np.diff(gaps[at], prepend=0), [silent[n] + gaps[-1] - (gaps[at[-1]] if len(at) else 0)]))
            iters, loss, step_time_s, mfu = iters[kept], loss[kept], step_time_s[kept], mfu[kept]
            train_time_s = None if train_time_s is None else train_time_s[kept]
            max_iters = None if max_iters is None else max_iters[kept]
            return self.extend_iterations(iters, loss, step_time_s, mfu, t, silent, train_time_s, max_iters)
        self.lines += n + int(silent.sum())
        _lines_seen(self.current, int(silent[0]), t)
        if n == 0:
            return False
        # A step below the one before starts a new run; the same step again is a repeated line.
        steps = np.diff(iters)
        last = self.current.last_iter
        # after the run's end (its summary) its last step said otherwise starts the next run
        after_end = (last is not None and iters[0] == last
                     and (self.started_over or self.current.ended
                          and not _same_step(self.current, int(iters[0]), float(loss[0]))))
        self.started_over = False
        first_back = last is not None and iters[0] < last or after_end
        bounds = [0, *(np.flatnonzero(steps < 0) + 1).tolist(), n]
        if first_back:
            bounds.insert(1, 0)  # an empty piece: row 0 starts a new run
        repeat: np.ndarray | None = None
        if (last is not None and iters[0] == last) or not steps.all():
            repeat = np.zeros(n, dtype=bool)
            repeat[1:] = steps == 0
            repeat[0] = last is not None and iters[0] == last and not after_end
        changed = False
        for piece, (a, b) in enumerate(itertools.pairwise(bounds)):
            # Rows a..b-1 and the silent lines after each of them; row a of a later piece
            # is counted where it was seen, then it starts the new run.
            run = self.current
            rows = b - a
            if piece > 0:
                _lines_seen(run, 1, t)
                run = self._new_run(t)
                rows -= 1
            _lines_seen(run, rows + int(silent[a + 1 : b + 1].sum()), t)
            keep: slice | np.ndarray = slice(a, b) if repeat is None else np.flatnonzero(~repeat[a:b]) + a
            if len(iters[keep]):
                _append_iterations(run, iters[keep], loss[keep], step_time_s[keep], mfu[keep], t,
                                   None if train_time_s is None else train_time_s[keep],
                                   None if max_iters is None else max_iters[keep])
                changed = True
        return changed

    def append_iterations(
        self,
        iters: np.ndarray,
        loss: np.ndarray,
        step_time_s: np.ndarray,
        mfu: np.ndarray,
        t: float | np.ndarray | None,
        train_time_s: np.ndarray | None = None,
        max_iters: np.ndarray | None = None,
    ) -> None:
        """Iteration rows seen at `t`, or row i at t[i] (columns as extend_iterations takes
        them) that all go to the current run: each step above the one before and the first
        above the run's last step (the caller checked). Their lines are not counted here
        (line_seen, lines_seen_at)."""
        self.started_over = False
        _append_iterations(self.current, iters, loss, step_time_s, mfu, t, train_time_s, max_iters)

    def _withdraw(self) -> None:
        """The current run was no training process (a sampler's output): it is dropped, its
        lines counted on the run before it, which is current again."""
        run = self.runs.pop()
        previous = self.current
        previous.lines += run.lines
        if run.last_line_t is not None:
            previous.prior_line_t, previous.last_line_t = previous.last_line_t, run.last_line_t

    def _new_run(self, t: float | None) -> Run:
        previous = self.current
        run = Run(len(self.runs), inherited=previous.config)
        run.previous = previous
        self.started_over = False
        # The line that started this run was counted on the previous one; it is this run's first.
        if previous.lines > 1:
            previous.lines -= 1
            previous.last_line_t = previous.prior_line_t
        run.lines = 1
        run.first_t = t
        run.last_line_t = t
        self.runs.append(run)
        return run


def _said(event: Event) -> object:
    """What a start-up line says, to know it again: a setting's key, a run start's text, or the
    kind of line (each printed once a run)."""
    if isinstance(event, ConfigValue):
        return ("setting", event.key)
    if isinstance(event, RunStarted):
        return ("start", event.text)
    return type(event)


def _same_step(run: Run, it: int, loss: float | None) -> bool:
    """True when step `it` with this loss is the run's last row said again (NaN: not printed)."""
    if it != run.last_iter:
        return False
    last = float(run.loss.last())
    return loss is None or math.isnan(loss) and math.isnan(last) or loss == last


def _said_before(run: Run, it: int, loss: float, train_time_s: float) -> bool:
    """True when the run's kept rows hold step `it` with this same loss and training clock
    (both printed): the line is a copy (a terminal's scrollback pasted twice), not a new
    process going back, which starts its clock again."""
    iters = run.iters.values
    i = int(np.searchsorted(iters, it))
    return (math.isfinite(loss) and math.isfinite(train_time_s) and i < len(iters) and iters[i] == it
            and run.loss.values[i] == loss and run.train_time_s.values[i] == train_time_s)


def _inside_clock(iters: Sequence[int] | np.ndarray, clock_s: Sequence[float] | np.ndarray, it: int, clock: float) -> bool:
    """True when step `it`, printed with training clock `clock`, lies inside the run whose kept
    rows are (iters, clock_s), steps ascending: between two of its steps and strictly between
    their clocks. Such a line going back is a copy of a line of this run that was not shown (a
    poster pastes a line of the part they cut under the end); a new process starts its clock
    again, and one that resumes prints its start-up lines first (a new run before its first step)."""
    i = bisect.bisect_left(iters, it)
    if not (0 < i < len(iters) and math.isfinite(clock) and clock > 0):
        return False
    return iters[i] != it and float(clock_s[i - 1]) < clock < float(clock_s[i])


def _repeated_rows(run: Run, iters: np.ndarray, loss: np.ndarray, train_time_s: np.ndarray | None) -> np.ndarray | None:
    """The rows of a block that _iteration would drop as copies (_said_before, row by row: a
    row going back starts a new run unless it copies a row of the run it goes back in); None
    when no row can be one (the usual case: one pass over the block)."""
    last = run.last_iter
    if train_time_s is None:
        return None
    ahead = np.maximum.accumulate(iters)
    if not (iters < np.concatenate(([np.iinfo(np.int64).min if last is None else last], ahead[:-1]))).any():
        return None
    steps, losses, clocks = run.iters.values.tolist(), run.loss.values.tolist(), run.train_time_s.values.tolist()
    seen = dict(zip(steps, zip(losses, clocks)))
    repeated = np.zeros(len(iters), dtype=bool)
    for i, (it, x, c) in enumerate(zip(iters.tolist(), loss.tolist(), train_time_s.tolist())):
        if last is not None and it < last:
            if math.isfinite(x) and math.isfinite(c) and (seen.get(it) == (x, c) or _inside_clock(steps, clocks, it, c)):
                repeated[i] = True
                continue
            seen, steps, clocks = {}, [], []  # a new run starts with this row
        elif last is not None and it == last:
            continue  # the same step again: a repeated line, dropped by the caller
        seen[it] = (x, c)  # (steps rise here: `steps` stays sorted for _inside_clock)
        steps.append(it)
        clocks.append(c)
        last = it
    return repeated if repeated.any() else None


def _lines_seen(run: Run, count: int, t: float | None) -> None:
    """`count` lines of `run` seen at `t`."""
    if count == 0:
        return
    run.lines += count
    if run.lines == count:
        # None when the run's first line was already in the file: its start is unknown.
        run.first_t = t
    # the time of the line before the last: the last's own when both are at t
    run.prior_line_t = t if count > 1 and t is not None else run.last_line_t
    if t is not None:
        run.last_line_t = t


def _printed_max_iters(run: Run, max_iters: np.ndarray) -> None:
    """The last total the new rows print (NaN: not printed)."""
    printed = max_iters if math.isfinite(max_iters[-1]) else max_iters[np.isfinite(max_iters)]
    if len(printed):
        run.printed_max_iters = int(printed[-1])


def _append_iterations(
    run: Run,
    iters: np.ndarray,
    loss: np.ndarray,
    step_time_s: np.ndarray,
    mfu: np.ndarray,
    t: float | np.ndarray | None,
    train_time_s: np.ndarray | None,
    max_iters: np.ndarray | None,
) -> None:
    """New steps of `run`, each above the one before (RunState._iteration in bulk), and the
    last total they print (max_iters: NaN where not printed, None where no row prints one).
    `t`: the rows' time, or each row's (an array)."""
    first_t, last_t = (float(t[0]), float(t[-1])) if isinstance(t, np.ndarray) else (t, t)
    run.tentative = False
    if run.crash is not None:
        run.note(first_t, "warning", f"run continued after: {run.crash.message}")
        run.crash = None
        run.crash_ranks.clear()
    run.add_rows(iters, loss, _measured_column(step_time_s, MAX_STEP_TIME_S), _measured_column(mfu, MAX_MFU), t,
                 None if train_time_s is None else _measured_column(train_time_s, MAX_TRAIN_TIME_S))
    if max_iters is not None:
        _printed_max_iters(run, max_iters)
    if last_t is not None:
        run.last_t = last_t


def _eval_text(event: Eval) -> str:
    parts = [f"step {event.iter}:"]
    if event.train_loss is not None:
        parts.append(f"train loss {event.train_loss:.4f},")
    if event.val_loss is not None:
        parts.append(f"{event.metric} {event.val_loss:.4f}")
    if event.score is not None:
        parts.append(f"{event.metric} {event.score:.4f}")
    return " ".join(parts).rstrip(",")
