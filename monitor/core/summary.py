"""The human summary that `--once` prints: how much this training needs and where it stands.

PURE ring: no I/O, no textual/watchdog/pynvml imports. Takes a Snapshot, returns text.
"""

from __future__ import annotations

import math

from monitor.core import textfmt as fmt
from monitor.core.sanitise import clean, clean_name
from monitor.core.snapshot import Snapshot


def summary(snap: Snapshot) -> str:
    rows: list[tuple[str, str]] = []
    add = rows.append
    name = clean_name("stdin" if snap.source == "-" else snap.source)
    head = f"nanowatch · {name} · {snap.format or 'format unknown'}"
    if snap.run_count > 1:
        head += f" · run {snap.run_index + 1:,} of {snap.run_count:,}"
    add(("status", _status(snap)))
    if snap.params is not None:
        add(("model", f"{fmt.si(snap.params, digits=4)} parameters"))
    if snap.tokens_per_iter is not None:
        total = f" · {fmt.si(snap.tokens_total, digits=4)} in total" if snap.tokens_total else ""
        # before the first step nothing is seen yet: said so, not "? seen"
        seen = "none seen yet" if snap.tokens_seen is None else f"{fmt.si(snap.tokens_seen, digits=4)} seen"
        add(("tokens", f"{fmt.count(snap.tokens_per_iter)} per iteration{total} · {seen}"))
    if snap.data_epochs is not None:
        add(("data", f"{snap.data_epochs:.2f} epochs of a {fmt.si(snap.dataset_tokens, digits=4)}-token dataset"))
    if snap.flops_total is not None:
        add(("compute", f"{fmt.si(snap.flops_total, 'FLOP')} in total (6·N·tokens + attention)"))
    add(("progress", _progress(snap)))
    add(("speed", _speed(snap)))
    add(("time", _time(snap)))
    loss = _loss(snap)
    if loss:  # a log that prints neither a loss nor a val metric has no loss row
        add(("loss", loss))
    energy = _energy(snap)
    if energy:
        add(("energy", energy))
    add(("gpu", _gpus(snap)))
    for warning in snap.warnings:
        add(("warning", warning))
    if snap.crash_message:
        add(("error", snap.crash_message))
    width = max(len(k) for k, _ in rows)
    # Every row may quote outside text (log lines, GPU names, endpoint errors): one sanitiser for all.
    return "\n".join([head, *(f"  {k:<{width}}  {clean(v)}" for k, v in rows)])


def _status(s: Snapshot) -> str:
    text = fmt.status_words(s)
    if s.loss_is_nan:  # a diverged run is the first thing to know, whatever its pace
        text += f" · loss is {'NaN' if s.loss != s.loss else s.loss}"
    return text


def _progress(s: Snapshot) -> str:
    if s.iter is None:
        return fmt.no_step(s.evals_done)
    text = f"iter {s.iter:,}"
    if s.max_iters is not None:
        src = "" if s.max_iters_source == "log" else f" ({s.max_iters_source})"
        last = s.final_iter if s.final_iter is not None else s.max_iters
        if fmt.done_short(s):  # not "100% · 0 left" (or "99.9% · 1 left") beside 649/651
            text += f" / {s.max_iters:,}{src} · done: {s.iter:,} is the last step the log prints"
        else:
            text += f" / {s.max_iters:,}{src} · {fmt.pct(s.progress)} · {max(0, last - s.iter):,} left"
    done = s.iters_done or 0
    return text + f" · {fmt.counted(done, 'step')} logged"


def _speed(s: Snapshot) -> str:
    if s.step_time_s is None and s.last_step_time_s is not None:
        parts = [f"{s.last_step_time_s * 1000:.1f} ms the last step printed (too few steps for a steady time)"]
    elif s.step_time_s is None:
        ended = s.status in ("finished", "crashed", "interrupted")  # no "yet" for a run that is over
        parts = [f"step time unknown ({'the run printed no step times' if ended else 'no timing in the log yet'})"]
    else:
        parts = [f"{s.step_time_s * 1000:.1f} ms/step (steady)"]
    if s.eval_time_s is not None:
        parts.append(f"eval pause {fmt.duration(s.eval_time_s) if s.eval_time_s >= 1 else f'{s.eval_time_s * 1000:.0f} ms'}")
    if s.mfu is not None:
        mfu = f"MFU {fmt.share(s.mfu)} as printed"
        if s.mfu_gpu is not None:
            mfu += f", {fmt.share(s.mfu_gpu)} of this GPU's peak"
        parts.append(mfu)
    return " · ".join(parts)


