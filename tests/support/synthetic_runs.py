"""Stored runs made up in bulk, shaped like real ones (every field a real run has, figures in
realistic ranges, comparisons and benchmarks, busy and failed runs), for tests and for
benchmarks/store_costs.py. Seeded: the same arguments give the same runs."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from llm_compare.core.config import ModelConfig
from llm_compare.core.models import ModelInfo, ModelMetadata, ModelType
from llm_compare.core.results import FinishReason, InferenceResult, InferenceStats
from llm_compare.services.store.record import RunRecord

# name, backend, parameters, quantization, decode tok/s around which runs scatter
MODELS = (
    ("demo-starter-f32", ModelType.GGUF, 1_400_000, "F32", 2900.0),
    ("demo-starter-q8_0", ModelType.GGUF, 1_400_000, "Q8_0", 3400.0),
    ("demo-starter", ModelType.PYTORCH, 1_400_000, "float32", 220.0),
    ("demo-medium-f32", ModelType.GGUF, 6_800_000, "F32", 900.0),
    ("demo-medium-q8_0", ModelType.GGUF, 6_800_000, "Q8_0", 1300.0),
    ("demo-medium", ModelType.PYTORCH, 6_800_000, "float32", 120.0),
)
FINISH_WEIGHTS = {
    FinishReason.STOP: 55,
    FinishReason.LENGTH: 35,
    FinishReason.CANCELLED: 6,
    FinishReason.ERROR: 4,
}
START = datetime(2026, 1, 1, tzinfo=UTC)
PROMPTS = (
    "def fibonacci(n):",
    "Explain what a context manager is in Python, with a short example.",
    "import os\nimport sys\n\n" + "x = 1\n" * 40,
    "Write a haiku about garbage collection.",
)
HOST = {
    "cpu": "Intel(R) Xeon(R) CPU @ 2.20GHz",
    "cores": 2,
    "ram_bytes": 25_769_803_776,
    "os": "Linux-6.1-x86_64",
    "python": "3.11.9",
}


def synthetic_runs(count: int, seed: int = 0, benchmark_share: float = 0.3) -> Iterator[RunRecord]:
    """`count` runs, one second apart from 2026-01-01 (so newest-first order is unambiguous);
    groups of four share a comparison, or belong to one of a few benchmarks."""
    rng = random.Random(seed)
    models = [
        ModelInfo(
            f"{name}-{i:08x}",
            name,
            kind,
            f"/models/{name}" + (".gguf" if kind == ModelType.GGUF else ""),
            parameters * (4 if quant in ("F32", "float32") else 1),
            ModelMetadata(architecture="llama", parameters=parameters, quantization=quant, mtime=1.7e9),
        )
        for i, (name, kind, parameters, quant, _) in enumerate(MODELS)
    ]
    speeds = {name: speed for name, _, _, _, speed in MODELS}
    reasons, weights = list(FINISH_WEIGHTS), list(FINISH_WEIGHTS.values())
    benchmarks = [f"bench{b:07d}" for b in range(5)]
    for i in range(count):
        model = rng.choice(models)
        finish = rng.choices(reasons, weights)[0]
        in_benchmark = rng.random() < benchmark_share
        prompt_index = rng.randrange(len(PROMPTS))
        config = ModelConfig(temperature=rng.choice((0.0, 0.7)), seed=i % 5, max_tokens=64)
        result = InferenceResult(
            model.id,
            "",
            finish,
            None,
            _stats(rng, speeds[model.name], finish),
            backend_versions={"llama_cpp_python": "0.3.36"}
            if model.type == ModelType.GGUF
            else {"torch": "2.13.0"},
            runtime={"n_threads": "2"},
        )
        if finish == FinishReason.ERROR:
            result.error = "the worker process of this model exited unexpectedly (exit code -9)"
        else:
            result.text = "    return n if n < 2 else fibonacci(n - 1) + fibonacci(n - 2)\n" * rng.randint(
                1, 8
            )
        record = RunRecord.from_result(
            comparison_id=rng.choice(benchmarks) if in_benchmark else f"cmp{i // 4:09d}",
            prompt=PROMPTS[prompt_index],
            system_prompt=None,
            schedule="sequential",
            model=model,
            config=config,
            result=result,
        )
        record.created_at = (START + timedelta(seconds=i)).isoformat(timespec="seconds")
        record.host = dict(HOST)
        if in_benchmark:
            record.bench = {
                "benchmark_id": record.comparison_id,
                "prompt_id": f"p{prompt_index}",
                "repeat": i % 5,
                "seed": i % 5,
                "checks": [{"check": "contains 'return'", "passed": "return" in record.text}],
                "skipped": None,
            }
        yield record


def _stats(rng: random.Random, decode_tps: float, finish: FinishReason) -> InferenceStats:
    if finish == FinishReason.ERROR:
        return InferenceStats(load_s=rng.uniform(0.5, 3), finish_reason=finish)
    decode = decode_tps * rng.uniform(0.6, 1.1)
    tokens, prompt_tokens = rng.randint(2, 64), rng.randint(3, 300)
    ttft = prompt_tokens / (decode * 4) + rng.uniform(0.001, 0.02)
    share = rng.choice((0.01, 0.02, 0.05, 0.15, 0.4)) * rng.uniform(0.5, 1.5)
    return InferenceStats(
        load_s=0.0 if rng.random() < 0.8 else rng.uniform(0.3, 3),
        warm=True,
        prompt_tokens=prompt_tokens,
        completion_tokens=tokens,
        ttft_s=ttft,
        prefill_tps=prompt_tokens / ttft,
        decode_tps=decode,
        tpot_ms=1000 / decode,
        decode_bytes_per_s=decode * 3.1,
        e2e_s=ttft + (tokens - 1) / decode,
        peak_rss_bytes=rng.randint(150, 900) * 2**20,
        finish_reason=finish,
        other_cpu_share=share,
        busy=share > 0.10,
    )


def gpu_run_stats() -> InferenceStats:
    """One run's figures as on a GPU with every counter: a 7.4 GiB peak of which 2.4 GiB mapped
    file, 3.1 GiB of GPU memory, 33 of 33 layers offloaded, 12.5 J (0.379 J/token)."""
    gib = 2**30
    return InferenceStats(
        ttft_s=0.05,
        decode_tps=40.0,
        prompt_tokens=10,
        completion_tokens=33,
        peak_rss_bytes=int(7.4 * gib),
        peak_private_bytes=int(5.0 * gib),
        peak_file_bytes=int(2.4 * gib),
        peak_vram_bytes=int(3.1 * gib),
        gpu_layers_offloaded=33,
        gpu_layers_total=33,
        energy_j=12.5,
        j_per_token=0.379,
        load_s=1.0,
        finish_reason=FinishReason.LENGTH,
    )


def cpu_run_stats() -> InferenceStats:
    """One run's figures on a CPU without counters: a 0.5 GiB peak, 0 of 33 layers on a GPU, no
    split, GPU memory or energy measured."""
    return InferenceStats(
        ttft_s=0.05,
        decode_tps=40.0,
        prompt_tokens=10,
        completion_tokens=33,
        peak_rss_bytes=2**29,
        gpu_layers_offloaded=0,
        gpu_layers_total=33,
        load_s=1.0,
        finish_reason=FinishReason.STOP,
    )
