"""The memory estimate's parts, and the budget's GPU side, on simulated GPUs (this machine has none):
llm_compare.system.gpus.nvidia_gpus is replaced by a fake that reports chosen free memory."""

from __future__ import annotations

from pathlib import Path

import pytest

from llm_compare.core.config import ModelConfig
from llm_compare.core.errors import OutOfMemoryBudgetError
from llm_compare.core.models import ModelInfo, ModelMetadata, ModelType
from llm_compare.core.results import FinishReason
from llm_compare.services.engine import memory
from llm_compare.services.engine.engine import InferenceEngine
from llm_compare.system import gpus
from llm_compare.system.gpus import GpuInfo

MiB, GiB = 2**20, 2**30
PARAMETERS = 1_235_814_400  # LLaMA-3.2-1B's shape with tied embeddings


def llama_1b(**metadata) -> ModelInfo:
    """LLaMA-3.2-1B as discovery describes its bf16 safetensors folder."""
    values = {"parameters": PARAMETERS, "quantization": "bfloat16", "format": "safetensors", **metadata}
    return ModelInfo(
        "llama-1b",
        "Llama-3.2-1B",
        ModelType.PYTORCH,
        "/models/llama",
        2 * PARAMETERS,
        ModelMetadata(**values),
    )


def llama_1b_gguf() -> ModelInfo:
    metadata = ModelMetadata(
        parameters=PARAMETERS,
        quantization="F16",
        format="gguf",
        block_count=16,
        kv_width=512,
        vocab_size=128256,
    )
    return ModelInfo("llama-1b-f16", "Llama-3.2-1B-F16", ModelType.GGUF, "/m.gguf", 2_479_590_880, metadata)


def fake_gpus(monkeypatch, free_bytes, total_bytes: int = 80 * GiB) -> None:
    """One GPU 0 (an H100) with `free_bytes` free (a number, or a function asked at every look)."""
    free = free_bytes if callable(free_bytes) else lambda: free_bytes
    monkeypatch.setattr(gpus, "nvidia_gpus", lambda: [GpuInfo(0, "NVIDIA H100", total_bytes, free())])


def test_a_checkpoint_run_in_float32_on_the_cpu_is_counted_in_float32():
    estimate = memory.estimate_model_memory(llama_1b(), ModelConfig())  # auto on the CPU: float32
    weights = PARAMETERS * 4
    assert estimate.gpu_bytes == {}
    assert weights < estimate.ram_bytes <= weights * 1.1 + memory.RUNTIME_OVERHEAD_BYTES[ModelType.PYTORCH]


def test_a_converted_checkpoint_that_stays_mapped_is_counted_beside_its_copy():
    # Pickled weights are mapped whole while the float32 copy is built; safetensors are read
    # without the map (inferencers/pytorch.py), so only the copy counts.
    safetensors = memory.estimate_model_bytes(llama_1b(), ModelConfig())
    pickle = memory.estimate_model_bytes(llama_1b(format="pickle"), ModelConfig())
    assert pickle - safetensors == llama_1b().size_bytes
    # Loaded in its own dtype, nothing is converted: the file is not counted twice.
    same = memory.estimate_model_bytes(llama_1b(format="pickle"), ModelConfig(dtype="bfloat16"))
    assert same < safetensors / 2 + memory.RUNTIME_OVERHEAD_BYTES[ModelType.PYTORCH]


def test_a_gguf_model_counts_its_mapped_file_kv_cache_and_compute_buffer():
    model = llama_1b_gguf()
    small, large = (memory.estimate_model_memory(model, ModelConfig(n_ctx=n)) for n in (2048, 8192))
    kv_2048 = 2 * 2 * 16 * 512 * 2048
    assert memory.kv_cache_bytes(model, ModelConfig(n_ctx=2048)) == kv_2048
    assert small.ram_bytes == (
        model.size_bytes
        + kv_2048
        + memory.compute_buffer_bytes(model)
        + memory.RUNTIME_OVERHEAD_BYTES[ModelType.GGUF]
    )
    assert large.ram_bytes - small.ram_bytes == 3 * kv_2048  # the KV cache follows n_ctx
    assert small.gpu_bytes == {}


def test_gguf_layers_on_a_gpu_move_their_share_from_ram_to_that_gpu(monkeypatch):
    fake_gpus(monkeypatch, 60 * GiB)
    model = llama_1b_gguf()
    cpu = memory.estimate_model_memory(model, ModelConfig(n_gpu_layers=0))
    half = memory.estimate_model_memory(model, ModelConfig(n_gpu_layers=8))
    full = memory.estimate_model_memory(model, ModelConfig(n_gpu_layers=-1))
    assert cpu.ram_bytes > half.ram_bytes > full.ram_bytes
    assert list(half.gpu_bytes) == [0] and half.gpu_bytes[0] < full.gpu_bytes[0]
    assert full.gpu_bytes[0] > model.size_bytes
    assert full.ram_bytes < 600 * MiB  # no weights in RAM: compute buffer and runtime only


