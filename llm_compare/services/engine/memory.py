"""Memory accounting: what a model will need, and what the machine can give."""

from __future__ import annotations

from dataclasses import dataclass, field

import psutil

from llm_compare.core.config import ModelConfig
from llm_compare.core.models import ModelInfo, ModelType
from llm_compare.inferencers import placement
from llm_compare.system import gpus

MiB = 1024**2
GiB = 1024**3
# Resident memory of a worker beside its weights: interpreter, backend library, tokenizer (and for
# PyTorch the tensor being converted while a checkpoint loads in another dtype).
RUNTIME_OVERHEAD_BYTES = {
    ModelType.PYTORCH: 600 * MiB,
    ModelType.GGUF: 100 * MiB,
    ModelType.OPENAI: 80 * MiB,  # the interpreter and the openai client: the weights are the server's
}
# What a GPU holds for a process before any weights: the CUDA context and the backend's kernels.
GPU_CONTEXT_BYTES = 500 * MiB
# Left free for the rest of the machine (the dashboard, the browser, the OS).
SYSTEM_RESERVE_BYTES = 1 * GiB
# Headroom on weights held in the process's own memory: buffers, caches, the allocator's slack.
WEIGHTS_MARGIN = 1.1
# llama.cpp's physical batch (llama-cpp-python's n_ubatch default): the rows a prompt step computes.
GGUF_UBATCH = 512
_DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}


@dataclass(frozen=True)
class MemoryEstimate:
    """A prediction of what a loaded model takes at its peak, where it goes: RAM (the worker's
    peak RSS, VmHWM) and, for a model placed on GPUs, GPU memory by GPU index."""

    ram_bytes: int
    gpu_bytes: dict[int, int] = field(default_factory=dict)


def estimate_model_bytes(model: ModelInfo, config: ModelConfig) -> int:
    """The RAM side of estimate_model_memory: a prediction of the worker's peak RSS."""
    return estimate_model_memory(model, config).ram_bytes


def estimate_model_memory(model: ModelInfo, config: ModelConfig) -> MemoryEstimate:
    """A prediction of a loaded model's peak memory, at least the peak and at most twice it
    (docs/metrics.md, "The memory estimate and budget", says what it adds up and why)."""
    overhead = RUNTIME_OVERHEAD_BYTES[model.type]
    if model.type == ModelType.PYTORCH:
        return _pytorch_estimate(model, config, overhead)
    if model.type == ModelType.GGUF:
        return _gguf_estimate(model, config, overhead)
    return MemoryEstimate(overhead)


def checkpoint_dtype(model: ModelInfo) -> str | None:
    """The dtype a PyTorch checkpoint stores its weights in (discovery's quantization field holds
    it: the safetensors header's dominant dtype, else config.json's), None when unknown."""
    dtype = model.metadata.quantization
    return dtype if dtype in _DTYPE_BYTES else None


def checkpoint_stays_mapped(model: ModelInfo, load_dtype: str | None) -> bool:
    """Whether loading holds the whole checkpoint file in memory beside the weights it builds:
    a checkpoint converted to another dtype is read from a memory map that stays mapped until
    the last tensor is built. PyTorchInferencer reads safetensors without that map while it
    converts (inferencers/pytorch.py, read_checkpoint_without_mapping); pickled weights are
    mapped whole."""
    stored = checkpoint_dtype(model)
    converted = load_dtype is not None and load_dtype != stored
    return converted and model.metadata.format == "pickle"


def _pytorch_estimate(model: ModelInfo, config: ModelConfig, overhead: int) -> MemoryEstimate:
    device = _torch_device(config)
    load_dtype = _torch_load_dtype(config, device) or checkpoint_dtype(model)
    parameters = model.metadata.parameters
    if parameters and load_dtype in _DTYPE_BYTES:
        weights = parameters * _DTYPE_BYTES[load_dtype]
    else:  # a quantized or unread checkpoint: its files are the best measure
        weights = model.size_bytes
    # The model is built on the CPU and then moved (inferencers/pytorch.py): RAM holds it first
    # on every device.
    ram = overhead + int(weights * WEIGHTS_MARGIN)
    if checkpoint_stays_mapped(model, load_dtype):
        ram += model.size_bytes
    if device != "cuda":  # an MPS GPU shares the machine's memory: RAM counts it already
        return MemoryEstimate(ram)
    gpu = GPU_CONTEXT_BYTES + int(weights * WEIGHTS_MARGIN)
    return MemoryEstimate(ram, {_main_gpu(config): gpu})


def _gguf_estimate(model: ModelInfo, config: ModelConfig, overhead: int) -> MemoryEstimate:
    # The file is memory-mapped: every page of it that the CPU computes with becomes resident.
    file_bytes, kv = model.size_bytes, kv_cache_bytes(model, config)
    compute = compute_buffer_bytes(model)
    on_gpu = _gguf_gpu_fraction(model, config)
    ram = overhead + compute + int((file_bytes + kv) * (1 - on_gpu))
    if not on_gpu:
        return MemoryEstimate(ram)
    gpu = GPU_CONTEXT_BYTES + compute + int((file_bytes + kv) * on_gpu)
    return MemoryEstimate(ram, {_main_gpu(config): gpu})


