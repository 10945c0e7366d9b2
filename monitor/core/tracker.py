"""The estimator's per-run state: new rows of a run folded into its timing streams once
each (O(1) amortised), the eval pauses seen in arrival gaps, and the plain wall-clock rate.

PURE ring: no I/O, no textual/watchdog/pynvml imports.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence

import numpy as np

from monitor.core.plan import eval_step_offset
from monitor.core.run import Run
from monitor.core.speed import Speed, Stream

#: A log whose first step is at most this is a process start (nanoGPT leaves its first 5
#: steps out of its MFU for warm-up, `local_iter_num >= 5`); energy keeps them out of power.
WARMUP_STEPS = 5
#: Warm-up is read from the data (see `warmup_rows`): a process's first logged step (compile)
#: always; then each next step while its time exceeds WARMUP_FACTOR x the reference time of
#: the WARMUP_LOOKAHEAD steps logged after it (their lower quartile: the fastest of up to 4,
#: the second fastest of 5 to 8, so one slow step ahead or a plateau of up to 3 warm-up steps
#: does not hide the steady level). On the recorded runs a steady step stays within 1.5x that
#: reference (at most 1.495x, `compiled` iteration 10: 12.53 ms against 8.38 ms), while the
#: slow steps right after compile run 1.55x to 1.9x (eager runs' iteration 1: 35 ms then
#: 23, 22, 19 ms); compile itself is 10x to 3000x.
WARMUP_FACTOR = 1.5
WARMUP_LOOKAHEAD = 8
#: Logged steps after the first that may be warm-up: a speed that keeps falling for longer
#: is the run's own (a schedule), not start-up.
WARMUP_MAX_ROWS = 8
#: An arrival gap shorter than this share of its steps' expected time is a line from a
#: buffered burst: it carries no timing.
BURST_FRACTION = 0.5
#: A gap this many times the expected step is a pause (stall, checkpoint), not a step.
PAUSE_FACTOR = 10.0
#: Arrival gaps taken from printed timestamps are as precise as the timestamps' last digit
#: (whole seconds: a 0.6 s gap reads 0 or 1 s). They are preferred to printed step times only
#: when that resolution is at most QUANT_GAP_SHARE of a gap between lines (each gap then
#: within 25%, inside the streams' clipping, none read as 0 or as a burst) and at most
#: QUANT_SPAN_SHARE of the time they span (the rounding of the two ends, one resolution,
#: moves their mean by no more than the 2% no run keeps its speed to, DRIFT_FLOOR).
QUANT_GAP_SHARE = 0.25
QUANT_SPAN_SHARE = 0.02
#: Config keys a parser sets itself (not read from a printed config).
PARSER_KEYS = frozenset({"final_iter_offset", "zero_based", "eval_in_step_time", "eval_step_offset"})
#: Rows of history folded in when the tracker starts on a run already under way.
BACKLOG = 2048
#: Share of burst lines above which arrival gaps are block-buffered output, not time.
BURSTY_SHARE = 0.3
BURST_ALPHA = 0.1
#: Transient slow steps recur (a shared GPU) once the regime has seen this many: their
#: share of the time is then expected to go on (and widens the band by as much again).
RECURRENT = 3


def _finite(x: float) -> bool:
    return math.isfinite(x) and x > 0


class Tracker:
    """Everything the estimator keeps for one run. `update` folds in the rows the run gained
    since the last call; nothing here looks at a row twice."""

    def __init__(self) -> None:
        #: the log shows the process start (None: not known yet), so its first steps are warm-up
        self._started: bool | None = None
        #: leading rows that are warm-up, and whether later rows can still change that
        self._warm_rows = 0
        self._warm_final = False
        #: resolution of the line times (s; 0: the reader's clock), see QUANT_GAP_SHARE
        self.t_resolution_s = 0.0
        self._eval_iters: list[int] = []
        self._evals_seen = 0
        self._eval_in_printed = True
        self._eval_offset = 0
        #: times (epoch s) at which the number of other processes on the run's GPUs changed
        self._contention_t: list[tuple[float, int]] = []
        self._contention_newest_t = -math.inf
        self._clear()

    def _clear(self) -> None:
        """Forget every row folded in (warm-up was redecided: they are folded in again)."""
        self.rows = 0
        self.arrival = Stream()
        self.printed = Stream()
        self.clock = Stream()
        self.burst_share = 0.0
        #: the current burst of lines that came faster than their steps ran (see `_flush`): the
        #: arrival before it (s), the time its lines account for (s), the iteration before it
        self._burst = (math.nan, 0.0, 0)
        self._lag_s = 0.0
        self._warm_until = -math.inf
        self._first: tuple[int, float] | None = None  # first iteration line with a time
        self.cache: dict[str, object] = {}
        self._contention_next = 0  # the first of _contention_t not yet turned into a change

    @staticmethod
    def of(run: Run) -> Tracker:
        """The run's tracker, made on first use (a Run carries it as `estimator_state`)."""
        tracker = run.estimator_state
        if not isinstance(tracker, Tracker):
            tracker = Tracker()
            run.estimator_state = tracker
        return tracker

    # -- folding rows in ------------------------------------------------------------

    @staticmethod
    def _process_start_in_view(run: Run) -> bool:
        """Warm-up is at a process's first steps, so it is looked for only when the log shows
        the process start (its startup lines, or a first step near 0); a log that begins
        mid-run has no warm-up in view."""
        printed_config = any(v is not None for k, v in run.config.items() if k not in PARSER_KEYS)
        return (
            run.tokens_per_iter is not None or run.params is not None or run.init is not None
            or printed_config or run.compiling or int(run.iters.head[0]) <= WARMUP_STEPS
        )

    def _decide_warmup(self, run: Run) -> None:
        """Redecide the warm-up from the process's first rows while more rows can change it;
        when it moves, the rows are folded in again (only ever the first few dozen)."""
        if self._started is None:
            self._started = self._process_start_in_view(run)
            self._warm_final = not self._started
        if self._warm_final:
            return
        n = min(run.n_iters, 2 + WARMUP_MAX_ROWS + WARMUP_LOOKAHEAD)
        iters, t = run.iters.head[:n], run.t.head[:n]
        printed, clock = run.step_time_s.head[:n], run.train_time_s.head[:n]
        times = [math.nan]
        for i in range(1, n):
            steps = float(iters[i] - iters[i - 1])
            dc, gap = float(clock[i] - clock[i - 1]), float(t[i] - t[i - 1])
            if _finite(float(printed[i])):
                times.append(float(printed[i]))
            elif steps > 0 and _finite(dc):
                times.append(dc / steps)
            elif steps > 0 and _finite(gap):
                times.append(gap / steps)
            else:
                times.append(math.nan)
        warm, self._warm_final = warmup_rows(times)
        if warm != self._warm_rows:
            self._clear()
            self._warm_rows = warm
        self._warm_until = float(iters[warm]) if warm < n else math.inf

    def _eval_in(self, lo: int, hi: int, eval_every: int | None) -> bool:
        """An eval was paid for in steps (lo, hi]: one was logged there, or the interval says
        so (eval steps shifted by the run's plan.eval_step_offset)."""
        off = self._eval_offset
        if eval_every and (hi - off) // eval_every != (lo - off) // eval_every:
            return True
        k = bisect.bisect_right(self._eval_iters, lo)
        return k < len(self._eval_iters) and self._eval_iters[k] <= hi

    def update(self, run: Run, eval_every: int | None, eval_in_step_time: bool = True,
               contention: Sequence[tuple[float, int]] = ()) -> None:
        """Fold in the rows and evals `run` gained since the last call. `eval_in_step_time`:
        the family's printed step time includes an eval that ran in that step. `contention`:
        (time, other processes on the run's GPUs) at each change of that number, oldest first
        (Telemetry.contention); each starts a new speed regime at the first gap after it."""
        self._eval_in_printed = eval_in_step_time
        self._eval_offset = eval_step_offset(run)
        fresh = [(t, n) for t, n in contention if t > self._contention_newest_t]
        if fresh:
            self._contention_t += fresh
            self._contention_newest_t = fresh[-1][0]
        self.t_resolution_s = run.t_resolution_s
        n = run.n_iters
        for e in run.evals[self._evals_seen:]:
            if e.iter >= 0:
                bisect.insort(self._eval_iters, e.iter + self._eval_offset)
        self._evals_seen = len(run.evals)
        for stream in (self.arrival, self.printed, self.clock):
            stream.schedule = run.schedule_changes
        if n <= self.rows:
            return
        self._decide_warmup(run)
        iters, t = run.iters.values, run.t.values
        if self._first is None and run.timed_head:
            self._first = run.timed_head[0]
        # A cold open of a long log folds in only its recent history: the streams follow the
        # run from there, and the cost stays bounded by BACKLOG rows.
        self.rows = max(self.rows, n - BACKLOG)
        printed, clock = run.step_time_s.values, run.train_time_s.values
        # the columns keep the newest rows (steps.TAIL_ROWS > BACKLOG): row i is at i - start
        start = run.iters.start
        for i in range(self.rows - start, n - start):
            hi, t_i = int(iters[i]), float(t[i])
            # an eval was paid for between the previous line and this one (both steps ask)
            evals = i > 0 and self._eval_in(int(iters[i - 1]), hi, eval_every)
            self._flush(i, hi, t_i, float(printed[i]), iters, t, evals, run.first_t)
            self._row(i, hi, t_i, float(printed[i]), float(clock[i]), iters, t, clock, eval_every, evals)
        self.rows = n

    def _row(self, i: int, hi: int, t: float, p: float, c: float, iters: np.ndarray, t_col: np.ndarray,
             clock: np.ndarray, eval_every: int | None, evals: bool) -> None:
        """Fold row i (iteration `hi`, arrival `t`, printed step time `p`, training clock `c`) in;
        `evals`: an eval was paid for since row i - 1."""
        warm = self._warm_until
        if i > 0:
            self._contended(float(t_col[i - 1]))
        if self._first is None and math.isfinite(t):
            self._first = (hi, t)
        if _finite(p) and hi >= warm and not (self._eval_in_printed and self._eval_in(hi - 1, hi, eval_every)):
            self.printed.add(p, 1.0, hi)
        if i == 0:
            return
        lo = int(iters[i - 1])
        steps = float(hi - lo)
        # a gap from a warm-up line holds the steps right after it, which may still be slow
        # (one logged line does not show which): gaps count from the first steady line on
        if lo < warm or steps <= 0:
            return
        gap = t - float(t_col[i - 1])
        dc = c - float(clock[i - 1])
        if _finite(dc):
            self.clock.add(dc / steps, steps, hi)
        # two lines at one instant of the reader's clock came in one read: a burst (with printed
        # timestamps, a zero gap is only under their resolution and says nothing)
        if not math.isfinite(gap) or gap < 0.0 or (gap == 0.0 and self.t_resolution_s > 0.0):
            return
        ref = self._level()
        if evals:
            return
        # A line is from a burst when it came faster than its steps can run: its own printed
        # step time says how long they took, where it has one (a real speed-up of 2x or more
        # would read as a burst against the level before it, and never be followed).
        own = p if _finite(p) else ref
        if own is not None and gap < BURST_FRACTION * steps * own:
            self.burst_share += BURST_ALPHA * (1.0 - self.burst_share)
            return
        self.burst_share -= BURST_ALPHA * self.burst_share
        if gap == 0.0 or (ref is not None and gap > PAUSE_FACTOR * steps * ref):
            return
        self.arrival.add(gap / steps, steps, hi)

    def _flush(self, i: int, hi: int, t: float, p: float, iters: np.ndarray, t_col: np.ndarray,
               evals: bool, first_t: float | None) -> None:
        """Account row i against the burst it arrived in. Block-buffered output (a pipe: 8 KiB
        at a time) brings many lines at one instant; the newest of them was written up to the
        time the rest of the buffer took, so the run is further on than it says. Over a burst,
        the time since the arrival before it that the burst's lines do not account for (their
        printed step times, evals apart: `burst_lag_s` adds them) is the most the run can be
        ahead of the newest line read."""
        lo = int(iters[i - 1]) if i > 0 else hi
        start = float(t_col[i - 1]) if i > 0 else (first_t if first_t is not None else t)
        steps = float(hi - lo)
        ref = self._level()
        # the time the line's steps took: printed (an eval's line at the level: its eval is
        # charged apart), the first step's printed time (compile) for the first line
        per_step = p if _finite(p) and not evals else ref
        own = steps * per_step if per_step is not None else 0.0
        if i == 0:
            own = p if _finite(p) else 0.0
        took = p if _finite(p) else ref  # as `_row` tests for a burst
        if i > 0 and took is not None and t - start < BURST_FRACTION * steps * took:
            # it came faster than its steps ran: it joins the burst the lines before it began
            b_start, b_own, b_from = self._burst
            self._burst = (b_start, b_own + own, b_from)
        else:
            # it took its time: it begins a burst (of one line, unless the next come at once);
            # in a bursty log the first line of a flush is as late as the rest
            self._burst = (start, own, lo)
        self._lag_s = max(0.0, t - self._burst[0] - self._burst[1])

    def burst_lag_s(self, eval_every: int | None, pause_s: float, last_iter: int) -> float:
        """How far (s) the run may be ahead of its newest line: while lines arrive in bursts
        (`burst_share` over BURSTY_SHARE), the time since the arrival before the newest line's
        burst that the burst's lines do not account for, less `pause_s` for each eval in them;
        else 0."""
        if self.burst_share <= BURSTY_SHARE:
            return 0.0
        evals = self._evals_in(self._burst[2], last_iter, eval_every)
        return max(0.0, self._lag_s - evals * pause_s)

    def _contended(self, since_t: float) -> None:
        """A row whose gap starts at `since_t` (epoch s) follows a change of the processes on the
        run's GPUs: its samples start a new regime in every stream."""
        others = None
        while self._contention_next < len(self._contention_t) and self._contention_t[self._contention_next][0] <= since_t:
            others = self._contention_t[self._contention_next][1]
            self._contention_next += 1
        if others is not None:
            for stream in (self.arrival, self.printed, self.clock):
                stream.force_change(freed=others == 0, listed=others > 0)
            if self._warm_final:  # no refold will need them again
                del self._contention_t[:self._contention_next]
                self._contention_next = 0

    def _level(self) -> float | None:
        for s in (self.arrival, self.printed, self.clock):
            if s.regime.n:
                return s.regime.mean_s()
        return None

    def best(self) -> tuple[Stream, str] | None:
        """The timing signal to trust: arrival gaps cover every step (data loading, logging),
        but after a cold open only the lines seen live have one, so they must cover half of
        what was printed; block-buffered arrival carries no per-line time, and timestamps
        coarse against the gaps carry less than a printed step time (QUANT_GAP_SHARE)."""
        a, p, c = self.arrival, self.printed, self.clock
        bursty = self.burst_share > BURSTY_SHARE
        if a.n and not bursty and not self._coarse() and a.n >= p.n / 2:
            return a, "arrival"
        if p.n:
            return p, "printed"
        if c.n:
            return c, "train-clock"
        if a.n and not bursty:
            return a, "arrival"
        return None

    def _coarse(self) -> bool:
        """The arrival gaps are too coarse to beat a printed step time: their resolution is
        large against a gap, or against the time they span (QUANT_GAP_SHARE)."""
        r = self.arrival.regime
        res = self.t_resolution_s
        if not res or not r.n:
            return False
        return res > QUANT_GAP_SHARE * r.xw / r.n or res > QUANT_SPAN_SHARE * r.xw

    def wallclock_rate(self, last_iter: int, last_t: float, eval_every: int | None, pause_s: float,
                       since: tuple[int, float] | None = None) -> float | None:
        """Seconds per step since the first iteration line with a time (or since the line
        `since`: iteration, time), less `pause_s` for each eval in between: the plain wall-clock
        rate, evals out. With the pause the estimate adds for each eval to come, the evals' share
        of the time carries over as it was, whatever the pause: only a change in how often evals
        come is charged at `pause_s` (and with no pause known, the evals stay in the rate)."""
        start = since if since is not None else self._first
        if start is None or not math.isfinite(last_t) or not math.isfinite(start[1]) or last_iter <= start[0]:
            return None
        if self.burst_share > BURSTY_SHARE:
            return None  # lines that arrive faster than their steps can run carry no time
        spent = last_t - start[1] - self._evals_in(start[0], last_iter, eval_every) * pause_s
        rate = spent / (last_iter - start[0])
        return rate if rate > 0 else None

    def _evals_in(self, lo: int, hi: int, eval_every: int | None) -> int:
        logged = bisect.bisect_right(self._eval_iters, hi) - bisect.bisect_right(self._eval_iters, lo)
        off = self._eval_offset
        due = (hi - off) // eval_every - (lo - off) // eval_every if eval_every else 0
        return max(logged, due)


