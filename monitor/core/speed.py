"""Streaming step-time tracking for the finish-time estimate: one sample at a time, O(1)
per sample (running sums, a short window, a CUSUM), so a million-step run costs no pass.

Why a CUSUM and not a change-point library: `ruptures` (PELT, binary segmentation) is offline:
each call re-segments the whole series, O(n) or more per update, against this module's O(1);
and it would add a dependency to the runtime for what is here a few lines of running sums. A
two-sided CUSUM on winsorised log step times (Page 1954) is the streaming test for exactly this
question (has the mean moved by at least delta?), with a known delay of about h / (delta - k)
samples.

PURE ring: no I/O, no textual/watchdog/pynvml imports.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from dataclasses import dataclass

#: Samples in the recent window whose median is the robust recent step time.
WINDOW = 16
#: CUSUM on log step times (Page 1954; Montgomery, "Statistical Quality Control", ch. 9):
#: reference k is half the smallest move worth following (25%: log 1.25 = 0.223), the
#: threshold h keeps a run of noise from raising an alarm. With noise under ~10% a move of
#: 25% adds k per sample and crosses h = 0.7 within 7 samples; 2x within 2-3.
CHANGE_K = 0.5 * math.log(1.25)
CHANGE_H = 0.7
#: Each sample is clipped to CLIP (log units, or 4 noise) of the current level before it
#: reaches the CUSUM or the means: one slow step (a data-loader hiccup, an eval the log
#: did not announce, a burst of buffered lines) adds at most CLIP - k < h.
CLIP = 0.5
#: A change needs this many samples behind it, so two slow steps in a row are not a regime.
CHANGE_MIN_SAMPLES = 3
#: A change detected within this many steps (or this share of the step number) after a step
#: where the log announced a schedule change is that change: it is followed in full.
ANNOUNCED_STEPS = 20
ANNOUNCED_SHARE = 0.1
#: A sample this much slower than the level is a transient (log 1.5 = 50% slower).
TRANSIENT = math.log(1.5)
#: Least noise assumed in log step time (1%): printed times are rounded and no real run
#: is steadier, so a flat synthetic series still gets a finite noise.
NOISE_FLOOR = 0.01
NOISE_ALPHA = 0.1
#: A drift is followed when its slope is this many standard errors from zero over at least
#: TREND_MIN samples; its extrapolation over the steps left is halved and capped at 30%, and
#: reaches no further ahead than the steps it was measured over: a slope read over 200 steps
#: (MPS steps going from 757 to 785 ms) is no evidence for the 4,800 after them.
#: A regime this much of the fastest earlier regime's step time or less (1.5x faster than the
#: run has ever run) is taken to last: the end of a competing job the run started under, not
#: one of the waves of +-15-40% seen on shared GPUs. Its speed is followed in full at once,
#: not as it lasts (see `Stream.speed`). Chosen leave one run out on the 25 recorded runs (0.8,
#: 2/3 and 0.5 looked at, BENCHMARKS.md): at 0.8 a 25% faster stretch of 24 steps that did not
#: last was followed (18% off), at 0.5 the runs freed of competing jobs were followed later.
FRESH = 2.0 / 3.0
#: A change known from outside (force_change) starts a new regime only when the current one
#: has this many samples: a younger one began at that change already (the CUSUM saw the
#: speed move a line or two before NVML stopped listing the process that left).
FORCED_MIN_SAMPLES = 8
#: A process listed beside the run slows it when the run's mean step time since that process
#: list began is at least this much slower than its mean while it had the GPU alone: the
#: CUSUM's reference k, half the smallest move worth following (a smaller shift is noise).
#: Until either side has FORCED_MIN_SAMPLES samples, nothing says the process is harmless.
SLOWED = CHANGE_K
TREND_Z = 3.0
TREND_MIN = 20
TREND_CAP = math.log(1.3)


@dataclass(frozen=True, slots=True)
class Speed:
    """What one timing signal says about the step time from here on (seconds per step)."""

    step_s: float  # mean step time expected over the steps left (level, trend, long-run mean)
    level_s: float  # mean of the current regime (winsorised)
    recent_s: float  # median of the last WINDOW samples
    long_s: float  # mean of every sample (winsorised), changes or not
    noise: float  # relative spread of single samples (log units)
    samples: int  # samples in the current regime
    change_iter: int | None  # iteration where the current regime began, after a change
    before_s: float | None  # mean step time of the regime before the change
    transient_share: float  # share of time lost to transient slow steps in the regime
    transients: int  # transient slow steps in the regime
    reverts: int  # changes that went back to an earlier speed (moves that come and go)
    announced: bool = False  # the current regime began where the log announced a schedule change
    regime_share: float = 1.0  # weight of the current regime against the long-run mean in step_s
    long_transient_share: float = 0.0  # as transient_share, over every sample (long_s's span)
    long_transients: int = 0  # transient slow steps over every sample
    #: other processes are listed on the run's GPUs and the run has not slowed beside them
    #: (see `Stream.harmless`); False with no process list
    harmless: bool = False


class _Sums:
    """Running sums of one stretch of samples: weighted mean step time and a least-squares
    line of log step time against the iteration (for drift)."""

    __slots__ = ("first_iter", "n", "si", "sii", "siy", "sy", "syy", "w", "xw")

    def __init__(self) -> None:
        self.n = 0
        self.w = self.xw = 0.0
        self.si = self.sii = self.sy = self.siy = self.syy = 0.0
        self.first_iter: int | None = None

    def add(self, x: float, y: float, steps: float, at: int) -> None:
        if self.n == 0:
            self.first_iter = at
        self.n += 1
        self.w += steps
        self.xw += x * steps
        i = float(at - (self.first_iter or 0))  # relative: keeps the squares small
        self.si += i
        self.sii += i * i
        self.sy += y
        self.siy += i * y
        self.syy += y * y

    def mean_s(self) -> float:
        return self.xw / self.w

    def log_mean(self) -> float:
        return self.sy / self.n

    def slope(self) -> float | None:
        """Slope of log step time per step when it is significant, else None."""
        n = self.n
        if n < TREND_MIN:
            return None
        sxx = self.sii - self.si * self.si / n
        if sxx <= 0:
            return None
        sxy = self.siy - self.si * self.sy / n
        b = sxy / sxx
        resid = max(0.0, self.syy - self.sy * self.sy / n - b * sxy)
        se = math.sqrt(resid / (n - 2) / sxx) if n > 2 else math.inf
        return b if se == 0 or abs(b) / se >= TREND_Z else None


class Stream:
    """One timing signal (arrival gaps, printed step times or a training clock), folded in
    one steady sample at a time: a winsorised regime mean, a two-sided CUSUM that starts a
    new regime when the speed moves by 25% or more, a recent median and a drift line."""

    def __init__(self) -> None:
        self.n = 0
        self.window: deque[float] = deque(maxlen=WINDOW)
        self._abs_diff = 0.0
        self._prev_y: float | None = None
        self.regime = _Sums()
        self.whole = _Sums()  # every sample, winsorised against the regime of its time
        self._pending = _Sums()
        self._hi = self._lo = 0.0
        self.change_iter: int | None = None
        self.before_s: float | None = None
        #: the fastest mean of any regime before the current one
        self.fastest_before_s = math.inf
        self._transient_s = 0.0
        self.transients = 0
        self._long_transient_s = 0.0
        self.long_transients = 0
        #: direction of the last change, and how many changes went back the other way
        self._last_up: bool | None = None
        self.reverts = 0
        self.changes = 0
        #: steps where the log says its schedule changes the step time (modded-nanogpt)
        self.schedule: tuple[int, ...] = ()
        #: a change is known from outside the timing (another process came to or left the
        #: run's GPU): the next sample starts a new regime
        self._forced = False
        #: the current regime began when the last other process left the run's GPU: it lasts
        self._freed = False
        self._freed_next = False
        #: other processes are listed on the run's GPUs (from the next sample on), and the
        #: samples while none were (`_alone`) and since the current list began (`_listed`)
        self._listed = self._listed_next = False
        self._alone = _Sums()
        self._listed_sums = _Sums()

    def force_change(self, freed: bool = False, listed: bool | None = None) -> None:
        """Start a new regime at the next sample, without waiting for the CUSUM: the speed is
        known to change from here (a competing process came to or left the run's GPU).
        `freed`: no other process is left on it, so the new speed is the run's own and is
        followed in full; a competitor that came may leave, so its speed counts as it lasts.
        `listed`: other processes are on the run's GPUs from here (None: as `not freed`)."""
        self._forced = True
        self._freed_next = freed
        self._listed_next = not freed if listed is None else listed

    @property
    def harmless(self) -> bool:
        """Other processes are listed on the run's GPUs and do not slow it: the mean step time
        since the list began, and the current regime's, are less than SLOWED above the mean
        while the run had its GPUs alone, from FORCED_MIN_SAMPLES samples or more each side
        (a process listed from the start leaves no speed alone to compare with: not harmless)."""
        a, b = self._alone, self._listed_sums
        if not self._listed or a.n < FORCED_MIN_SAMPLES or b.n < FORCED_MIN_SAMPLES:
            return False
        # the current regime too: a process listed idle (compiling) that then starts to
        # compute slows the run without changing the list
        alone = a.mean_s()
        return max(math.log(b.mean_s() / alone), math.log(self.regime.mean_s() / alone)) < SLOWED

    @property
    def noise(self) -> float:
        # E|y1 - y2| = 2 sigma / sqrt(pi) for independent normal samples
        return max(NOISE_FLOOR, self._abs_diff * math.sqrt(math.pi) / 2.0)

    def add(self, x: float, steps: float, at: int) -> None:
        """Fold in a sample: `x` seconds per step over `steps` steps ending at iteration `at`."""
        y = math.log(x)
        if self._forced:
            self._forced = False
            if self.regime.n >= FORCED_MIN_SAMPLES:
                self._new_regime(_Sums())
                self.change_iter = at  # this sample is the new regime's first
            self._freed = self._freed_next  # (a younger regime began at this change already)
            self._listed = self._listed_next
            self._listed_sums = _Sums()
        self.n += 1
        if self._prev_y is not None:
            d = min(abs(y - self._prev_y), 1.0)
            self._abs_diff += NOISE_ALPHA * (d - self._abs_diff) if self.n > 2 else d - self._abs_diff
        self._prev_y = y
        ref = self.regime.log_mean() if self.regime.n else y
        clip = max(CLIP, 4.0 * self.noise)
        yc = min(max(y, ref - clip), ref + clip)
        if y - ref > TRANSIENT:
            # the time the clipped sample leaves out of the means (what it keeps is in them)
            excess = (x - math.exp(yc)) * steps
            self.transients += 1
            self._transient_s += excess
            self.long_transients += 1
            self._long_transient_s += excess
        self.window.append(y)
        self._cusum(x, y, math.exp(yc), yc, yc - ref, steps, at)

    def _cusum(self, x: float, y: float, xc: float, yc: float, d: float, steps: float, at: int) -> None:
        k = max(CHANGE_K, self.noise)
        h = max(CHANGE_H, 5.0 * self.noise)
        idle = self._hi == 0.0 and self._lo == 0.0
        self._hi = max(0.0, self._hi + d - k)
        self._lo = max(0.0, self._lo - d - k)
        if self._hi == 0.0 and self._lo == 0.0:
            self._pending = _Sums()
        else:
            if idle:
                self._pending = _Sums()
            self._pending.add(x, y, steps, at)  # unclipped: it may become the new level
        self.regime.add(xc, yc, steps, at)
        self.whole.add(xc, yc, steps, at)
        (self._listed_sums if self._listed else self._alone).add(xc, yc, steps, at)
        if max(self._hi, self._lo) > h and self._pending.n >= CHANGE_MIN_SAMPLES:
            up = self._pending.log_mean() > self.regime.log_mean()
            if self._last_up is not None and up != self._last_up:
                self.reverts += 1  # a move back the other way: the moves come and go
            self._last_up = up
            self._new_regime(self._pending)

    def _new_regime(self, regime: _Sums) -> None:
        """The current regime ends; `regime` (its samples so far, maybe none) is the new one."""
        self.changes += 1
        self.before_s = self.regime.mean_s()
        self.fastest_before_s = min(self.fastest_before_s, self.before_s)
        self.change_iter = regime.first_iter
        self._freed = False
        self.regime, self._pending = regime, _Sums()
        self._hi = self._lo = 0.0
        self._transient_s = 0.0
        self.transients = 0

    def _announced(self, change_iter: int) -> bool:
        """The log said the speed would change about here (a schedule stage): it lasts."""
        return any(0 <= change_iter - s <= max(ANNOUNCED_STEPS, ANNOUNCED_SHARE * s) for s in self.schedule)

    def speed(self, at: int, steps_left: float) -> Speed | None:
        """The step time expected over the `steps_left` steps after iteration `at`."""
        r = self.regime
        if r.n == 0:
            return None
        level = r.mean_s()
        step_s = level
        slope = r.slope()
        if slope is not None:
            # the level at `at`, then half the drift over the steps left (no more of them than
            # the drift was seen over), capped
            centre = r.si / r.n + (r.first_iter or 0)
            now = slope * (at - centre)
            seen = at - (r.first_iter or 0)
            ahead = 0.5 * slope * min(steps_left, seen) / 2.0
            step_s = level * math.exp(max(-TREND_CAP, min(TREND_CAP, now + ahead)))
        long_s = self.whole.mean_s()
        announced = False
        share = 1.0
        if self.change_iter is not None and self.whole.first_iter is not None:
            # After a change, the new speed is shown at once (level_s), but how long will it
            # last? A regime that has lasted `age` steps is as likely as not to last as long
            # again (Gott 1993): it sets the speed for that share of the steps to come, the
            # long-run mean for the rest, so a lasting change takes over as it lasts, and a
            # burst of a few hundred steps (H100 and H200 runs) does not move the finish by all
            # of it. A speed far beyond any the run has had (FRESH) is followed in full.
            age = max(0, at - self.change_iter)
            span = min(steps_left, at - self.whole.first_iter) if steps_left > 0 else at - self.whole.first_iter
            announced = self._announced(self.change_iter)
            fresh = level <= FRESH * self.fastest_before_s
            share = 1.0 if span <= 0 or announced or fresh or self._freed else min(1.0, age / span)
            step_s = share * step_s + (1.0 - share) * long_s
        time_s = r.xw + self._transient_s
        long_time_s = self.whole.xw + self._long_transient_s
        return Speed(
            step_s=step_s,
            level_s=level,
            recent_s=math.exp(statistics.median(self.window)),
            long_s=long_s,
            noise=self.noise,
            samples=r.n,
            change_iter=self.change_iter,
            before_s=self.before_s,
            transient_share=self._transient_s / time_s if time_s > 0 else 0.0,
            transients=self.transients,
            long_transient_share=self._long_transient_s / long_time_s if long_time_s > 0 else 0.0,
            long_transients=self.long_transients,
            reverts=self.reverts,
            announced=announced,
            regime_share=share,
            harmless=self.harmless,
        )
