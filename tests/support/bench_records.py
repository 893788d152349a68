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


def store_busy_benchmark(
    store: RunStore,
    benchmark_id: str = "busybench",
    models: tuple[tuple[str, float, tuple[bool, ...]], ...] = (
        ("m1", 42.0, (True, True)),
        ("m2", 18.0, (True, False)),
    ),
    prompts: tuple[str, ...] = ("code", "prose", "short", "long"),
    repeats: int = 4,
) -> str:
    """A finished benchmark whose counted runs were all busy: by default 2 models × 4 prompts × 4
    repetitions = 32 runs (a 2-core machine while anything else runs). Its id."""
    spec = {
        "model_ids": [model for model, _, _ in models],
        "suite": {"name": "builtin", "prompts": [{"id": p, "prompt": p} for p in prompts]},
        "repeats": repeats,
    }
    store.benchmark_started(benchmark_id, spec, "interleaved")
    for model, speed, checks in models:
        for n, prompt in enumerate(prompts):
            for repeat in range(repeats):
                wobble = 1 + 0.05 * ((repeat + n) % 3 - 1)
                store_bench_run(
                    store,
                    benchmark_id,
                    model,
                    prompt,
                    repeat,
                    speed * wobble,
                    busy=True,
                    peak=int(speed * 2**24),
                    checks=checks,
                )
    store.benchmark_ended(benchmark_id, "complete")
    return benchmark_id
