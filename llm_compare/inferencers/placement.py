"""Where a loaded model runs: the device it is on, how many of its layers are on a GPU, and what
each `auto` setting resolved to. Stored with every run (docs/metrics.md: device, gpu_layers_*)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Placement:
    # What the run ran on, as a person reads it: "CPU, 2 threads, AVX2",
    # "CUDA: NVIDIA H100 80GB HBM3", "Metal: Apple M3". Not the setting config.device.
    device: str
    gpu_layers_offloaded: int | None = None  # None where layers mean nothing (an HTTP endpoint)
    gpu_layers_total: int | None = None
    cuda_index: int | None = None  # the NVIDIA GPU holding the model (NVML's index); None elsewhere
    # The value each `auto` setting resolved to, e.g. {"n_gpu_layers": "33", "device": "cuda"}.
    resolved: dict[str, str] = field(default_factory=dict)