def kv_cache_bytes(model: ModelInfo, config: ModelConfig) -> int:
    """f16 K and V for every layer and context position, when the header tells the shapes.
    (It will follow the KV cache type once that is a setting.)"""
    meta = model.metadata
    return placement.kv_cache_bytes(meta.block_count, meta.kv_width, config.n_ctx)


def compute_buffer_bytes(model: ModelInfo) -> int:
    """llama.cpp's compute buffer, bounded by float32 logits over the vocabulary for one batch of
    rows: for a large vocabulary the biggest intermediate of a step (it sizes the buffer for the
    worst graph when the context is created)."""
    return GGUF_UBATCH * 4 * (model.metadata.vocab_size or 32000)


# --- where a model goes: the worker's rules (inferencers/placement.py), foreseen from here ---------


def _torch_device(config: ModelConfig) -> str:
    return placement.expected_torch_device(config.device)


def _torch_load_dtype(config: ModelConfig, device: str) -> str | None:
    """The dtype the weights are loaded in on `device`; None keeps the checkpoint's."""
    return config.effective_dtype_on(device)


def _main_gpu(config: ModelConfig) -> int:
    return config.main_gpu


def _gguf_gpu_fraction(model: ModelInfo, config: ModelConfig) -> float:
    """The share of the model's layers llama.cpp will put on the GPU, by the rule the worker
    applies (placement.gguf_gpu_layers), taking a llama.cpp that can offload wherever NVML sees
    an NVIDIA GPU: the dashboard cannot ask llama.cpp without loading it."""
    meta = model.metadata
    total = meta.block_count + 1 if meta.block_count else None  # as llama.cpp counts them
    gpu = next((g for g in gpus.nvidia_gpus() if g.index == config.main_gpu), None)
    layers, _ = placement.gguf_gpu_layers(
        config.n_gpu_layers,
        can_offload=gpu is not None,
        layers_total=total,
        model_bytes=placement.gguf_offload_bytes(
            model.size_bytes, meta.block_count, meta.kv_width, config.n_ctx
        ),
        free_gpu_bytes=gpu.free_bytes if gpu else None,
    )
    if layers == 0:
        return 0.0
    if layers == placement.ALL_LAYERS or not total or layers >= total:
        return 1.0
    return layers / total


def gpu_shortfall(
    name: str, estimate: MemoryEstimate, reserved: dict[int, int], model_type: ModelType | None = None
) -> str | None:
    """Why `estimate`'s GPU memory does not fit beside what is used and `reserved` (by models
    still loading) now, in one line; None when it fits or no GPU can be asked (no NVML)."""
    by_index = {gpu.index: gpu for gpu in gpus.nvidia_gpus()}
    if not by_index:
        return None
    what = "set device to cpu" if model_type == ModelType.PYTORCH else "lower n_gpu_layers"
    for index, need in sorted(estimate.gpu_bytes.items()):
        gpu = by_index.get(index)
        if gpu is None:
            seen = ", ".join(map(str, by_index))
            return f"{name} is placed on GPU {index} but there is no GPU {index} (GPUs: {seen})"
        free = max(0, gpu.free_bytes - reserved.get(index, 0))
        if need > free:
            return (
                f"{name} needs about {gib(need)} of GPU memory on GPU {index} ({gpu.name}) but "
                f"{gib(free)} is free: {what}, or unload a model"
            )
    return None


def available_bytes() -> int:
    """Memory the machine can hand out now, less the reserve kept for everything else."""
    return max(0, psutil.virtual_memory().available - SYSTEM_RESERVE_BYTES)


def default_budget_bytes() -> int:
    """Loaded models may use up to 75% of the machine's memory together."""
    return int(psutil.virtual_memory().total * 0.75)


def process_rss_bytes(pid: int) -> int:
    try:
        return psutil.Process(pid).memory_info().rss
    except psutil.Error:
        return 0


def process_tree_rss_bytes(pid: int | None) -> int:
    """RSS of `pid` and all its descendants: a server keeps its model in a worker child."""
    if pid is None:
        return 0
    try:
        tree = [psutil.Process(pid)]
        tree += tree[0].children(recursive=True)
    except psutil.Error:
        return 0
    return sum(process_rss_bytes(process.pid) for process in tree)


@dataclass(frozen=True)
class ExternalProcess:
    """A process the engine does not own whose memory comes out of the same budget (a model
    served by `llm-compare serve` for the dashboard)."""

    pid: int | None  # None while it is being started
    label: str
    reserved_bytes: int = 0  # counted at least this much: what its model takes once it loads it


@dataclass(frozen=True)
class MemoryCharge:
    """One process as the memory budget counts it."""

    label: str
    pid: int | None
    rss_bytes: int  # measured now, from outside (for a server: with its worker children)
    counted_bytes: int  # what the budget charges: the RSS, or more while a model is still to load
    external: bool  # not the engine's: never unloaded to make room


def gib(n_bytes: float) -> str:
    return f"{n_bytes / GiB:.2f} GiB" if n_bytes >= GiB / 10 else f"{n_bytes / MiB:.0f} MiB"


def process_file_bytes(pid: int | None) -> int | None:
    """The mapped-file part of a process's resident memory, read from outside (Linux: RssFile +
    RssShmem, psutil's `shared`): weights llama.cpp keeps mapped, which the page cache shares.
    None where the system does not tell (macOS, Windows) or the process is gone."""
    if pid is None:
        return None
    try:
        return getattr(psutil.Process(pid).memory_info(), "shared", None)
    except psutil.Error:
        return None
