"""Where a loaded model runs: the device it is on, how many of its layers are on a GPU, and what
each `auto` setting resolved to. Stored with every run (docs/metrics.md: device, gpu_layers_*).

The decisions are plain functions of facts passed in (is there CUDA, how much GPU memory is
free, what llama.cpp was built with), so they are tested without a GPU; the backends gather the
facts in their worker process. Nothing here imports torch or llama_cpp."""

from __future__ import annotations

import platform
from dataclasses import dataclass, field

from llm_compare.core.errors import ModelLoadError
from llm_compare.system.gpus import nvidia_gpus

MiB = 1024**2
# What `auto` leaves free on the GPU beyond the weights and KV cache it offloads: llama.cpp's
# compute buffers (a few hundred MiB at n_ubatch 512 for a large vocabulary) and the CUDA context.
GPU_RESERVE_BYTES = 512 * MiB
ALL_LAYERS = -1  # "every layer", when the layer count is not known before loading
CPU_ONLY_BUILD = (
    "this llama.cpp is built for the CPU only, so no layer can go to a GPU: run scripts/setup.sh on a "
    "machine with a GPU (see llm-compare doctor)"
)
# CPU vector extensions worth naming, best first, as llama.cpp's system info and torch spell them.
CPU_FEATURES = ("AVX512", "AVX2", "AVX", "NEON")


@dataclass(frozen=True)
class Placement:
    # What the run ran on, as a person reads it: "CPU, 2 threads, AVX2",
    # "CUDA: NVIDIA H100 80GB HBM3", "Metal: Apple M3". Not the setting config.device.
    device: str
    gpu_layers_offloaded: int | None = None  # None where layers mean nothing (an HTTP endpoint)
    gpu_layers_total: int | None = None
    cuda_index: int | None = None  # the NVIDIA GPU holding the model (NVML's index); None elsewhere
    # What the load settings resolved to, stored in each run's runtime (CSV: n_gpu_layers_used,
    # torch_device_used): {"n_gpu_layers": "33"} for GGUF, {"torch_device": "cuda:0"} for PyTorch.
    resolved: dict[str, str] = field(default_factory=dict)


# --- PyTorch: which device ------------------------------------------------------------------------


def expected_torch_device(
    setting: str, *, has_nvidia_gpu: bool | None = None, machine: str | None = None
) -> str:
    """The device a PyTorch model with device=`setting` will run on, as a process without torch
    can tell (the dashboard, the CLI): auto is cuda when NVML sees an NVIDIA GPU, mps on Apple
    Silicon, else cpu. The facts default to this machine's."""
    if setting != "auto":
        return setting
    if has_nvidia_gpu is None:
        has_nvidia_gpu = bool(nvidia_gpus())
    if machine is None:
        machine = f"{platform.system()} {platform.machine()}"
    if has_nvidia_gpu:
        return "cuda"
    if machine == "Darwin arm64":
        return "mps"
    return "cpu"


def torch_device(setting: str, cuda_available: bool, mps_available: bool) -> str:
    """The device a PyTorch model loads on (the worker asks torch for the facts): auto picks
    cuda, then mps, then cpu; an explicit device that is not there is a load error."""
    if setting == "auto":
        return "cuda" if cuda_available else "mps" if mps_available else "cpu"
    if setting == "cuda" and not cuda_available:
        raise ModelLoadError("device 'cuda' is not available on this machine: set device to auto or cpu")
    if setting == "mps" and not mps_available:
        raise ModelLoadError("device 'mps' is not available on this machine: set device to auto or cpu")
    return setting


def torch_device_name(device: str, main_gpu: int, cuda_count: int) -> str:
    """torch's name of the device: cuda:{main_gpu} on CUDA (one GPU per model)."""
    if device != "cuda":
        return device
    if main_gpu >= cuda_count:
        raise ModelLoadError(
            f"main_gpu {main_gpu} does not exist: this machine has {cuda_count} CUDA GPU(s), "
            f"numbered from 0: set main_gpu to 0 to {cuda_count - 1}"
        )
    return f"cuda:{main_gpu}"


# --- GGUF: how many layers ------------------------------------------------------------------------


