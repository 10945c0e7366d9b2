"""Run totals and money: tokens, FLOPs, MFU against the real GPU's peak, energy so far and
projected to the finish, cost.

PURE ring: no I/O, no textual/watchdog/pynvml imports.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from monitor.core.estimate import WARMUP_STEPS, Estimate
from monitor.core.run import Run
from monitor.core.snapshot import GpuRow
from monitor.core.telemetry import GpuSample, Telemetry
from monitor.core.textfmt import counted

J_PER_KWH = 3.6e6

#: nanoGPT's estimate_mfu divides by the A100's dense bf16 peak, whatever the GPU.
NANOGPT_PEAK_FLOPS = 312e12

#: Dense (no sparsity) bf16 tensor-core peak, FLOP/s, for (pattern on the normalised NVML
#: name, peak). First match wins, so variants come before the base model; a name that matches
#: nothing has no peak (None), never a guess. Sources, as datasheets print them (sparse
#: figures halved): A100 datasheet (312); H100 datasheet: SXM 989.4, PCIe 756, NVL 835
#: (1671 sparse); H200 datasheet: SXM 989, NVL 835; GH200 datasheet 989; DGX/HGX B200 spec
#: 2.25 PF per GPU (4.5 sparse); L4 datasheet 121 (242 sparse); L40S datasheet 362 (733);
#: L40 datasheet 181 (362); A10 datasheet 125 (250); A40 datasheet 149.7 (299.4);
#: RTX A6000 datasheet 154.8 (309.7); GeForce cards from NVIDIA's architecture whitepapers,
#: "FP16/BF16 tensor with FP32 accumulate" (the mode PyTorch uses), dense: Ampere GA102
#: (RTX 3090 71, 3080 59.5), Ada AD102 (RTX 4090 165.2, 4080 97.5, 4070 58.3), Blackwell
#: RTX (5090 209.5). V100 and T4 have no bf16: their fp16 tensor peak is used (V100 SXM2 125,
#: PCIe 112, T4 65).
PEAK_BF16_FLOPS: tuple[tuple[str, float], ...] = (
    (r"\bGH200\b", 989e12),
    (r"\bH100 NVL\b", 835e12),
    (r"\bH100 PCIE\b", 756e12),
    (r"\bH100\b", 989.4e12),  # "NVIDIA H100 80GB HBM3" is the SXM part
    (r"\bH800 PCIE\b", 756e12),
    (r"\bH800\b", 989.4e12),
    (r"\bH200 NVL\b", 835e12),
    (r"\bH200\b", 989e12),
    (r"\bB200\b", 2250e12),
    (r"\bA100\b", 312e12),
    (r"\bA800\b", 312e12),
    (r"\bL40S\b", 362e12),
    (r"\bL40\b", 181e12),
    (r"\bL4\b", 121e12),
    (r"\bA10\b", 125e12),
    (r"\bA40\b", 149.7e12),
    (r"\bRTX A6000\b", 154.8e12),
    (r"\bRTX 5090$", 209.5e12),
    (r"\bRTX 4090$", 165.2e12),
    (r"\bRTX 4080$", 97.5e12),
    (r"\bRTX 4070$", 58.3e12),
    (r"\bRTX 3090$", 71e12),
    (r"\bRTX 3080$", 59.5e12),
    (r"\bV100 PCIE\b", 112e12),
    (r"\bV100\b", 125e12),
    (r"\bT4$", 65e12),
)
_PEAKS = tuple((re.compile(p), f) for p, f in PEAK_BF16_FLOPS)


def normalise_gpu_name(name: str) -> str:
    """`NVIDIA GeForce RTX 4090` -> `RTX 4090`, `NVIDIA A100-SXM4-80GB` -> `A100 SXM4 80GB`."""
    text = re.sub(r"[-_\s]+", " ", name.upper()).strip()
    return re.sub(r"\b(NVIDIA|GEFORCE|TESLA)\b ?", "", text).strip()


def peak_flops(name: str | None) -> float | None:
    """The GPU's dense bf16 peak in FLOP/s, None for a GPU not in the table."""
    if not name:
        return None
    key = normalise_gpu_name(name)
    return next((flops for pattern, flops in _PEAKS if pattern.search(key)), None)


