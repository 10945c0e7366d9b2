"""Bulk readers of the step lines of nanoGPT, nanochat, llm.c (stdout of train_gpt2.cu and
train_gpt2.py, main.log; build-nanogpt's stdout and log.txt) and modded-nanogpt: the shapes
their scripts print, read with formats/scan.py.

Each reader takes only lines its family's parser reads into exactly the same Iteration; any
other line (another layout, a nan, a sign where the parser takes none) goes to the parser.
The parsers' absorb() moves their state past the rows read here.

PURE ring: numpy only; no I/O, no textual/watchdog/pynvml imports.
"""

from __future__ import annotations

import numpy as np

from monitor.core.formats.scan import MISSING, IterationColumns, Lines, Shape, Variants, read_variants

# nanoGPT's train.py: `iter 100: loss 3.2, time 480.12ms, mfu 49.50%` (the mfu since 2023).
# Columns: iter, loss, time ms, mfu %.
_NANOGPT: Variants = (
    (Shape.of("iter {}: loss {}, time {}ms, mfu {}%", integers=(0,)), (0, 1, 2, 3)),
    (Shape.of("iter {}: loss {}, time {}ms", integers=(0,)), (0, 1, 2, MISSING)),
)


def _nanochat_variants() -> Variants:
    """base_train's `step 00100/21400 (0.47%) | loss: 3.2 | lrm: 1.00 | dt: 480.12ms |
    tok/sec: 1,092,233 | mfu: 49.5 | total time: 0.80m`, with or without `grad norm`, and the
    token rate with 0 to 3 thousands commas. Columns: iter, loss, dt ms, mfu %, total min, total."""
    out = []
    for grad_norm in (False, True):
        for commas in range(4):
            head = "step {}/{} ({}%) | loss: {}" + (" | grad norm: {}" if grad_norm else "")
            text = head + " | lrm: {} | dt: {}ms | tok/sec: {}" + ",{}" * commas + " | mfu: {} | total time: {}m"
            lrm = 5 if grad_norm else 4
            dt, mfu = lrm + 1, lrm + 3 + commas
            free = (*((4,) if grad_norm else ()), lrm, *range(dt + 1, mfu))  # grad norm, lrm, tok/sec
            shape = Shape.of(text, integers=(0, 1), unsigned=(2, dt, mfu, mfu + 1), free=free)
            out.append((shape, (0, 3, dt, mfu, mfu + 1, 1)))
    return tuple(out)


_NANOCHAT = _nanochat_variants()

# llm.c's train_gpt2.cu: printf("step %4d/%d | loss %7.6f (%+.2fz)| norm %6.4f (%+.2fz)| lr %.2e
# | %.2f ms | %.1f%% bf16 MFU | %.0f tok/s\n"): `step` is padded to 4 digits.
_LLMC_STDOUT: Variants = tuple(
    (
        Shape.of("step" + " " * pad + "{}/{} | loss {} ({}z)| norm {} ({}z)| lr {}e{} | {} ms | {}% bf{} MFU | {} tok/s",
                 integers=(0, 1), unsigned=(8, 9), free=(3, 4, 5, 6, 7, 10, 11)),
        (0, 2, 8, 9, 1),
    )
    for pad in range(1, 5)
)
# llm.c's train_gpt2.py: f"step {step+1:4d}/{n} | train loss {loss:.6f} | norm {norm:.4f} | lr {lr:.2e} |
# ({ms:.2f} ms | {tok_per_s:.0f} tok/s)".
_LLMC_PYTHON: Variants = tuple(
    (
        Shape.of("step" + " " * pad + "{}/{} | train loss {} | norm {} | lr {}e{} | ({} ms | {} tok/s)",
                 integers=(0, 1), unsigned=(6,), free=(3, 4, 5, 7)),
        (0, 2, 6, MISSING, 1),
    )
    for pad in range(1, 5)
)
# llm.c's -o logger file: `s:%d trl:%f lr:%f norm:%f` (older: `s:%d trl:%f`).
_LLMC_LOGGER: Variants = (
    (Shape.of("s:{} trl:{} lr:{} norm:{}", integers=(0,), free=(2, 3)), (0, 1, MISSING, MISSING, MISSING)),
    (Shape.of("s:{} trl:{}", integers=(0,)), (0, 1, MISSING, MISSING, MISSING)),
)


def _build_nanogpt_variants() -> Variants:
    """build-nanogpt's train_gpt2.py: f"step {step:5d} | loss: {loss:.6f} | lr {lr:.4e} | norm: {norm:.4f} |
    dt: {dt_ms:.2f}ms | tok/sec: {tps:.2f}", the forms of its history that forks kept (`step {i:4d} | loss:
    … | norm: … | dt: …`, `step {i} | loss: … | dt: …`, `step {i}, loss: …, dt: …ms, tok/sec: …`, `step {i},
    loss: …`), and its log/log.txt's f"{step} train {loss:.6f}". Columns as _LLMC's (no MFU, no total)."""
    out = []
    for pads, text, free in (
        (range(1, 6), " | loss: {} | lr {}e{} | norm: {} | dt: {}ms | tok/sec: {}", (2, 3, 4, 6)),
        (range(1, 5), " | loss: {} | norm: {} | dt: {}ms | tok/sec: {}", (2, 4)),
        ((1,), " | loss: {} | dt: {}ms | tok/sec: {}", (3,)),
        ((1,), ", loss: {}, dt: {}ms, tok/sec: {}", (3,)),
    ):
        dt = text.count("{}") - 1  # the number before tok/sec's, the last (the step is number 0)
        for pad in pads:
            shape = Shape.of("step" + " " * pad + "{}" + text, integers=(0,), unsigned=(dt,), free=free)
            out.append((shape, (0, 1, dt, MISSING, MISSING)))
    out.append((Shape.of("step {}, loss: {}", integers=(0,)), (0, 1, MISSING, MISSING, MISSING)))
    out.append((Shape.of("{} train {}", integers=(0,)), (0, 1, MISSING, MISSING, MISSING)))
    return tuple(out)


