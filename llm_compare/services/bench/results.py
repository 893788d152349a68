"""Everything a benchmark's result view shows, computed once from its counted runs."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from llm_compare.services.bench.aggregate import (
    CountedRun,
    FigureSummary,
    PairComparison,
    PassRate,
    compare_pairs,
    counted,
    figure_summaries,
    pass_rates,
)
from llm_compare.services.bench.report import ModelLabel, aggregate_rows, markdown_table


@dataclass(frozen=True)
class BenchmarkResults:
    runs: list[CountedRun]  # the runs the figures are made of
    busy_left_out: int  # busy runs kept and shown, but not in the figures
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
    used = counted(runs, include_busy)
    summaries = figure_summaries(used)
    rates = pass_rates(used)
    pairs = compare_pairs(used, {m: label.name for m, label in labels.items()}, same_tokenizer)
    return BenchmarkResults(
        runs=used,
        busy_left_out=len(runs) - len(used),
        summaries=summaries,
        pass_rates=rates,
        pairs=pairs,
        markdown=markdown_table(summaries, rates, pairs, labels),
        aggregate_rows=aggregate_rows(summaries, labels),
    )