def _time(s: Snapshot) -> str:
    """`took 2 m 50 s · finished`, `≈ 1 h so far (printed step times) · finishes 14:32 (…), in 2 h`.
    A run that ended says how long it took and how it ended (a crashed run has no finish to come);
    a stalled run's finish is the one it would have if it went on now, as the TUI says."""
    ended = s.status in ("finished", "crashed", "interrupted")
    if s.elapsed_s is None:
        so_far = "start time unknown"
    else:
        about, source = ("", "") if s.elapsed_measured else ("≈ ", " (printed step times)")
        span, since = f"{about}{fmt.duration(s.elapsed_s)}", fmt.since_first(s)
        so_far = f"took {span}{since}{source}" if ended else f"{span}{since or ' so far'}{source}"
    if ended:
        return f"{so_far} · {s.status}"
    if s.eta_finish is None:
        return f"{so_far} · finish unknown"
    band = ""
    if s.eta_low is not None and s.eta_high is not None:
        band = f" ({fmt.clock(s.eta_low, s.t)}–{fmt.clock(s.eta_high, s.t)})"
    stalled = " if it goes on now" if s.status == "stalled" else ""
    return f"{so_far} · finishes {fmt.clock(s.eta_finish, s.t)}{band}, in {fmt.duration(s.eta_remaining_s)}{stalled}"


def _loss(s: Snapshot) -> str:
    parts = []
    if s.loss is not None:
        loss = f"{fmt.num(s.loss)} (last step)"
        if not math.isfinite(s.loss) and s.last_finite_loss is not None:
            loss += f" · last finite {fmt.num(s.last_finite_loss)}"
        parts.append(loss)
    if s.best_val_loss is not None:  # named as the log names it: val bpb is not a loss in nats
        parts.append(f"best val {s.val_metric} {fmt.num(s.best_val_loss)} ({fmt.counted(s.evals_done, 'eval')})")
    return " · ".join(parts)


def _energy(s: Snapshot) -> str:
    """GPU energy (the run's own GPUs), CPU energy where the host measures it, and the cost
    of what was measured."""
    parts = []
    if s.energy_j is not None:
        text = f"GPU {fmt.kwh(s.energy_j)} so far"
        if s.energy_final_j is not None:
            text += f" → {fmt.kwh(s.energy_final_j)} at the end"
        parts.append(text + f" ({s.energy_source})")
    if s.cpu_energy_j is not None:
        text = f"CPU {fmt.kwh(s.cpu_energy_j)} so far"
        if s.cpu_energy_final_j is not None:
            text += f" → {fmt.kwh(s.cpu_energy_final_j)} at the end"
        parts.append(text + " (RAPL package + DRAM, whole host)")
    if not parts:
        return ""
    text = " · ".join(parts) + f" · {fmt.money(s.cost, s.currency)}"
    if s.cost_final is not None:
        text += f" → {fmt.money(s.cost_final, s.currency)}"
    return text + f" at {s.price_per_kwh} {s.currency}/kWh"


def _gpus(s: Snapshot) -> str:
    if not s.gpus:
        return s.gpu_status or "no GPU telemetry"
    names = ", ".join(sorted(set(s.gpu_names or ()))) or "GPU (name unknown)"
    # After the run ended a sample shows the GPUs as they are now, not as the run used them.
    text = ("now: " if s.gpus_now else "") + f"{s.gpu_count} × {names}"
    if s.power_w is not None:
        text += f" · {s.power_w:,.0f} W"
    if s.vram_used_bytes is not None:
        peak = "" if s.gpus_now else f" (peak {fmt.gib(s.vram_peak_bytes)})"
        text += f" · VRAM {fmt.gib(s.vram_used_bytes)}{peak} of {fmt.gib(s.vram_total_bytes)}"
    return text
