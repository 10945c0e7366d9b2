"""The host's CPU energy from Intel/AMD RAPL counters through Linux powercap
(`/sys/class/powercap/intel-rapl:*`): package and DRAM domains, wrap-around undone.

ADAPTER ring: reads sysfs files; never imports textual.

Each package zone `intel-rapl:N` (name `package-N`) counts the whole socket, cores and uncore
included; its sub-zone named `dram` counts the memory. Their `energy_uj` counters are summed;
the `core`/`uncore` sub-zones lie inside the package and are not added again. Each counter
wraps at `max_energy_range_uj` (Linux Documentation/power/powercap/powercap.rst). AMD Zen
CPUs expose the same zones through the same driver (intel_rapl_msr), package only. Since
Linux 5.10 (CVE-2020-8694) `energy_uj` is readable by root only: then the reading is unknown,
with that reason. The counters measure the whole host, every process on it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from monitor.core.telemetry import CpuEnergySample

POWERCAP = "/sys/class/powercap"
#: Sub-zones counted beside the package (the others are parts of it).
EXTRA_DOMAINS = ("dram",)


@dataclass(frozen=True, slots=True)
class Domain:
    """One RAPL counter: its name (`package-0`, `dram`), file, and wrap range in µJ."""

    name: str
    energy_path: str
    max_range_uj: int


def _read(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def find_domains(root: str = POWERCAP) -> list[Domain]:
    """The package zones and their DRAM sub-zones under `root` (empty when none)."""
    try:
        zones = sorted(z for z in os.listdir(root) if z.startswith("intel-rapl:"))
    except OSError:
        return []
    out = []
    for zone in zones:
        parts = zone.split(":")
        path = os.path.join(root, zone)
        try:
            name = _read(os.path.join(path, "name"))
            max_range = int(_read(os.path.join(path, "max_energy_range_uj")))
        except (OSError, ValueError):
            continue
        if (len(parts) == 2 and name.startswith("package")) or (len(parts) == 3 and name in EXTRA_DOMAINS):
            out.append(Domain(name, os.path.join(path, "energy_uj"), max_range))
    return out


class RaplReader:
    """Cumulative CPU energy since the first reading, from the package and DRAM counters.

    `poll(now)` returns one CpuEnergySample: `energy_j` counts from the first poll, each
    counter's wrap-around added back (a counter read lower than before has wrapped once: a
    package counter takes minutes to hours to wrap, far longer than a poll interval). When no
    counter can be read, the sample carries `error` and no energy; `status` says why too.
    """

    def __init__(self, root: str = POWERCAP) -> None:
        self.domains = find_domains(root)
        self.status: str | None = None if self.domains else f"no RAPL energy counters here ({root} has no intel-rapl zone)"
        self._last_uj: dict[str, int] = {}
        self._total_uj = 0

    def poll(self, now: float) -> list[CpuEnergySample]:
        if self.status is not None:
            return [CpuEnergySample(t=now, energy_j=None, error=self.status)]
        for d in self.domains:
            try:
                raw = int(_read(d.energy_path))
            except PermissionError:
                self.status = f"RAPL energy counters are readable by root only ({d.energy_path})"
                return [CpuEnergySample(t=now, energy_j=None, error=self.status)]
            except (OSError, ValueError) as e:
                self.status = f"cannot read RAPL counter {d.energy_path}: {getattr(e, 'strerror', None) or e}"
                return [CpuEnergySample(t=now, energy_j=None, error=self.status)]
            last = self._last_uj.get(d.energy_path)
            if last is not None:
                step = raw - last
                self._total_uj += step if step >= 0 else step + d.max_range_uj
            self._last_uj[d.energy_path] = raw
        names = tuple(d.name for d in self.domains)
        return [CpuEnergySample(t=now, energy_j=self._total_uj * 1e-6, domains=names)]

    def close(self) -> None:
        pass
