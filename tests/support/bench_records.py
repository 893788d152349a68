"""Benchmark runs written straight into a run store, with chosen figures: for tests of what is
computed from stored benchmarks (the frontier's costs, the Leaderboard page)."""

from __future__ import annotations

import uuid

from llm_compare.services.store.run_store import RunRecord, RunStore


def store_bench_run(
    store: RunStore,
    benchmark_id: str,
    model_id: str,
    prompt_id: str,
    repeat: int,
    decode_tps: float,
    *,
    busy: bool = False,
    peak: int = 100,
    checks: tuple[bool, ...] = (),
    j_per_token: float | None = None,
) -> RunRecord:
    """One counted run of `model_id` (named name-<id>), TTFT decode_tps / 1000 s."""
    record = RunRecord(
        run_id=uuid.uuid4().hex,
        comparison_id=benchmark_id,
        created_at="2026-11-26T00:00:00+00:00",
        prompt="p",
        system_prompt=None,
        schedule="sequential",
        model={"id": model_id, "name": f"name-{model_id}", "type": "gguf", "path": f"/{model_id}"},
        config={},
        text="t",
        finish_reason="length",
        error=None,
        stats={
            "decode_tps": decode_tps,
            "ttft_s": decode_tps / 1000,
            "peak_rss_bytes": peak,
            "busy": busy,
            "j_per_token": j_per_token,
        },
        bench={
            "benchmark_id": benchmark_id,
            "prompt_id": prompt_id,
            "repeat": repeat,
            "seed": repeat,
            "checks": [{"check": "c", "passed": passed} for passed in checks],
            "skipped": None,
        },
    )
    store.save(record)
    return record
