"""The Snapshot: the one frozen value the TUI, `--jsonl` and `--once` all render.

PURE ring: no I/O, no textual/watchdog/pynvml imports.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields
from typing import Literal, get_args

import numpy as np

#: Keys of the JSON record, in order. This list is a contract (DESIGN.md).
RECORD_KEYS = (
    "t", "source", "format", "status", "run_index",
    "iter", "max_iters", "max_iters_source", "progress",
    "loss", "val_loss", "step_time_s", "eval_time_s", "mfu", "mfu_gpu",
    "eta_finish", "eta_remaining_s", "eta_low", "eta_high",
    "tokens_per_iter", "tokens_seen", "tokens_total", "params", "flops_total",
    "gpu_names", "gpu_count", "power_w", "vram_used_bytes", "vram_peak_bytes", "vram_total_bytes",
    "energy_j", "energy_final_j", "energy_source",
    "price_per_kwh", "currency", "cost", "cost_final", "warnings",
    "error", "cpu_energy_j",
)  # fmt: skip

#: The run's status (the JSON record's `status`, DESIGN.md).
Status = Literal["waiting", "starting", "training", "evaluating", "stalled", "finished", "crashed", "interrupted"]
STATUSES: tuple[Status, ...] = get_args(Status)


@dataclass(frozen=True, slots=True)
class GpuRow:
    """One GPU as the front ends show it; None where NVML does not say."""

    index: int
    name: str | None
    power_w: float | None
    power_limit_w: float | None
    vram_used_bytes: int | None
    vram_peak_bytes: int | None
    vram_total_bytes: int | None
    util_pct: float | None
    temp_c: float | None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Series:
    """Chart data for the TUI: x (step numbers) and y; for a long column, one point per
    bucket of steps, y their mean and `lo`/`hi` their min and max (None: y is exact)."""

    x: np.ndarray
    y: np.ndarray
    lo: np.ndarray | None = None
    hi: np.ndarray | None = None


def _empty_series() -> Series:
    return Series(np.empty(0), np.empty(0))


@dataclass(frozen=True, slots=True, eq=False)
class Snapshot:
    # --- the JSON record (RECORD_KEYS) ---
    t: float
    source: str
    format: str | None
    status: Status
    run_index: int
    iter: int | None = None
    max_iters: int | None = None
    max_iters_source: str | None = None
    progress: float | None = None
    loss: float | None = None
    val_loss: float | None = None
    step_time_s: float | None = None
    eval_time_s: float | None = None
    mfu: float | None = None
    mfu_gpu: float | None = None
    eta_finish: float | None = None
    eta_remaining_s: float | None = None
    eta_low: float | None = None
    eta_high: float | None = None
    tokens_per_iter: int | None = None
    tokens_seen: int | None = None
    tokens_total: int | None = None
    params: int | None = None
    flops_total: float | None = None
    gpu_names: tuple[str, ...] | None = None
    gpu_count: int | None = None
    power_w: float | None = None
    vram_used_bytes: int | None = None
    vram_peak_bytes: int | None = None
    vram_total_bytes: int | None = None
    energy_j: float | None = None
    energy_final_j: float | None = None
    energy_source: str | None = None
    price_per_kwh: float | None = None
    currency: str | None = None
    cost: float | None = None
    cost_final: float | None = None
    warnings: tuple[str, ...] = ()
    #: the root-cause exception line of a crashed or interrupted run (which ranks raised it)
    error: str | None = None
    cpu_energy_j: float | None = None
    # --- for the human front ends only ---
    run_count: int = 1
    first_iter: int | None = None
    #: the last step number the log will print (max_iters - 1 for nanochat's base_train)
    final_iter: int | None = None
    iters_done: int | None = None
    evals_done: int = 0
    best_val_loss: float | None = None
    #: what val_loss, best_val_loss and val_series measure, as the log names it: "loss", "bpb", "perplexity"
    val_metric: str = "loss"
    #: the last finite training loss (what the loss was before it turned NaN)
    last_finite_loss: float | None = None
    started_t: float | None = None
    last_line_t: float | None = None
    #: a line of this run arrived while it was watched (not only read from what the file held)
    watched: bool = False
    elapsed_s: float | None = None
    #: the last step time the log printed (step_time_s is the steady estimate, None until there is one)
    last_step_time_s: float | None = None
    #: True when elapsed_s comes from line arrival times, False when from the log's printed clock
    elapsed_measured: bool = True
    stalled_for_s: float | None = None
    data_epochs: float | None = None
    dataset_tokens: int | None = None
    mean_power_w: float | None = None
    gpu_status: str | None = None
    gpus: tuple[GpuRow, ...] = ()
    #: the GPU rows were sampled after the run ended: the GPUs now, not the run's figures
    gpus_now: bool = False
    cpu_energy_final_j: float | None = None
    #: why CPU energy is not measured (None when it is, or when nobody asked)
    cpu_status: str | None = None
    notes: tuple[tuple[float | None, str, str], ...] = ()
    #: the error as the human front ends show it (report sets it to `error`)
    crash_message: str | None = None
    loss_series: Series = field(default_factory=_empty_series)
    val_series: Series = field(default_factory=_empty_series)
    step_series: Series = field(default_factory=_empty_series)

    @property
    def loss_is_nan(self) -> bool:
        """The last logged loss is NaN or infinite: the run has diverged."""
        return self.loss is not None and not math.isfinite(self.loss)

    def record(self) -> dict[str, object]:
        """The flat JSON record: every key present, None when unknown, no NaN/inf."""
        return {key: _jsonable(getattr(self, key)) for key in RECORD_KEYS}

    def to_json(self) -> str:
        return json.dumps(self.record(), separators=(",", ":"), allow_nan=False)


def _jsonable(value: object) -> object:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return _jsonable(float(value))
    return value


assert {f.name for f in fields(Snapshot)} >= set(RECORD_KEYS)
