"""The GPU, energy-and-cost and totals panels.

UI ring: renders a Snapshot; no I/O, no NVML, no clock.
"""

from __future__ import annotations

from rich.text import Text

from monitor.core import textfmt as fmt
from monitor.core.snapshot import GpuRow, Snapshot
from monitor.core.textfmt import money
from monitor.tui.widgets.common import TextLines, bar, plain

VRAM_BAR_CELLS = 6
#: Most lines the GPU panel takes (app.tcss: its max-height, less the border).
GPU_ROWS_MAX = 9


def gpu_rows(height: int) -> int:
    """Lines the GPU panel may take in a run view `height` rows high, so that the charts, the
    energy and totals and the events keep rows of their own (80x24: 4; 40 rows: 9). An 8-GPU
    node listed whole at 80x24 pushed energy, totals and events (a crash's traceback) off screen."""
    return max(2, min(GPU_ROWS_MAX, (height - 15) // 2))


class GpuPanel(TextLines):
    """One line per GPU: name, VRAM bar used/total and peak (GiB), power/limit (W), utilisation
    (`util`, the share of time a kernel ran: NVML's), temperature; 80 columns hold it. More GPUs
    than `rows` lines hold: the last line sums the ones not listed."""

    def show(self, snap: Snapshot, rows: int = GPU_ROWS_MAX) -> None:
        self.put_from(snap, (rows,), lambda s: self.text(s, rows))

    @staticmethod
    def text(snap: Snapshot, rows: int = GPU_ROWS_MAX) -> Text:
        if not snap.gpus:
            if snap.gpu_status:  # "GPU telemetry unavailable: <reason>"
                return plain(snap.gpu_status, "yellow")
            return Text("waiting for the first GPU sample", style="dim")
        text = Text("now (the run has ended):\n", style="dim") if snap.gpus_now else Text()
        room = max(1, rows - bool(snap.gpus_now) - bool(snap.gpu_status))
        listed = snap.gpus if len(snap.gpus) <= room else snap.gpus[: room - 1]
        for i, row in enumerate(listed):
            if i:
                text.append("\n")
            text.append_text(gpu_line(row))
        if len(listed) < len(snap.gpus):
            text.append("\n" if listed else "")
            text.append_text(others_line(snap.gpus[len(listed):]))
        if snap.gpu_status:
            text.append("\n")
            text.append_text(plain(snap.gpu_status, "yellow"))
        return text


def others_line(rows: tuple[GpuRow, ...]) -> Text:
    """`+6 more GPUs · 1,800 W · VRAM 12.0/477.9 GiB`: the GPUs not listed, summed (what each
    reads where all of them do, unknown where one does not)."""
    def total(values: list[float | int | None]) -> float | None:
        return None if any(v is None for v in values) else float(sum(v for v in values if v is not None))

    power = total([r.power_w for r in rows])
    used, size = total([r.vram_used_bytes for r in rows]), total([r.vram_total_bytes for r in rows])
    text = Text(f"+{fmt.counted(len(rows), 'more GPU')}", style="bold")
    if power is not None:
        text.append(f" · {power:,.0f} W")
    if used is not None and size is not None:
        text.append(f" · VRAM {used / 2**30:,.1f}/{size / 2**30:,.1f} GiB")
    return text


def gpu_line(row: GpuRow) -> Text:
    name = (row.name or "GPU").removeprefix("NVIDIA ")
    text = Text.assemble((f"{row.index} ", "bold"), plain(name[:22]), " ")
    if row.error:
        text.append_text(plain(row.error, "yellow"))
        return text
    used, total = row.vram_used_bytes, row.vram_total_bytes
    fraction = used / total if used is not None and total else None
    text.append_text(bar(fraction, VRAM_BAR_CELLS, "magenta"))
    text.append(f" {_gib(used)}/{fmt.gib(total)}")
    if row.vram_peak_bytes is not None:
        text.append(f" peak {_gib(row.vram_peak_bytes)}", style="dim")
    if row.power_limit_w is None:
        text.append(f" · {_num(row.power_w, 'W')}")
    else:  # one unit for both: `300/700 W`
        text.append(f" · {_num(row.power_w, '')}/{row.power_limit_w:.0f} W")
    text.append(f" · {_num(row.util_pct, '%')} util")
    text.append(f" · {_num(row.temp_c, '°C')}")
    return text


def _num(value: float | None, unit: str) -> str:
    return "?" if value is None else f"{value:.0f}{'' if unit in ('', '%', '°C') else ' '}{unit}"


def _gib(n_bytes: int | None) -> str:
    return "?" if n_bytes is None else f"{n_bytes / 2**30:.1f}"


class EnergyPanel(TextLines):
    """kWh so far → projected, cost so far → projected, mean power, the price used."""

    def show(self, snap: Snapshot) -> None:
        self.put_from(snap, (), self.text)

    @staticmethod
    def text(snap: Snapshot) -> Text:
        if snap.energy_j is None and snap.cpu_energy_j is None:
            # GPUs sampled and no energy: the run has no line yet, or no sample since its first
            why = "no energy yet\n(counts from the first line)" if snap.power_w is not None else "no energy measurement"
            return Text.assemble((why, "dim"), f"\nprice {_price(snap)}")
        text = Text()
        # "energy" alone is the GPUs'; with the host's CPU measured too, each is named.
        gpu_label = "energy " if snap.cpu_energy_j is None else "GPU "
        for label, so_far, final in ((gpu_label, snap.energy_j, snap.energy_final_j),
                                     ("CPU ", snap.cpu_energy_j, snap.cpu_energy_final_j)):
            if so_far is not None:
                text.append(label, style="bold")
                text.append(fmt.kwh(so_far) + ("" if final is None else f" → {fmt.kwh(final)}"))
                text.append("\n")
        text.append("cost ", style="bold")
        text.append(money(snap.cost, snap.currency))
        if snap.cost_final is not None:
            text.append(f" → {money(snap.cost_final, snap.currency)}")
        text.append("\n")
        if snap.mean_power_w is not None:
            text.append(f"mean {snap.mean_power_w:,.0f} W · ")
        text.append(f"{_price(snap)}")
        if snap.energy_source:
            text.append(f" · {snap.energy_source}", style="dim")
        return text


def _price(snap: Snapshot) -> str:
    return f"{snap.price_per_kwh:g} {snap.currency or ''}/kWh" if snap.price_per_kwh is not None else "price ?"


class TotalsPanel(TextLines):
    """Parameters, tokens per iteration, total tokens, FLOPs, the last loss and val value, MFU as
    printed and against the GPU; each only where the log gives it (README: a line the log gives
    nothing for is left out)."""

    def show(self, snap: Snapshot) -> None:
        self.put_from(snap, (), self.text)

    @staticmethod
    def text(snap: Snapshot) -> Text:
        # What the log does not give is left out, never shown as "params ? · ? tok/iter".
        rows = []
        per_iter = [f"{fmt.count(snap.tokens_per_iter)} tok/iter"] if snap.tokens_per_iter is not None else []
        if snap.params is not None:
            rows.append(Text.assemble(("params ", "bold"), " · ".join([fmt.si(snap.params, digits=4), *per_iter])))
            per_iter = []
        tokens = per_iter + ([f"{fmt.si(snap.tokens_total, digits=4)} total"] if snap.tokens_total is not None else [])
        compute = [fmt.si(snap.flops_total, "FLOP")] if snap.flops_total is not None else []
        if tokens or compute:
            rows.append(Text.assemble(("tokens " if tokens else "compute ", "bold"), " · ".join(tokens + compute)))
        loss = loss_text(snap)
        if loss:
            rows.append(loss)
        if snap.mfu is not None:  # left out where the log prints none, not "MFU ?"
            mfu = Text.assemble(("MFU ", "bold"), f"{fmt.share(snap.mfu)} printed")
            if snap.mfu_gpu is not None:
                gpu = (snap.gpu_names[0].removeprefix("NVIDIA ") if snap.gpu_names else "GPU")[:16]
                mfu.append(" · ")
                mfu.append_text(plain(f"{fmt.share(snap.mfu_gpu)} of {gpu}"))
            rows.append(mfu)
        return Text("\n").join(rows) if rows else Text("no totals in the log yet", style="dim")


def loss_text(snap: Snapshot) -> Text:
    """`loss 3.2055 · val bpb 0.9506`: the last train loss and the last val value, named as
    the log names it; empty when the log prints neither."""
    text = Text()
    if snap.loss is not None:
        text.append("loss ", style="bold")
        text.append(fmt.num(snap.loss), style="bold white on red" if snap.loss_is_nan else "")
    if snap.val_loss is not None:
        if text:
            text.append(" · ")
        text.append(f"val {snap.val_metric} ", style="bold")
        text.append(fmt.num(snap.val_loss))
    return text
