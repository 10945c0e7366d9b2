"""Run totals and money: tokens, FLOPs, energy cost.

PURE ring: no I/O, no textual/watchdog/pynvml imports.
"""

from __future__ import annotations

J_PER_KWH = 3.6e6


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
