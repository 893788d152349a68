"""The last comparison read back from the store, drawn like a finished one: what the Compare
page shows after a reload (a new browser session) instead of an empty page."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, fields
from datetime import datetime

from llm_compare.core.config import ModelConfig
from llm_compare.core.models import ModelInfo, ModelType
from llm_compare.core.results import FinishReason, InferenceResult, InferenceStats
from llm_compare.services.engine.comparison import ModelRun
from llm_compare.services.quality.votes import PairVote
from llm_compare.services.store.run_store import RunRecord, RunStore

log = logging.getLogger(__name__)


@dataclass
class RestoredComparison:
    """A finished comparison as stored: the same attributes the page reads from a Comparison."""

    comparison_id: str
    prompt: str
    system_prompt: str | None
    schedule: str
    started_at: datetime
    runs: dict[str, ModelRun]
    blind: bool = False
    revealed: bool = True
    finished: bool = True
    stop_requested: bool = False
    error: str | None = None
    votes: list[PairVote] = field(default_factory=list)

    @property
    def blind_order(self) -> list[str]:
        return list(self.runs)

    @property
    def labels(self) -> dict[str, str]:
        return {model_id: run.model.name for model_id, run in self.runs.items()}

    def snapshot(self) -> list[ModelRun]:
        return list(self.runs.values())

    def results(self) -> dict[str, InferenceResult]:
        return {model_id: run.result for model_id, run in self.runs.items() if run.result}

    def cancel(self) -> None:
        """Nothing runs."""

    def wait(self, timeout_s: float | None = None) -> bool:
        return True


def last_comparison(store: RunStore, known_models: list[ModelInfo]) -> RestoredComparison | None:
    """The newest comparison stored as a conversation of one turn, with the answers of its
    stored runs; None when there is none (or none of its runs can be read)."""
    turn = store.last_single_turn()
    if turn is None:
        return None
    records = store.runs_by_id(turn.run_ids)
    if not records:
        return None
    by_id = {model.id: model for model in known_models}
    runs = {}
    for record in records:
        model = by_id.get(record.model["id"]) or _model_of(record)
        runs[model.id] = ModelRun(
            model,
            _config_of(record),
            status="done",
            completion_tokens=record.stats.get("completion_tokens"),
            result=_result_of(record),
            run_id=record.run_id,
        )
    return RestoredComparison(
        comparison_id=turn.comparison_id,
        prompt=turn.prompt,
        system_prompt=turn.system_prompt,
        schedule=turn.schedule,
        started_at=datetime.fromisoformat(turn.created_at).astimezone(),
        runs=runs,
        stop_requested=any(r.finish_reason == FinishReason.CANCELLED.value for r in records),
    )


def _model_of(record: RunRecord) -> ModelInfo:
    """The model as the run recorded it, for a model no longer found on this machine."""
    model = record.model
    return ModelInfo(
        id=model["id"],
        name=model.get("name") or model["id"],
        type=ModelType(model.get("type") or ModelType.GGUF.value),
        path=model.get("path") or "",
        size_bytes=model.get("size_bytes") or 0,
    )


def _config_of(record: RunRecord) -> ModelConfig:
    try:
        return ModelConfig.model_validate(record.config)
    except ValueError:  # a setting from another version: the defaults, to draw the answer anyway
        log.info("run %s: its settings no longer validate; showing it with the defaults", record.run_id)
        return ModelConfig()


_STAT_NAMES = {f.name for f in fields(InferenceStats)}


def _result_of(record: RunRecord) -> InferenceResult:
    return InferenceResult.from_dict(
        {
            "model_id": record.model["id"],
            "text": record.text,
            "finish_reason": record.finish_reason,
            "error": record.error,
            "stats": {k: v for k, v in record.stats.items() if k in _STAT_NAMES},
            "ignored_settings": record.ignored_settings,
            "backend_versions": record.backend_versions,
            "runtime": record.runtime,
            "device": record.device,
        }
    )
