"""Energy counters read before and after a run (docs/metrics.md: energy_j): the CPU packages'
RAPL counters through Linux's powercap files, or an NVIDIA GPU's through NVML. Both are
device-wide: every process on the device counts. A counter that cannot be read gives None."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from llm_compare.system import gpus

POWERCAP = Path("/sys/class/powercap")


class RaplCounter:
    """The CPU packages' energy: the top-level `intel-rapl:N` zones named `package-N` (AMD's
    processors use the same names). Their sub-zones (cores, uncore, dram) are parts of a package
    or beside it, and `psys` is the whole platform: adding any of them would count twice."""

    def __init__(self, root: Path = POWERCAP):
        self.zones = sorted(
            zone
            for zone in root.glob("intel-rapl:*")
            if zone.name.count(":") == 1 and _read_text(zone / "name", "").startswith("package")
        )

    def read(self) -> dict[Path, int] | None:
        """Each package's counter in microjoules; None when any cannot be read (since 2020 the
        files are readable by root only, against power side channels)."""
        if not self.zones:
            return None
        readings = {zone: _read_int(zone / "energy_uj") for zone in self.zones}
        return None if None in readings.values() else readings

    def joules_between(self, start: dict[Path, int] | None, end: dict[Path, int] | None) -> float | None:
        if start is None or end is None:
            return None
        total_uj = 0
        for zone, before in start.items():
            used = end[zone] - before
            if used < 0:  # the counter wrapped around at max_energy_range_uj
                wrap = _read_int(zone / "max_energy_range_uj")
                if not wrap:
                    return None
                used += wrap
            total_uj += used
        return _measured(total_uj / 1e6)


class NvmlCounter:
    """NVIDIA GPU `index`'s counter (millijoules since the driver loaded; Volta and newer)."""

    def __init__(self, index: int, energy_mj: Callable[[int], int | None] = gpus.energy_mj):
        self.index, self._energy_mj = index, energy_mj

    def read(self) -> int | None:
        return self._energy_mj(self.index)

    def joules_between(self, start: int | None, end: int | None) -> float | None:
        if start is None or end is None or end < start:
            return None
        return _measured((end - start) / 1e3)


def _measured(joules: float) -> float | None:
    """A run always uses some energy: a counter that did not move was not updated during the run
    (NVML updates its counter every few tens of milliseconds), so nothing was measured."""
    return joules if joules > 0 else None


def _read_text(path: Path, default: str) -> str:
    try:
        return path.read_text(encoding="ascii").strip()
    except (OSError, ValueError):
        return default


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text(encoding="ascii"))
    except (OSError, ValueError):
        return None
