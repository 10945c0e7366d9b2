"""Read `nvidia-smi --query-gpu=... --format=csv` output into GPU samples; align its local
timestamps with a log's epoch times.

PURE ring: no I/O (takes lines), no textual/watchdog/pynvml imports.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timezone

from monitor.core.telemetry import GpuSample

_MISSING = re.compile(r"^\[?(n/?a|not supported|unknown error|gpu is lost|requested functionality.*)\]?$", re.IGNORECASE)
_NUMBER = re.compile(r"^\s*([-+]?\d+(?:\.\d+)?)\s*([A-Za-z%]*)\s*$")
_BYTES = {"b": 1, "kib": 2**10, "mib": 2**20, "gib": 2**30, "kb": 1e3, "mb": 1e6, "gb": 1e9}
#: nvidia-smi's own units, for a CSV whose header and cells name none (`memory.used` in MiB).
_DEFAULT_UNITS = {"memory.used": "mib", "memory.total": "mib", "memory.free": "mib"}
#: A row longer than this is no nvidia-smi row (a few hundred bytes): counted bad, never parsed
#: (the csv module raises on a field over 128 KB).
MAX_ROW_CHARS = 16 * 1024
#: Bounds of a possible reading; a value outside them is dropped from its sample, which keeps
#: the others. The largest GPU boards draw ~1.5 kW (GB200 superchip: 2.7 kW for two GPUs).
MAX_GPU_INDEX = 1023
MAX_POWER_W = 5000.0
MAX_TEMP_C = 200.0
#: The largest GPU memory there is is a few hundred GB (B300: 288 GB); a reading above 64 TiB,
#: summed over a GPU's instances too, is a garbled number.
MAX_VRAM_BYTES = float(1 << 46)
_POWER_KEYS = ("power.draw", "power.draw.average", "power.draw.instant")
#: Longest GPU name kept: NVML's own names fit in NVML_DEVICE_NAME_V2_BUFFER_SIZE (96 bytes).
MAX_NAME_CHARS = 96


def gpu_name(text: str | None) -> str | None:
    """A GPU's name as a CSV cell or an exporter's label gave it: stripped, None when empty,
    cut to MAX_NAME_CHARS (a longer one is no GPU's, and would fill a screen line)."""
    name = (text or "").strip()
    if not name:
        return None
    return name if len(name) <= MAX_NAME_CHARS else name[: MAX_NAME_CHARS - 1] + "…"


def _number(text: str, header_unit: str) -> tuple[float, str] | None:
    m = _NUMBER.match(text)
    if not m:
        return None
    return float(m.group(1)), (m.group(2) or header_unit).lower()


def _timestamp(text: str) -> float | None:
    for fmt in ("%Y/%m/%d %H:%M:%S.%f", "%Y/%m/%d %H:%M:%S", "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S.%f"):
        try:
            return datetime.strptime(text.strip(), fmt).replace(tzinfo=timezone.utc).timestamp()
        except ValueError:
            continue
    return None


def parse_gpu_csv(lines: Iterable[str], utc_offset_s: float = 0.0) -> tuple[list[GpuSample], int]:
    """Samples from `nvidia-smi --query-gpu=timestamp,index,... --format=csv[,nounits]` output,
    and how many rows could not be read. nvidia-smi prints local time without a zone: the
    times are read as UTC and `utc_offset_s` (local minus UTC) is taken off."""
    samples, bad = [], 0
    for sample in iter_gpu_csv(lines, utc_offset_s):
        if sample is None:
            bad += 1
        else:
            samples.append(sample)
    return samples, bad


def iter_gpu_csv(lines: Iterable[str], utc_offset_s: float = 0.0) -> Iterator[GpuSample | None]:
    """parse_gpu_csv() one row at a time, in file order (None for a row that cannot be read):
    a CSV of hundreds of MB streams in bounded memory."""
    rows = csv.reader((line if len(line) <= MAX_ROW_CHARS else "\x00" for line in lines), skipinitialspace=True)
    columns: dict[str, tuple[int, str]] = {}
    while True:
        try:
            row = next(rows)
        except StopIteration:
            return
        except csv.Error:  # a NUL byte, an unclosed quote: this row only
            yield None
            continue
        if not row or not any(cell.strip() for cell in row):
            continue
        if row == ["\x00"]:  # an over-long line
            yield None
            continue
        if row[0].strip().startswith("timestamp"):  # a header, also one repeated mid-file
            columns = {}
            for i, cell in enumerate(row):
                m = re.match(r"\s*([\w.]+)\s*(?:\[(.*)\])?", cell)
                if m and m.group(1) not in columns:
                    columns[m.group(1)] = (i, (m.group(2) or _DEFAULT_UNITS.get(m.group(1), "")).lower())
            continue
        yield _csv_row(row, columns, utc_offset_s) if "timestamp" in columns else None


def _csv_row(row: list[str], columns: dict[str, tuple[int, str]], offset_s: float) -> GpuSample | None:
    def cell(key: str) -> str | None:
        if key not in columns or columns[key][0] >= len(row):
            return None
        text = row[columns[key][0]].strip()
        return None if _MISSING.match(text) else text

    def value(key: str, scale: dict[str, float] | None = None) -> float | None:
        text = cell(key)
        parsed = None if text is None else _number(text, columns[key][1])
        if parsed is None:
            return None
        number, unit = parsed
        return number * scale.get(unit, 1.0) if scale else number

    t = _timestamp(cell("timestamp") or "")
    # a query without the index column names one GPU (nvidia-smi -i N, or a single-GPU box)
    index = value("index") if "index" in columns else 0.0
    if t is None or index is None or not (0 <= index <= MAX_GPU_INDEX and index == int(index)):
        return None
    lost = any("lost" in row[i].lower() for i, _ in columns.values() if i < len(row))
    power = next((p for p in (value(k) for k in _POWER_KEYS) if p is not None), None)
    used, total = value("memory.used", _BYTES), value("memory.total", _BYTES)
    limit = value("power.limit") if "power.limit" in columns else value("enforced.power.limit")
    return GpuSample(
        t=t - offset_s,
        index=int(index),
        name=gpu_name(cell("name")),
        power_w=within(power, 0.0, MAX_POWER_W),
        vram_used_bytes=vram(used),
        vram_total_bytes=vram(total, 1.0),
        util_pct=within(value("utilization.gpu"), 0.0, 100.0),
        temp_c=within(value("temperature.gpu"), -50.0, MAX_TEMP_C),
        power_limit_w=within(limit, 0.0, MAX_POWER_W),
        error="GPU is lost" if lost else None,
    )


def within(value: float | None, low: float, high: float) -> float | None:
    """`value` when it is a possible reading in [low, high], else None (unknown, not wrong); a
    reading of -0 is 0 (never `-0 W` or `-0°C` on screen). Every GPU source's readings pass here."""
    return value + 0.0 if value is not None and low <= value <= high else None


def vram(value_bytes: float | None, low: float = 0.0) -> int | None:
    """A memory reading in bytes when possible (in [low, MAX_VRAM_BYTES]), else None."""
    kept = within(value_bytes, low, MAX_VRAM_BYTES)
    return None if kept is None else int(kept)


def clock_offset_s(samples: Sequence[GpuSample], t0: float, t1: float, step_s: float = 900.0) -> float:
    """The UTC offset (a multiple of 15 min within ±14 h) that makes a CSV's local times
    overlap the log's span [t0, t1] the most; 0 when they already overlap or none does."""
    if not samples:
        return 0.0
    return clock_offset_span(min(s.t for s in samples), max(s.t for s in samples), t0, t1, step_s)


def clock_offset_span(a: float, b: float, t0: float, t1: float, step_s: float = 900.0) -> float:
    """clock_offset_s() for samples that span [a, b]."""

    def overlap(shift: float) -> float:
        return max(0.0, min(b - shift, t1) - max(a - shift, t0))

    if overlap(0.0) > 0:
        return 0.0
    shifts = sorted((k * step_s for k in range(-56, 57)), key=abs)
    best = max(shifts, key=overlap)
    return best if overlap(best) > 0 else 0.0


