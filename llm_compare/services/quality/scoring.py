"""Scoring several models on one text: each in its own worker, the reference first, one at a time
(fair timings), with progress and Stop. The per-token values come back from the workers; the
figures are computed here (stats.py)."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from llm_compare.core.config import ModelConfig
from llm_compare.core.errors import ConfigurationError
from llm_compare.core.models import ModelInfo
from llm_compare.core.scores import ScoreResult
from llm_compare.inferencers.base import backend_class
from llm_compare.services.background import BackgroundJob
from llm_compare.services.engine.engine import InferenceEngine
from llm_compare.services.engine.messages import Evaluated, EvaluateFailed, Loading, Progress
from llm_compare.services.quality import stats
from llm_compare.services.quality.texts import ScoringText
from llm_compare.system.paths import data_home

DEFAULT_CTX = 512


@dataclass(frozen=True)
class ScoreEvent:
    """kind: loading | scoring (done and total chunks so far) | done (with the result)."""

    model_id: str
    kind: str
    done_chunks: int = 0
    total_chunks: int = 0
    result: ScoreResult | None = None


def unscorable_reason(model: ModelInfo) -> str | None:
    """Why `model` cannot be scored (its backend gives no full-vocabulary logits, or it cannot be
    used at all); None when it can."""
    if model.error:
        return model.unusable_reason
    reason = backend_class(model.type).full_logits_unavailable
    return f"not scored: {reason}" if reason else None


def model_context(model: ModelInfo) -> int | None:
    return model.metadata.context_length


def scoring_context(models: Sequence[ModelInfo], requested: int | None) -> int:
    """The context (chunk length) in tokens: `requested`, or 512, or the smallest context among
    the models if lower. Refused when a model cannot hold the requested one."""
    limits = [(limit, m) for m in models if (limit := model_context(m))]
    smallest = min(limits, key=lambda pair: pair[0], default=None)
    if requested is None:
        return min(DEFAULT_CTX, smallest[0]) if smallest else DEFAULT_CTX
    if requested < 16:
        raise ConfigurationError(
            f"a context of {requested} tokens is too short to score with: use at least 16"
        )
    if smallest and requested > smallest[0]:
        raise ConfigurationError(
            f"{smallest[1].name} holds {smallest[0]} tokens, fewer than the context of {requested} asked "
            f"for: use a context of at most {smallest[0]}"
        )
    return requested


class Scoring(BackgroundJob):
    """One scoring of `models` on `text`: iterate `events()` (the CLI), or `start()` it in the
    background (the dashboard); call `stop()` from anywhere."""

    def __init__(
        self,
        engine: InferenceEngine,
        models: Sequence[ModelInfo],
        text: ScoringText,
        reference: ModelInfo | None = None,
        n_ctx: int | None = None,
        configs: Mapping[str, ModelConfig] | None = None,
    ):
        if not models:
            raise ConfigurationError("no model selected: choose at least one model to score")
        if len({m.id for m in models}) != len(models):
            raise ConfigurationError("a model is selected twice: select each model once")
        if reference is not None and (reason := unscorable_reason(reference)):
            raise ConfigurationError(f"{reference.name} cannot be the reference: {reason}")
        # The reference goes first: the others are measured against what it leaves.
        others = [m for m in models if reference is None or m.id != reference.id]
        self.models = ([reference] if reference else []) + others
        scorable = [m for m in self.models if not unscorable_reason(m)]
        self.n_ctx = scoring_context(scorable, n_ctx)
        super().__init__("scoring", interrupt=engine.cancel)
        self.engine, self.text, self.reference = engine, text, reference
        self.configs = dict(configs or {})
        self.score_id = uuid.uuid4().hex[:12]
        self.results: list[ScoreResult] = []
        self.progress: dict[str, ScoreEvent] = {}  # model id -> its latest event
        self._on_done: Callable[[list[ScoreResult]], None] | None = None

    def start(self, on_done: Callable[[list[ScoreResult]], None] | None = None) -> Scoring:
        """Score in a background thread (the dashboard); `on_done(results)` runs at the end."""
        self._on_done = on_done
        return super().start()

    def stop(self) -> None:
        """Stop: the model being scored stops within a chunk, the others are not started."""
        self.cancel()

    def _work(self) -> None:
        for event in self.events():
            self.progress[event.model_id] = event
        if self._on_done is not None:
            self._on_done(self.results)

    def events(self) -> Iterator[ScoreEvent]:
        folder = tempfile.mkdtemp(prefix="reference-", dir=_scratch_dir())
        reference_nll: list[float] | None = None
        try:
            for model in self.models:
                request: dict[str, Any] = {"text": self.text.text, "n_ctx": self.n_ctx}
                is_reference = self.reference is not None and model.id == self.reference.id
                if is_reference:
                    request["save_reference"] = folder
                elif reference_nll is not None:
                    request["reference"] = folder
                result = yield from self._score(model, request, reference_nll)
                if is_reference:
                    reference_nll = self._nll
                    result.note = (
                        "the reference"
                        if result.status == "scored"
                        else "the reference: no divergence measured without it"
                    )
                self.results.append(result)
                yield ScoreEvent(model.id, "done", result=result)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def _score(
        self, model: ModelInfo, request: dict[str, Any], reference_nll: list[float] | None
    ) -> Iterator[ScoreEvent]:
        """Score one model (a generator returning its result)."""
        self._nll = None
        result = ScoreResult(
            model.id,
            model.name,
            model.type.value,
            self.text.name,
            "cancelled",
            n_ctx=self.n_ctx,
            score_id=self.score_id,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        if reason := unscorable_reason(model):
            result.status, result.note = "not scored", reason
            return result
        if self.stop_requested:
            return result
        config = self.configs.get(model.id) or ModelConfig()
        if config.n_ctx < self.n_ctx:  # a GGUF context must hold a whole chunk
            config = config.model_copy(update={"n_ctx": self.n_ctx})
        for message in self.engine.evaluate(model, config, request):
            if isinstance(message, Loading):
                yield ScoreEvent(model.id, "loading")
            elif isinstance(message, Progress):
                yield ScoreEvent(model.id, "scoring", message.done, message.total)
            elif isinstance(message, EvaluateFailed):
                result.status, result.error = "failed", message.reason
            elif isinstance(message, Evaluated):
                self._nll = message.figures["nll"]
                _fill(result, message.figures, reference_nll if "reference" in request else None)
                if "reference" in request:
                    result.reference_id = self.reference.id
        return result


def _fill(result: ScoreResult, figures: dict[str, Any], reference_nll: list[float] | None) -> None:
    """The figures of one scored model, from its worker's per-token values."""
    nll = figures["nll"]
    result.status = "scored"
    result.chunks, result.tokens_scored, result.scored_bytes = (
        figures["chunks"],
        len(nll),
        figures["scored_bytes"],
    )
    result.seconds = figures["seconds"]
    result.scored_tps = len(nll) / figures["seconds"] if figures["seconds"] > 0 else None
    result.vocab_fingerprint = figures["vocab_fingerprint"]
    _set(result, "bits_per_byte", stats.bits_per_byte(nll, figures["scored_bytes"]))
    _set(result, "ppl", stats.perplexity(nll))
    if reference_nll is None:
        return
    if "kl" not in figures:
        result.note = figures["divergence_note"]
        return
    _set(result, "kl_mean", stats.mean_estimate(figures["kl"]))
    _set(result, "kl_p99", stats.percentile_99(figures["kl"]))
    _set(result, "top1_agreement", stats.share(figures["top1"]))
    _set(result, "delta_p_mean", stats.mean_estimate(figures["delta_p"]))
    _set(result, "ppl_ratio", stats.ppl_ratio(nll, reference_nll))
    _set(result, "delta_ppl", stats.delta_ppl(nll, reference_nll))


def _set(result: ScoreResult, name: str, estimate: stats.Estimate) -> None:
    setattr(result, name, estimate.value)
    setattr(result, f"{name}_se", estimate.se)


def _scratch_dir() -> str:
    """Where a reference's log-probabilities wait for the other models (removed after scoring):
    the data directory, not /tmp, which is often a small RAM disk."""
    folder = data_home() / "scoring"
    folder.mkdir(parents=True, exist_ok=True)
    return str(folder)
