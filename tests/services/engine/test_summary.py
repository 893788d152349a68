"""The comparison summary marks the best figure among the runs that finished, never a failed or
cancelled run's."""

from llm_compare.core.results import FinishReason, InferenceResult, InferenceStats
from llm_compare.services.engine.summary import best_by_figure


def result(model_id: str, reason: FinishReason, **figures) -> InferenceResult:
    return InferenceResult(model_id, "", reason, None, InferenceStats(finish_reason=reason, **figures))


def test_failed_and_cancelled_runs_never_win_a_column():
    results = {
        "finished": result(
            "finished", FinishReason.LENGTH, e2e_s=2.0, ttft_s=0.05, peak_rss_bytes=90, decode_tps=100.0
        ),
        "stopped": result(
            "stopped", FinishReason.STOP, e2e_s=3.0, ttft_s=0.04, peak_rss_bytes=80, decode_tps=120.0
        ),
        "failed": result("failed", FinishReason.ERROR, e2e_s=0.003, peak_rss_bytes=10),
        "cancelled": result(
            "cancelled", FinishReason.CANCELLED, e2e_s=0.5, peak_rss_bytes=5, decode_tps=900.0
        ),
    }
    best = best_by_figure(results)
    assert best == {
        "e2e_s": {"finished"},
        "ttft_s": {"stopped"},
        "peak_rss_bytes": {"stopped"},
        "decode_tps": {"stopped"},
    }


def test_a_figure_defined_by_one_finished_run_marks_nothing():
    results = {
        "a": result("a", FinishReason.LENGTH, e2e_s=2.0, decode_tps=50.0),
        "b": result("b", FinishReason.STOP, e2e_s=1.0),  # one token: no decode speed
    }
    assert best_by_figure(results) == {"e2e_s": {"b"}}
