"""Stored likelihood scores: kept with the runs, and the latest per model for the Quality page's
frontier and the CLI."""

from __future__ import annotations

from collections.abc import Iterable

from llm_compare.core.scores import ScoreResult
from llm_compare.services.store.run_store import RunStore


def save_scores(store: RunStore, results: Iterable[ScoreResult]) -> None:
    """Keep every result of a scoring (failed and unscorable ones too, with their reasons)."""
    for result in results:
        store.save_score(result.score_id or "", result.model_id, result.created_at or "", result.to_dict())


def stored_scores(store: RunStore) -> list[ScoreResult]:
    """Every stored score, newest first."""
    return [ScoreResult.from_dict(record) for record in store.score_records()]


def latest_scores(store: RunStore, text_name: str | None = None) -> dict[str, ScoreResult]:
    """model_id -> the newest score of that model that produced figures (status "scored"),
    optionally on one text only (e.g. "builtin:prose"). Its bits_per_byte (with _se) is
    comparable across models; kl_mean, top1_agreement and the other divergence figures are set
    when it was scored against a reference (reference_id) sharing its vocabulary."""
    latest: dict[str, ScoreResult] = {}
    for result in stored_scores(store):
        if result.status == "scored" and (text_name is None or result.text_name == text_name):
            latest.setdefault(result.model_id, result)
    return latest