def gguf_gpu_layers(
    setting: int | str,
    can_offload: bool,
    layers_total: int | None,
    model_bytes: int,
    free_gpu_bytes: int | None,
) -> tuple[int, str | None]:
    """(layers to offload, warning or None) for n_gpu_layers=`setting`. `layers_total` counts as
    llama.cpp does (n_layer + 1, the output layer being one), ALL_LAYERS standing for every layer
    when it is not known; `model_bytes` is what the whole model puts on the GPU (weights and KV
    cache: gguf_offload_bytes).

    auto: none on a CPU-only build; every layer when the model fits the free GPU memory less
    GPU_RESERVE_BYTES, or when the free memory is unknown (as llama.cpp's tools offload with
    -ngl 99); else as many layers as fit, each counted at model_bytes / layers_total (the weights
    and KV cache are spread over the layers about evenly), none when the count is unknown.
    An explicit count on a CPU-only build offloads nothing, with a warning."""
    if setting == 0:
        return 0, None
    if not can_offload:
        return 0, (None if setting == "auto" else CPU_ONLY_BUILD)
    everything = layers_total if layers_total else ALL_LAYERS
    if setting != "auto":
        asked = int(setting)
        return (everything if asked == -1 or not layers_total else min(asked, layers_total)), None
    if free_gpu_bytes is None:
        return everything, None
    room = free_gpu_bytes - GPU_RESERVE_BYTES
    if model_bytes <= room:
        return everything, None
    if not layers_total or room <= 0:
        return 0, None
    per_layer = model_bytes / layers_total
    return max(0, min(layers_total, int(room // per_layer))), None


def gguf_offload_bytes(file_bytes: int, block_count: int | None, kv_width: int | None, n_ctx: int) -> int:
    """What a GGUF model puts on the GPU with every layer there: its tensors (about the file's
    size) and an f16 KV cache for n_ctx tokens (K and V, every layer), when the header tells the
    shapes (the rule of services/engine/memory.py's kv_cache_bytes)."""
    return file_bytes + kv_cache_bytes(block_count, kv_width, n_ctx)


def kv_cache_bytes(block_count: int | None, kv_width: int | None, n_ctx: int) -> int:
    """f16 K and V for every layer and context position; 0 when the header does not tell the
    shapes. (It will follow the KV cache type once that is a setting.)"""
    return 2 * 2 * block_count * kv_width * n_ctx if block_count and kv_width else 0


def gguf_layers_reported(requested: int, n_layer: int) -> tuple[int, int]:
    """(offloaded, total) as llama.cpp's model loader logs "offloaded X/Y layers to GPU": the
    n_layer repeating layers plus the output layer, min(n_gpu_layers, n_layer + 1) of them."""
    total = n_layer + 1
    offloaded = total if requested == ALL_LAYERS else min(max(requested, 0), total)
    return offloaded, total


# --- what the run ran on, in words ----------------------------------------------------------------


def llama_system_info_parts(system_info: str) -> dict[str, set[str]]:
    """llama_print_system_info() read: each backend ("CPU", "CUDA", "Metal"...) with its features
    that are on, from "CUDA : ARCHS = 890 | USE_GRAPHS = 1 | CPU : SSE3 = 1 | AVX2 = 1 | "."""
    parts: dict[str, set[str]] = {}
    current = None
    for segment in system_info.split("|"):
        if " : " in segment:
            current, segment = (s.strip() for s in segment.split(" : ", 1))
            parts.setdefault(current, set())
        name, _, value = segment.partition("=")
        if current is not None and name.strip() and value.strip() not in ("", "0"):
            parts[current].add(name.strip())
    return parts


def llama_gpu_backend(system_info: str) -> str | None:
    """The GPU backend this llama.cpp was built with ("CUDA", "Metal", "Vulkan"...), or None."""
    others = [name for name in llama_system_info_parts(system_info) if name not in ("CPU", "BLAS")]
    return others[0] if others else None


def llama_cpu_feature(system_info: str) -> str | None:
    """The best CPU vector extension llama.cpp uses here, from its system info."""
    features = llama_system_info_parts(system_info).get("CPU", set())
    return next((name for name in CPU_FEATURES if name in features), None)


def torch_cpu_feature(capability: str) -> str | None:
    """torch.backends.cpu.get_cpu_capability() as a feature name ("AVX2"); None for "DEFAULT"."""
    return None if capability in ("DEFAULT", "NO AVX", "") else capability


def cpu_text(threads: int, feature: str | None) -> str:
    """ "CPU, 2 threads, AVX2" """
    text = f"CPU, {threads} thread{'s' if threads != 1 else ''}"
    return f"{text}, {feature}" if feature else text


def gpu_text(backend: str, name: str | None) -> str:
    """ "CUDA: NVIDIA H100 80GB HBM3", "Metal: Apple M3"; the backend alone when the name is unknown."""
    return f"{backend}: {name}" if name else backend


def apple_chip_name() -> str | None:
    """ "Apple M3" on a Mac (sysctl's brand string), else None."""
    if platform.system() != "Darwin":
        return None
    import subprocess

    try:
        out = subprocess.run(
            ["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def nvidia_gpu_name(index: int) -> str | None:
    return next((gpu.name for gpu in nvidia_gpus() if gpu.index == index), None)


def nvidia_free_bytes(index: int) -> int | None:
    return next((gpu.free_bytes for gpu in nvidia_gpus() if gpu.index == index), None)
