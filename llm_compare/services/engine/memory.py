"""Memory accounting: what a model will need, and what the machine can give."""

from __future__ import annotations

from dataclasses import dataclass

import psutil

from llm_compare.core.config import ModelConfig
from llm_compare.core.models import ModelInfo, ModelType

MiB = 1024**2
GiB = 1024**3
# Resident memory of a worker before any weights: interpreter plus backend library.
RUNTIME_OVERHEAD_BYTES = {
    ModelType.PYTORCH: 400 * MiB,
    ModelType.GGUF: 100 * MiB,
    ModelType.OPENAI: 80 * MiB,  # the interpreter and the openai client: the weights are the server's
}
# Left free for the rest of the machine (the dashboard, the browser, the OS).
SYSTEM_RESERVE_BYTES = 1 * GiB
_DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}


def estimate_model_bytes(model: ModelInfo, config: ModelConfig) -> int:
    """A deliberately generous estimate of a loaded model's resident memory."""
    weights = model.size_bytes
    dtype = config.effective_dtype
    if model.type == ModelType.PYTORCH and dtype and model.metadata.parameters:
        weights = model.metadata.parameters * _DTYPE_BYTES[dtype]
    if model.type == ModelType.GGUF:
        weights += kv_cache_bytes(model, config)
    return int(weights * 1.1) + RUNTIME_OVERHEAD_BYTES[model.type]


def kv_cache_bytes(model: ModelInfo, config: ModelConfig) -> int:
    """f16 K and V for every layer and context position, when the header tells the shapes."""
    meta = model.metadata
    layers, kv_width = meta.block_count, meta.kv_width
    if not layers or not kv_width:
        return 0
    return 2 * 2 * layers * kv_width * config.n_ctx


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