def mfu_gpu(mfu_printed: float | None, gpu_names: Sequence[str] | None) -> float | None:
    """nanoGPT's printed MFU (against 312 TFLOPS) re-computed against the run's own GPU;
    None unless every GPU of the run has the same known peak."""
    if mfu_printed is None or not math.isfinite(mfu_printed) or not gpu_names:
        return None
    peaks = {peak_flops(n) for n in gpu_names}
    if len(peaks) != 1 or None in peaks:
        return None
    (peak,) = peaks
    return mfu_printed * NANOGPT_PEAK_FLOPS / peak if peak else None


def flops_per_token(params: int | None, n_layer: int | None, n_embd: int | None, block_size: int | None) -> float | None:
    """Training FLOPs per token as nanoGPT's estimate_mfu counts them (PaLM appendix B):
    6·N for the weights plus 12·L·H·Q·T = 12·L·n_embd·T for attention."""
    if params is None:
        return None
    attention = 12 * n_layer * n_embd * block_size if n_layer and n_embd and block_size else 0
    return 6.0 * params + attention


def cost(energy_j: float | None, price_per_kwh: float, pue: float) -> float | None:
    """What an energy costs at the wall: joules × PUE × price per kWh."""
    if energy_j is None:
        return None
    return energy_j / J_PER_KWH * pue * price_per_kwh


@dataclass(frozen=True, slots=True)
class PowerSplit:
    """Mean power while training steps run and while the run evaluates."""

    train_w: float
    eval_w: float | None


def eval_windows(eval_line_ts: Sequence[float], eval_time_s: float | None) -> list[tuple[float, float]]:
    """The eval pauses seen so far: an eval's result line is printed when the eval ends, so
    each pause is the `eval_time_s` before that line."""
    if not eval_time_s or eval_time_s <= 0:
        return []
    return [(t - eval_time_s, t) for t in eval_line_ts if math.isfinite(t)]


def split_power(telemetry: Telemetry, steady_t: float, last_t: float,
                windows: Sequence[tuple[float, float]]) -> PowerSplit | None:
    """Mean power of the steady part of the run [steady_t, last_t] (compile warm-up left
    out), apart for the eval pauses in it and for the rest."""
    whole = telemetry.energy(steady_t, last_t)
    if whole is None or whole.end_t <= whole.start_t:
        return None
    inside = [(max(a, steady_t), min(b, last_t)) for a, b in windows if b > steady_t and a < last_t]
    evals = telemetry.windows_energy(inside)
    seconds = whole.end_t - whole.start_t
    if evals is None or evals[1] >= seconds:
        return PowerSplit(whole.energy_j / seconds, None)
    eval_j, eval_s = evals
    return PowerSplit((whole.energy_j - eval_j) / (seconds - eval_s), eval_j / eval_s)


def project_energy(energy_j: float, power: PowerSplit, train_remaining_s: float | None,
                   eval_remaining_s: float | None) -> float | None:
    """Energy at the finish: what was measured, plus the training time left at training power
    and the eval time left at eval power (training power until an eval was seen)."""
    if train_remaining_s is None:
        return None
    eval_w = power.train_w if power.eval_w is None else power.eval_w
    return energy_j + power.train_w * train_remaining_s + eval_w * (eval_remaining_s or 0.0)


#: Power for the projection comes from the span holding at most this many recent evals.
RECENT_EVALS = 16
#: Sampling that starts this much after the run's first line, or stops this much before the
#: end of its window, is reported as partial.
COVERAGE_SLACK_S = 10.0