_BUILD_NANOGPT = _build_nanogpt_variants()
_LLMC = _LLMC_STDOUT + _LLMC_PYTHON + _LLMC_LOGGER + _BUILD_NANOGPT

# modded-nanogpt: `step:120/1390 train_loss:4.2 train_time:5000ms step_avg:41.67ms` (train_loss
# gone since 2025; step_avg nan on the first steps). Columns: iter, loss, train_time ms, total.
_MODDED: Variants = tuple(
    (Shape.of(f"step:{{}}/{{}} {loss}train_time:{{}}ms step_avg:{avg or 'nan'}ms", integers=(0, 1),
              free=((4 if loss else 3),) if avg else ()),  # step_avg
     (0, 2 if loss else MISSING, 3 if loss else 2, 1))
    for loss in ("train_loss:{} ", "")
    for avg in ("{}", "")
)


def nanogpt(data: bytes, starts: np.ndarray, ends: np.ndarray) -> IterationColumns:
    """nanoGPT's plain `iter` lines among the lines `data[starts[i]:ends[i]]` (see
    Family.scan_iterations). A negative MFU is nanoGPT's "not measured yet" (-100%): NaN, as
    the parser gives it."""
    ok, (iters, loss, time_ms, mfu_pct) = read_variants(Lines(data, starts, ends), _NANOGPT)
    with np.errstate(invalid="ignore"):
        mfu = np.where(mfu_pct < 0, np.nan, mfu_pct / 100.0)
    return IterationColumns(ok=ok, iter=_steps(ok, iters), loss=loss, step_time_s=time_ms / 1000.0, mfu=mfu)


def nanochat(data: bytes, starts: np.ndarray, ends: np.ndarray) -> IterationColumns:
    """nanochat base_train step lines among the lines."""
    ok, (iters, loss, dt_ms, mfu_pct, total_min, total) = read_variants(Lines(data, starts, ends), _NANOCHAT)
    return IterationColumns(ok=ok, iter=_steps(ok, iters), loss=loss, step_time_s=dt_ms / 1000.0,
                            mfu=mfu_pct / 100.0, train_time_s=total_min * 60.0, max_iters=total)


def llmc(data: bytes, starts: np.ndarray, ends: np.ndarray) -> IterationColumns:
    """llm.c's step lines (train_gpt2.cu's and train_gpt2.py's stdout), its logger's training-loss
    lines (main.log), and build-nanogpt's step lines (stdout and log.txt) among the lines.

    The first logger line, the first stdout line with a total and the first build-nanogpt line
    are left to the parser: the first of a file also says how its steps count and where its
    evals are paid for (parse() gives the settings with it, a new run after another form's
    steps); Parser.absorb() moves it past the rest."""
    ok, (iters, loss, ms, mfu_pct, total) = read_variants(Lines(data, starts, ends), _LLMC)
    rows = np.flatnonzero(ok)
    if len(rows):
        raw = np.frombuffer(data, dtype=np.uint8)
        at = starts[rows]
        head, second = raw[at], raw[at + 1]  # a read line has more than two bytes
        logger = (head == ord("s")) & (second == ord(":"))
        # log.txt's lines start with their step; build-nanogpt's stdout prints no total
        build = (head != ord("s")) | ((second != ord(":")) & np.isnan(total[rows]))
        stdout = ~logger & ~build
        for kind in (logger, build, stdout):
            first = np.flatnonzero(kind)
            if len(first):
                ok[rows[first[0]]] = False
    return IterationColumns(ok=ok, iter=_steps(ok, iters), loss=loss, step_time_s=ms / 1000.0,
                            mfu=mfu_pct / 100.0, max_iters=total)


def modded(data: bytes, starts: np.ndarray, ends: np.ndarray) -> IterationColumns:
    """modded-nanogpt train lines; their step times are the advance of the cumulative clock
    since the train line before (the parser's absorb() redoes the first of each stretch of
    them from its own last reading: lines between may have moved it)."""
    ok, (iters, loss, clock_ms, total) = read_variants(Lines(data, starts, ends), _MODDED)
    steps, clock_s = _steps(ok, iters), clock_ms / 1000.0
    step_time_s = np.full(len(ok), np.nan)
    rows = np.flatnonzero(ok)
    step_time_s[rows] = clock_step_times(steps[rows], clock_s[rows], None)
    return IterationColumns(ok=ok, iter=steps, loss=loss, step_time_s=step_time_s, mfu=np.full(len(ok), np.nan),
                            train_time_s=clock_s, max_iters=total)


def _steps(ok: np.ndarray, iters: np.ndarray) -> np.ndarray:
    return np.where(ok, iters, 0).astype(np.int64)


def clock_step_times(
    steps: np.ndarray, clock_s: np.ndarray, before: tuple[int, float] | None
) -> np.ndarray:
    """Per-step advance of a cumulative clock between consecutive readings, as
    modded.Parser._step_time gives it row by row: NaN across a reset or a step that does
    not go up, and for the first row when there is no reading `before` it."""
    if not len(steps):
        return np.empty(0)
    prev_step = np.empty(len(steps))
    prev_clock = np.empty(len(steps))
    prev_step[1:], prev_clock[1:] = steps[:-1], clock_s[:-1]
    prev_step[0], prev_clock[0] = before if before is not None else (np.nan, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        good = (steps > prev_step) & (clock_s >= prev_clock)
        return np.where(good, (clock_s - prev_clock) / (steps - prev_step), np.nan)
