"""Everything a benchmark's result view shows, computed once from its counted runs."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from llm_compare.core.vocabulary import same_vocabulary
from llm_compare.services.bench.aggregate import (
    CountedRun,
    FigureSummary,
    PairComparison,
    PassRate,
    busy_share,
    compare_pairs,
    counted_or_busy,
    figure_summaries,
    pass_rates,
)
from llm_compare.services.bench.persistence import counted_runs
from llm_compare.services.bench.report import (
    ModelLabel,
    aggregate_rows,
    devices_by_model,
    markdown_table,
    run_rows,
)
from llm_compare.services.bench.runner import BenchmarkRunner
from llm_compare.services.store.run_store import RunRecord


@dataclass(frozen=True)
class BenchmarkResults:
    runs: list[CountedRun]  # the runs the figures are made of
    all_runs: list[CountedRun]  # every counted run, busy or not: what the plots draw
    busy_left_out: int  # busy runs kept and shown, but not in the figures
    busy_runs: int  # busy runs among all the counted runs, in the figures or not
    total_runs: int  # counted runs, busy or not
    from_busy: bool  # every run was busy: the figures come from busy runs (and say so)
    summaries: list[FigureSummary]
    pass_rates: list[PassRate]
    pairs: list[PairComparison]
    markdown: str
    aggregate_rows: list[dict]


def benchmark_results(
    runs: Sequence[CountedRun],
    labels: Mapping[str, ModelLabel],
    same_tokenizer: Callable[[str, str], bool],
    include_busy: bool = False,
) -> BenchmarkResults:
    used, from_busy = counted_or_busy(runs, include_busy)
    summaries = figure_summaries(used)
    rates = pass_rates(used)
    pairs = compare_pairs(used, {m: label.name for m, label in labels.items()}, same_tokenizer)
    busy_runs = sum(1 for run in runs if run.busy)
    return BenchmarkResults(
        runs=used,
        all_runs=list(runs),
        busy_left_out=len(runs) - len(used),
        busy_runs=busy_runs,
        total_runs=len(runs),
        from_busy=from_busy,
        summaries=summaries,
        pass_rates=rates,
        pairs=pairs,
        markdown=markdown_table(
            summaries, rates, pairs, labels, busy_note(include_busy, from_busy, busy_runs, len(runs))
        ),
        aggregate_rows=aggregate_rows(summaries, labels),
    )


FROM_BUSY = "from busy runs"


def busy_note(include_busy: bool, from_busy: bool, busy_runs: int, total_runs: int) -> str:
    """One sentence on the busy runs under a table: how many, and whether the figures hold them."""
    share = busy_share(busy_runs, total_runs)
    if from_busy:
        return (
            f"Figures {FROM_BUSY}: {share}, none quiet (other programs used the CPU), so they are "
            "not comparable with quiet runs."
        )
    if not busy_runs:
        return f"{share}."
    return f"{share}, {'included' if include_busy else 'left out'}."


def benchmark_document(
    benchmark_id: str, spec: dict, order_note: str, results: BenchmarkResults, records: list[RunRecord]
) -> dict:
    """Everything about a benchmark as one JSON document: what ran, the aggregates, the verdicts
    and every stored run (skipped, failed and stopped ones too, with their reasons)."""
    return {
        "benchmark_id": benchmark_id,
        **spec,
        "order": order_note,
        "aggregate": results.aggregate_rows,
        "pairs": [
            {
                "model_a": p.model_a,
                "model_b": p.model_b,
                "figure": p.figure,
                "prompt_id": p.prompt_id,
                "ratio": p.ratio.value if p.ratio else None,
                "ci_low": p.ratio.interval.low if p.ratio else None,
                "ci_high": p.ratio.interval.high if p.ratio else None,
                "verdict": p.verdict,
            }
            for p in results.pairs
        ],
        "busy_runs": results.busy_runs,
        "from_busy_runs": results.from_busy,
        "runs": run_rows(records, counted_only=False),
    }


def tokenizer_matcher(runtimes: Iterable[tuple[str, Mapping[str, str]]]) -> Callable[[str, str], bool]:
    """same_tokenizer from (model id, runtime) pairs: two models share a tokenizer when their
    workers reported the same vocabulary fingerprint (the id -> token list, not the names)."""
    fingerprints = {
        model_id: runtime["vocab_fingerprint"]
        for model_id, runtime in runtimes
        if runtime.get("vocab_fingerprint")
    }
    return lambda a, b: same_vocabulary(fingerprints.get(a), fingerprints.get(b))


def stored_results(records: list[RunRecord], include_busy: bool = False) -> BenchmarkResults:
    """A stored benchmark's results, from its runs as the store holds them."""
    labels = stored_labels(records)
    same_tokenizer = tokenizer_matcher((r.model["id"], r.runtime) for r in records)
    return benchmark_results(counted_runs(records), labels, same_tokenizer, include_busy)


def stored_labels(records: list[RunRecord]) -> dict[str, ModelLabel]:
    """Name, backend and device of every model of a stored benchmark."""
    devices = devices_by_model((r.model["id"], r.device) for r in records)
    return {
        r.model["id"]: ModelLabel(r.model["name"], r.model["type"], devices.get(r.model["id"]))
        for r in records
    }


def results_of(
    runner: BenchmarkRunner, include_busy: bool = False
) -> tuple[BenchmarkResults, dict[str, ModelLabel]]:
    runs = runner.counted_runs()
    devices = devices_by_model((o.model.id, o.result.device) for o in runner.snapshot() if o.result)
    labels = {
        m.id: ModelLabel(m.name, m.type.value, devices.get(m.id))
        for m in runner.models.values()
        if m.id in runner.spec.model_ids
    }
    # Decode speed in tokens/s between models sharing a vocabulary, else in bytes/s. The
    # snapshot is taken after `runs`, so it knows the vocabulary of every model they hold.
    same_tokenizer = tokenizer_matcher((o.model.id, o.result.runtime) for o in runner.snapshot() if o.counted)
    results = benchmark_results(runs, labels, same_tokenizer, include_busy)
    return results, labels
