"""Which model did best on each figure of one comparison."""

from __future__ import annotations

from llm_compare.core.results import FinishReason, InferenceResult

# Only runs that finished compete: an error after 3 ms must not win "fastest", nor a run
# cancelled before it grew "smallest memory".
COMPETING = (FinishReason.STOP, FinishReason.LENGTH)
LOWER_IS_BETTER = ("ttft_s", "e2e_s", "peak_rss_bytes")
HIGHER_IS_BETTER = ("decode_tps", "prefill_tps")


def best_by_figure(results: dict[str, InferenceResult]) -> dict[str, set[str]]:
    """figure -> the model ids holding its best value, for figures that at least two finished
    runs define (one run alone is not 'best' of anything)."""
    finished = {mid: r.stats for mid, r in results.items() if r.finish_reason in COMPETING}
    best = {}
    for figure in LOWER_IS_BETTER + HIGHER_IS_BETTER:
        values = {mid: getattr(stats, figure) for mid, stats in finished.items()}
        values = {mid: v for mid, v in values.items() if v is not None}
        if len(values) < 2:
            continue
        target = (min if figure in LOWER_IS_BETTER else max)(values.values())
        best[figure] = {mid for mid, v in values.items() if v == target}
    return best