@dataclass(frozen=True, slots=True)
class GpuFields:
    """The Snapshot's GPU, CPU energy, cost and mfu_gpu fields for one run (None where
    unknown, as the Snapshot's own defaults), and the warnings they bring."""

    gpu_status: str | None = None
    gpus: tuple[GpuRow, ...] = ()
    gpus_now: bool = False
    gpu_names: tuple[str, ...] | None = None
    gpu_count: int | None = None
    power_w: float | None = None
    vram_used_bytes: int | None = None
    vram_total_bytes: int | None = None
    vram_peak_bytes: int | None = None
    mfu_gpu: float | None = None
    energy_j: float | None = None
    energy_final_j: float | None = None
    energy_source: str | None = None
    mean_power_w: float | None = None
    cpu_energy_j: float | None = None
    cpu_energy_final_j: float | None = None
    cpu_status: str | None = None
    cost: float | None = None
    cost_final: float | None = None
    warnings: tuple[str, ...] = ()


def energy_end(run: Run, now: float, ended_by_lines: bool, writer_exit_t: float | None,
               settle_s: float) -> float:
    """Where the run's energy stops counting (epoch s): at its last line once the log says it ended
    (finished, a traceback, a kill line); at the exit of the process that wrote it once that
    was seen (`writer_exit_t`, with no line more than `settle_s` after it: those were written
    before it), since that process held its GPUs until then whatever it printed last; else
    now. The end only moves forward as a live run is read, so the energy never goes back."""
    last = run.last_line_t
    if ended_by_lines and last is not None:
        return min(now, last)
    if writer_exit_t is not None and (last is None or last <= writer_exit_t + settle_s):
        return min(now, writer_exit_t if last is None else max(writer_exit_t, last))
    return now


def gpu_fields(telemetry: Telemetry | None, run: Run, est: Estimate, now: float, ended: bool,
               price_per_kwh: float, pue: float, end: float) -> GpuFields:
    """The GPU, CPU energy and cost fields of the current run. The run's energy counts from
    its first line to `end` (epoch s: energy_end); the GPU rows show the GPUs as at `now`.
    Only the run's own GPUs count: a run whose processes hold no GPU has no GPU energy
    (None, never another job's); CPU energy counts where the host measures it. Before the
    run's first line there is no run to count for: no energy."""
    if telemetry is None:
        return GpuFields()
    out = GpuFields(gpu_status=telemetry.status)
    choice = telemetry.choice
    warnings = [choice.note] if choice is not None and choice.note else []
    start = run.first_t
    cpu_j, cpu_final_j = _cpu_energy(telemetry, run, est, start, end, ended)
    gpu_j: float | None = None
    gpu_final_j: float | None = None
    latest = telemetry.latest(now)  # as the GPUs were at `now`, not a sample read past it
    if choice is not None and not choice.gpus:
        out = replace(out, gpu_count=0, gpu_status=choice.note)
        latest = []
    if latest:
        names = tuple(s.name for s in latest if s.name)
        # After the run ended, a sample taken later shows the GPUs as they are now, not the run's.
        now_only = ended and run.last_line_t is not None and (telemetry.first_t or 0.0) > run.last_line_t
        rows = tuple(_row(telemetry, s, start) for s in latest)
        out = replace(
            out,
            gpus=rows,
            gpus_now=now_only,
            gpu_names=names or None,
            gpu_count=len(latest),
            power_w=telemetry.total("power_w", now),
            vram_used_bytes=_int(telemetry.total("vram_used_bytes", now)),
            vram_total_bytes=_int(telemetry.total("vram_total_bytes", now)),
            vram_peak_bytes=None if now_only or any(r.vram_peak_bytes is None for r in rows)
            else sum(r.vram_peak_bytes or 0 for r in rows),
            mfu_gpu=mfu_gpu(run.mfu.last_finite(), names),
        )
        warnings += [f"GPU {s.index}: {s.error}" for s in latest if s.error]
        # Without the run's start time (its lines were in the file before we came), energy
        # counts from the first GPU sample, and says so.
        base = telemetry.first_t if start is None else start
        reading = None if base is None or not run.lines else telemetry.energy(base, end)
        if reading is not None and base is not None:
            gpu_j = reading.energy_j
            final = gpu_j if ended else _projection(telemetry, run, est, base)
            gpu_final_j = None if final is None else max(final, gpu_j)
            out = replace(
                out,
                energy_j=gpu_j,
                energy_final_j=gpu_final_j,
                energy_source=reading.source,
                mean_power_w=gpu_j / (reading.end_t - reading.start_t) if reading.end_t > reading.start_t else None,
            )
            idle = telemetry.idle_gpus(base, end) if telemetry.origin == "gpu-log" else None
            if idle:
                busy = ",".join(str(s.index) for s in latest if s.index not in idle)
                warnings.append(f"the GPU log holds {counted(len(latest), 'GPU')} and {len(idle):,} of them were idle during the run: "
                                f"their energy counts too; pass --gpus {busy} to count only the run's")
            if start is None:
                warnings.append("energy counts from the first GPU sample: the run's start time is unknown")
            elif reading.start_t > start + COVERAGE_SLACK_S:
                warnings.append(f"energy leaves out the run's first {reading.start_t - start:.0f} s (GPU samples start later)")
            if start is not None and end - reading.end_t > COVERAGE_SLACK_S:
                # energy is counted up to the newest sample, never extrapolated: say how far that is
                warnings.append(f"energy leaves out the last {end - reading.end_t:.0f} s (no GPU sample since)")
    # The CPU counts in the cost only where it is measured; the GPUs only where they are the run's.
    return replace(
        out, cpu_energy_j=cpu_j, cpu_energy_final_j=cpu_final_j, cpu_status=telemetry.cpu_status,
        cost=cost(_sum(gpu_j, cpu_j), price_per_kwh, pue),
        cost_final=cost(_sum(gpu_final_j if gpu_j is not None else None, cpu_final_j if cpu_j is not None else None),
                        price_per_kwh, pue),
        warnings=tuple(warnings),
    )




