"""Keeping a benchmark's runs: each one is stored as a run of the run store, grouped under the
benchmark's id, the moment it finishes."""

from __future__ import annotations

from llm_compare.services.bench.runner import BenchRunOutcome
from llm_compare.services.run_store import RunRecord, RunStore


def save_bench_run(store: RunStore, outcome: BenchRunOutcome) -> str | None:
    """Store the run; when the database cannot take it, it waits in the pending file and the
    one-line note saying so is returned (None when stored)."""
    return store.save_or_keep(
        RunRecord.from_result(
            comparison_id=outcome.benchmark_id,
            prompt=outcome.prompt.prompt,
            system_prompt=outcome.prompt.system,
            schedule="sequential",
            model=outcome.model,
            config=outcome.config,
            result=outcome.result,
        )
    )