def warmup_rows(times: Sequence[float]) -> tuple[int, bool]:
    """Leading rows of a process that are warm-up, from the step time of each row (seconds
    per step, NaN where unknown; row 0 is the process's first logged step), and whether later
    rows can no longer change that. Row 0 is always warm-up; row j after it while its time
    exceeds WARMUP_FACTOR x the lower quartile of the known times of the up to
    WARMUP_LOOKAHEAD rows after it, for at most WARMUP_MAX_ROWS rows. The newest row, with
    nothing after it yet, counts as steady: a first estimate comes from one step."""
    n = len(times)
    warm = 1
    while warm < min(n, 1 + WARMUP_MAX_ROWS):
        ahead = sorted(x for x in times[warm + 1:warm + 1 + WARMUP_LOOKAHEAD] if math.isfinite(x))
        t = times[warm]
        if not math.isfinite(t) or not ahead or t <= WARMUP_FACTOR * ahead[(len(ahead) - 1) // 4]:
            break
        warm += 1
    return warm, warm >= 1 + WARMUP_MAX_ROWS or n > warm + WARMUP_LOOKAHEAD


def model_step_s(speed: Speed) -> float:
    """Expected seconds per step to come: the regime's level and drift, plus the time
    transient slow steps cost once they recur."""
    if speed.transients >= RECURRENT and speed.transient_share < 1.0:
        return speed.step_s / (1.0 - speed.transient_share)
    return speed.step_s


def long_step_s(speed: Speed) -> float:
    """The long-run mean seconds per step, with the time transient slow steps cost over the
    whole run once they recur (a slow step every 10: SOAP's preconditioner update), as the
    model counts them in its regime: the winsorised mean alone leaves that time out."""
    if speed.long_transients >= RECURRENT and speed.long_transient_share < 1.0:
        return speed.long_s / (1.0 - speed.long_transient_share)
    return speed.long_s
