"""What every GPU source is: the GpuSource and CpuEnergySource Protocols, and Unavailable, the
source with nothing to give and the reason why.

ADAPTER ring: no textual.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from monitor.core.telemetry import CpuEnergySample, Reading


class GpuSource(Protocol):
    """Anything that yields GPU samples: NVML, a CSV, a test double."""

    #: None while the source works; else why it yields nothing ("no NVIDIA driver", ...).
    status: str | None
    #: where the samples come from, for the energy's label: "nvml" (live) or "gpu-log" (a CSV)
    origin: str

    def poll(self, now: float) -> Sequence[Reading]:
        """The readings taken at or before `now` that were not returned before."""
        ...

    def close(self) -> None: ...


class CpuEnergySource(Protocol):
    """The host's CPU energy counter (sources.rapl.RaplReader, or a test double)."""

    status: str | None

    def poll(self, now: float) -> list[CpuEnergySample]: ...


class Unavailable:
    """A source with nothing to give, and the reason why."""

    origin = "nvml"

    def __init__(self, reason: str) -> None:
        self.status: str | None = reason

    def poll(self, now: float) -> list[Reading]:
        return []

    def close(self) -> None:
        pass
