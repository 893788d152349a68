"""The memory estimate against the peak of a model of real size, measured from outside the worker.

A random LLaMA in LLaMA-3.2-1B's shape (1.24 B parameters, LLaMA-3's 128,256-token tokenizer),
stored as bf16 safetensors and as an f16 GGUF, each loaded through the engine as the product
loads it. Run by `scripts/test.sh --real-size` only: it builds about 5 GB of models once (a few
minutes), and each load needs up to 8 GB of memory."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from llm_compare.core.config import ModelConfig
from llm_compare.core.formatting import stats_line
from llm_compare.services.discovery.model_manager import ModelManager
from llm_compare.services.engine import memory
from llm_compare.services.engine.engine import InferenceEngine
from tests.conftest import cached_build
from tests.support.real_size_models import LLAMA_3_2_1B, build_real_shape, cache_key

pytestmark = [pytest.mark.real_size, pytest.mark.alone]
MiB = 1024**2


@pytest.fixture(scope="module")
def real_size_models() -> dict[str, object]:
    root = cached_build(
        LLAMA_3_2_1B.name, lambda folder: build_real_shape(LLAMA_3_2_1B, folder), cache_key(LLAMA_3_2_1B)
    )
    by_name = {m.name: m for m in ModelManager([root]).scan()}
    return {"bf16 safetensors": by_name[LLAMA_3_2_1B.name], "f16 GGUF": by_name[f"{LLAMA_3_2_1B.name}-f16"]}


def peak_rss_bytes(pid: int) -> int:
    """The process's peak resident set (VmHWM), read from outside while it lives."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM for pid {pid}")


# Building the models (first run only) takes about 5 minutes on 2 cores; each load up to a minute.
@pytest.mark.timeout(1200)
@pytest.mark.parametrize("form", ["bf16 safetensors", "f16 GGUF"])
def test_the_estimate_holds_the_peak_of_a_real_size_model(real_size_models, form, record_property):
    model = real_size_models[form]
    assert model.error is None and model.metadata.parameters > 1_000_000_000
    config = ModelConfig(temperature=0.0, mode="raw", max_tokens=8)  # on the CPU: float32 for PyTorch
    estimate = memory.estimate_model_bytes(model, config)
    engine = InferenceEngine(max_models=1)
    try:
        started = time.perf_counter()
        events = list(engine.run("The capital of France is", [model], {model.id: config}))
        elapsed_s = time.perf_counter() - started
        result = next(e.result for e in events if e.kind == "done")
        assert result.error is None, result.error
        (charge,) = engine.memory_in_use()
        peak = peak_rss_bytes(charge.pid)
    finally:
        engine.shutdown()
    figures = {
        "estimate_mib": estimate // MiB,
        "peak_rss_mib": peak // MiB,
        "private_mib": result.stats.peak_private_bytes // MiB,
        "mapped_file_mib": result.stats.peak_file_bytes // MiB,
        "load_s": round(result.stats.load_s, 1),
        "run_s": round(elapsed_s, 1),
    }
    record_property("figures", figures)
    print(f"\n{form}: {figures}")
    assert peak <= estimate <= 2 * peak, f"{form}: estimate {estimate // MiB} MiB, peak RSS {peak // MiB} MiB"
    # The split the column shows, against the same outside reading: its parts add up to the peak
    # (within 1 %: the kernel batches each thread's RSS counters, so two readings differ by a few pages).
    stats = result.stats
    assert 0.9 * peak <= stats.peak_private_bytes + stats.peak_file_bytes <= 1.01 * peak
    assert "mapped file)" in stats_line(stats, result.device)
    if form == "f16 GGUF":  # llama.cpp keeps the weights mapped: most of the peak is the file
        assert stats.peak_file_bytes >= 0.8 * model.size_bytes