def test_a_pytorch_model_on_cuda_is_counted_on_its_gpu_in_the_checkpoints_dtype(monkeypatch):
    fake_gpus(monkeypatch, 60 * GiB)
    estimate = memory.estimate_model_memory(llama_1b(), ModelConfig(device="cuda"))
    assert 2 * PARAMETERS < estimate.gpu_bytes[0] < 2 * PARAMETERS * 1.1 + memory.GPU_CONTEXT_BYTES + 1


def test_without_nvml_no_gpu_refusal_is_made_up(monkeypatch):
    monkeypatch.setattr(gpus, "nvidia_gpus", lambda: [])
    estimate = memory.MemoryEstimate(1 * GiB, {0: 9 * GiB})
    assert memory.gpu_shortfall("model", estimate, {}) is None


def test_a_gguf_model_that_does_not_fit_its_gpu_is_refused_before_loading(monkeypatch, tiny_models, greedy):
    fake_gpus(monkeypatch, 100 * MiB)
    model = tiny_models["gguf_f32"]
    engine = InferenceEngine()
    try:
        events = list(engine.run("x", [model], {model.id: greedy.updated(n_gpu_layers=-1)}))
        result = next(e.result for e in events if e.kind == "done")
        assert [e.kind for e in events if e.model_id == model.id] == ["queued", "done"], "never loaded"
        assert engine.loaded_models() == []
    finally:
        engine.shutdown()
    assert result.finish_reason == FinishReason.ERROR
    assert "of GPU memory on GPU 0 (NVIDIA H100) but 100 MiB is free: lower n_gpu_layers" in result.error
    assert "\n" not in result.error


def test_a_pytorch_model_that_does_not_fit_its_gpu_says_to_run_it_on_the_cpu(monkeypatch):
    fake_gpus(monkeypatch, 1 * GiB)
    estimate = memory.estimate_model_memory(llama_1b(), ModelConfig(device="cuda"))
    engine = InferenceEngine(memory_budget_bytes=64 * GiB)
    with pytest.raises(OutOfMemoryBudgetError) as refused:
        engine.check_room("Llama-3.2-1B", estimate, llama_1b())
    assert str(refused.value).startswith("Llama-3.2-1B needs about 3.02 GiB of GPU memory")
    assert "of GPU memory on GPU 0 (NVIDIA H100) but 1.00 GiB is free: set device to cpu" in str(
        refused.value
    )


def test_an_idle_model_on_the_same_gpu_is_unloaded_to_make_room(monkeypatch, tiny_models, greedy):
    # The fake GPU has room for one model: free memory follows what the engine holds.
    engine = InferenceEngine()
    fake_gpus(monkeypatch, lambda: 300 * MiB if engine.loaded_models() else 2 * GiB)
    first, second = tiny_models["gguf_f32"], tiny_models["gguf_q8"]
    on_gpu = greedy.updated(n_gpu_layers=-1)
    try:
        list(engine.run("x", [first], {first.id: on_gpu}))
        assert [m["model_id"] for m in engine.loaded_models()] == [first.id]
        list(engine.run("x", [second], {second.id: greedy}))  # on the CPU: the first stays
        assert len(engine.loaded_models()) == 2
        events = list(engine.run("x", [second], {second.id: on_gpu}))
        result = next(e.result for e in events if e.kind == "done")
    finally:
        engine.shutdown()
    assert result.error is None
    assert first.id not in [m["model_id"] for m in engine.loaded_models()]


@pytest.mark.slow
@pytest.mark.parametrize("role", ["hf", "gguf_f32"])
def test_the_estimate_holds_a_tiny_models_peak_measured_from_outside(tiny_models, greedy, role):
    """The same bounds as the real-size test (tests/services/engine/test_real_size_memory.py), on
    the tiny models, where the runtime overhead is nearly all of it."""
    model = tiny_models[role]
    engine = InferenceEngine()
    try:
        list(engine.run("x", [model], {model.id: greedy}))
        (charge,) = engine.memory_in_use()
        status = Path(f"/proc/{charge.pid}/status").read_text().splitlines()
        peak = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))
    finally:
        engine.shutdown()
    estimate = memory.estimate_model_bytes(model, greedy)
    assert peak <= estimate <= 2 * peak, f"estimate {estimate // MiB} MiB, peak RSS {peak // MiB} MiB"
