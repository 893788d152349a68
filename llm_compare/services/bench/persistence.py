"""Keeping a benchmark: its spec and status in the store's benchmarks table, and each run as a
run of the store, linked by the benchmark's id, the moment it finishes."""

from __future__ import annotations

from llm_compare.services.bench.aggregate import FIGURES, CountedRun
from llm_compare.services.bench.runner import BenchmarkRunner, BenchRunOutcome
from llm_compare.services.store.run_store import RunRecord, RunStore

COUNTED_FINISH = ("stop", "length")


def save_bench_run(store: RunStore, outcome: BenchRunOutcome) -> str | None:
    """Store the run; when the database cannot take it, it waits in the pending file and the
    one-line note saying so is returned (None when stored)."""
    return store.save_or_keep(bench_record(outcome))


def bench_record(outcome: BenchRunOutcome) -> RunRecord:
    """A benchmark's run as the store keeps it: a run, plus where it belongs in the benchmark."""
    record = RunRecord.from_result(
        comparison_id=outcome.benchmark_id,
        prompt=outcome.prompt.prompt,
        system_prompt=outcome.prompt.system,
        schedule="sequential",
        model=outcome.model,
        config=outcome.config,
        result=outcome.result,
    )
    record.bench = {
        "benchmark_id": outcome.benchmark_id,
        "prompt_id": outcome.prompt.id,
        "repeat": outcome.planned.repeat,
        "seed": outcome.planned.seed,
        "checks": [{"check": c.check.label, "passed": c.passed} for c in outcome.checks],
        "skipped": outcome.skipped,
    }
    return record


def record_status(store: RunStore):
    """The runner's on_status: the benchmark's spec when it starts, its status when it ends. Like
    a run, either waits in the pending file when the database cannot take it (the note says so)."""

    def tell(runner: BenchmarkRunner, status: str) -> str | None:
        if status == "running":
            return store.benchmark_started(runner.benchmark_id, runner.spec.to_dict(), runner.order_note)
        return store.benchmark_ended(runner.benchmark_id, status)

    return tell


def done_keys(records: list[RunRecord]) -> list[tuple[str, str, int]]:
    """The planned runs a stored benchmark has: a resume runs only the others."""
    return [
        (r.model["id"], r.bench["prompt_id"], r.bench["repeat"]) for r in records if "prompt_id" in r.bench
    ]


def counted_runs(records: list[RunRecord]) -> list[CountedRun]:
    """A stored benchmark's runs as its statistics count them (skipped and failed runs are not)."""
    runs = []
    for r in records:
        if "prompt_id" not in r.bench or r.bench.get("skipped") or r.finish_reason not in COUNTED_FINISH:
            continue
        checks = r.bench.get("checks") or []
        runs.append(
            CountedRun(
                model_id=r.model["id"],
                prompt_id=r.bench["prompt_id"],
                repeat=r.bench["repeat"],
                figures={name: r.stats.get(name) for name in FIGURES},
                busy=bool(r.stats.get("busy")),
                checks_passed=sum(bool(c.get("passed")) for c in checks),
                checks_total=len(checks),
            )
        )
    return runs