def _sum(*parts: float | None) -> float | None:
    """The sum of the known parts; None when none is known."""
    known = [p for p in parts if p is not None]
    return sum(known) if known else None


def _cpu_energy(telemetry: Telemetry, run: Run, est: Estimate, start: float | None, end: float,
                ended: bool) -> tuple[float | None, float | None]:
    """CPU energy of the run so far and projected to the finish (the mean CPU power so far
    over the time left); (None, None) where the host does not measure it."""
    if not telemetry.cpu_measured or start is None:
        return None, None
    so_far = telemetry.cpu_energy_j(start, end)
    if so_far is None:
        return None, None
    if ended:
        return so_far, so_far
    if est.remaining_s is None or end <= start:
        return so_far, None
    return so_far, so_far + so_far / (end - start) * est.remaining_s


def _projection(telemetry: Telemetry, run: Run, est: Estimate, start: float) -> float | None:
    first = run.first_iter
    steady_t = None if first is None else run.first_timed_at(first + WARMUP_STEPS)
    if steady_t is None or run.last_t is None:
        return None
    last_t = run.last_t
    so_far = telemetry.energy(start, last_t)
    # the newest RECENT_EVALS evals with a time (a long run's evals are not all looked at)
    timed = (e.t for e in reversed(run.evals) if e.t is not None and math.isfinite(e.t))
    windows = eval_windows(list(itertools.islice(timed, RECENT_EVALS))[::-1], est.eval_time_s)
    if len(windows) == RECENT_EVALS:
        # a long run: its recent part, which also follows drifts in power, is enough
        steady_t = max(steady_t, windows[0][0])
    power = split_power(telemetry, steady_t, last_t, windows)
    if so_far is None or power is None:
        return None
    # what the samples have not reached yet (the newest lags the last line) is still to come
    unmeasured_s = max(0.0, last_t - so_far.end_t)
    train_s = None if est.train_remaining_s is None else est.train_remaining_s + unmeasured_s
    return project_energy(so_far.energy_j, power, train_s, est.eval_remaining_s)


def _row(telemetry: Telemetry, s: GpuSample, since_t: float | None) -> GpuRow:
    return GpuRow(index=s.index, name=s.name, power_w=s.power_w, power_limit_w=s.power_limit_w,
                  vram_used_bytes=s.vram_used_bytes, vram_peak_bytes=telemetry.vram_peak_bytes(s.index, since_t),
                  vram_total_bytes=s.vram_total_bytes, util_pct=s.util_pct, temp_c=s.temp_c, error=s.error)


def _int(x: float | None) -> int | None:
    return None if x is None else int(x)


