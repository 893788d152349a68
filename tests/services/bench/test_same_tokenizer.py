"""Decode speed is compared in tokens/s only between models whose workers report the same
vocabulary (their id -> token lists), whatever their names or backends."""

import pytest

from llm_compare.core.config import ModelConfig
from llm_compare.services.bench.results import stored_results
from llm_compare.services.engine.engine import InferenceEngine
from llm_compare.services.store.run_store import RunRecord

pytestmark = pytest.mark.slow


def bench_records(models: list, runs: int = 2) -> list[RunRecord]:
    config = ModelConfig(temperature=0.0, mode="raw", max_tokens=6, n_ctx=256)
    engine = InferenceEngine()
    records = []
    try:
        for repeat in range(runs):
            for event in engine.run("import os\n", models, {m.id: config for m in models}):
                if event.kind == "done":
                    model = next(m for m in models if m.id == event.model_id)
                    record = RunRecord.from_result(
                        comparison_id="c",
                        prompt="import os\n",
                        system_prompt=None,
                        schedule="sequential",
                        model=model,
                        config=config,
                        result=event.result,
                    )
                    record.bench = {
                        "benchmark_id": "b",
                        "prompt_id": "p",
                        "repeat": repeat,
                        "seed": 0,
                        "checks": [],
                    }
                    records.append(record)
    finally:
        engine.shutdown()
    return records


def test_decode_ratio_uses_tokens_per_second_only_within_one_vocabulary(tiny_models, long_models):
    hf, gguf, other = tiny_models["hf"], tiny_models["gguf_f32"], long_models["gguf_f32"]
    records = bench_records([hf, gguf, other])
    fingerprints = {r.model["id"]: r.runtime.get("vocab_fingerprint") for r in records}
    assert fingerprints[hf.id] == fingerprints[gguf.id] != fingerprints[other.id]
    figures = {
        frozenset((p.model_a, p.model_b)): p.figure
        for p in stored_results(records, include_busy=True).pairs
        if p.figure != "ttft_s"
    }  # this shared machine may mark every run busy
    assert figures[frozenset((hf.id, gguf.id))] == "decode_tps"
    assert figures[frozenset((hf.id, other.id))] == "decode_bytes_per_s"
    assert figures[frozenset((gguf.id, other.id))] == "decode_bytes_per_s"
