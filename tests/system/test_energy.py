"""Energy counters: the CPU packages' RAPL counters (a powercap tree made here) and NVML's."""

from pathlib import Path

import pytest

from llm_compare.system.energy import NvmlCounter, RaplCounter


def zone(root: Path, name: str, kind: str, energy_uj: int | None, max_uj: int = 262_143_328_850) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "name").write_text(kind + "\n")
    (folder / "max_energy_range_uj").write_text(f"{max_uj}\n")
    if energy_uj is not None:
        (folder / "energy_uj").write_text(f"{energy_uj}\n")
    return folder


def set_energy(folder: Path, energy_uj: int) -> None:
    (folder / "energy_uj").write_text(f"{energy_uj}\n")


def test_rapl_sums_the_packages_and_leaves_out_their_parts_and_the_platform(tmp_path):
    package0 = zone(tmp_path, "intel-rapl:0", "package-0", 1_000_000)
    package1 = zone(tmp_path, "intel-rapl:1", "package-1", 5_000_000)
    core = zone(tmp_path, "intel-rapl:0:0", "core", 0)
    platform = zone(tmp_path, "intel-rapl:2", "psys", 0)
    counter = RaplCounter(tmp_path)
    start = counter.read()
    set_energy(package0, 3_500_000)
    set_energy(package1, 6_000_000)
    set_energy(core, 99_000_000)
    set_energy(platform, 99_000_000)
    assert counter.joules_between(start, counter.read()) == pytest.approx(3.5)


def test_rapl_counts_across_a_wrap_around(tmp_path):
    package = zone(tmp_path, "intel-rapl:0", "package-0", 999_000, max_uj=1_000_000)
    counter = RaplCounter(tmp_path)
    start = counter.read()
    set_energy(package, 1_000)  # past the range's end: 1,000 µJ to the end, 1,000 after
    assert counter.joules_between(start, counter.read()) == pytest.approx(0.002)


def test_rapl_without_powercap_or_readable_counters_gives_nothing(tmp_path):
    assert RaplCounter(tmp_path / "no-powercap").read() is None
    zone(tmp_path, "intel-rapl:0", "package-0", None)  # root-only energy_uj, as since 2020
    counter = RaplCounter(tmp_path)
    assert counter.zones and counter.read() is None
    assert counter.joules_between(None, None) is None


def test_nvml_energy_is_millijoules_and_a_missing_reading_gives_nothing():
    readings = iter([1_000_000, 1_250_500])
    counter = NvmlCounter(0, lambda index: next(readings))
    assert counter.joules_between(counter.read(), counter.read()) == pytest.approx(250.5)
    assert counter.joules_between(None, 5) is None
    assert counter.joules_between(5, 5) is None  # not updated during a short run: not measured
    assert NvmlCounter(0, lambda index: None).read() is None
