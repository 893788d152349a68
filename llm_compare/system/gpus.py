"""NVIDIA GPUs as NVML sees them (the `nvidia-ml-py` package): names, free memory, one process's
GPU memory, energy counters. Every function answers None or an empty list where there is no NVML
(no NVIDIA driver, as on a CPU-only machine or a Mac): a missing GPU is never an error here."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache


@dataclass(frozen=True)
class GpuInfo:
    index: int  # NVML's index, which is CUDA's where CUDA_VISIBLE_DEVICES is unset
    name: str
    total_bytes: int
    free_bytes: int


@cache
def _nvml():
    """The initialised pynvml module, or None (initialised once per process)."""
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:  # no package, no library, no driver: no NVIDIA GPU to talk to
        return None
    return pynvml


def _handle(index: int):
    nvml = _nvml()
    if nvml is None:
        return None
    try:
        return nvml.nvmlDeviceGetHandleByIndex(index)
    except nvml.NVMLError:
        return None


def nvidia_gpus() -> list[GpuInfo]:
    """Every NVIDIA GPU with its memory now; empty without NVML."""
    nvml = _nvml()
    if nvml is None:
        return []
    gpus = []
    try:
        for index in range(nvml.nvmlDeviceGetCount()):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            memory = nvml.nvmlDeviceGetMemoryInfo(handle)
            name = nvml.nvmlDeviceGetName(handle)
            name = name.decode() if isinstance(name, bytes) else name
            gpus.append(GpuInfo(index, name, int(memory.total), int(memory.free)))
    except nvml.NVMLError:
        pass
    return gpus


def process_gpu_bytes(pid: int, index: int) -> int | None:
    """GPU memory that process `pid` holds on GPU `index` (its context included), as NVML reports
    it per process; None when NVML cannot tell (no NVML, or a driver that hides it)."""
    nvml, handle = _nvml(), _handle(index)
    if handle is None:
        return None
    try:
        processes = nvml.nvmlDeviceGetComputeRunningProcesses(handle)
    except nvml.NVMLError:
        return None
    used = [p.usedGpuMemory for p in processes if p.pid == pid and p.usedGpuMemory is not None]
    return int(sum(used)) if used else None


def energy_mj(index: int) -> int | None:
    """GPU `index`'s energy counter in millijoules since the driver loaded (Volta and newer);
    None where it has none. Device-wide: other processes on the GPU count too."""
    nvml, handle = _nvml(), _handle(index)
    if handle is None:
        return None
    try:
        return int(nvml.nvmlDeviceGetTotalEnergyConsumption(handle))
    except nvml.NVMLError:
        return None
