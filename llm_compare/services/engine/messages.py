"""The messages between the engine and a model's worker process, pickled over the worker's connection.

Frozen, slotted dataclasses holding plain types only: a Text crosses the pipe at every text update,
and unpickling a library's object would import that library into the dashboard process."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# --- to the worker ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Init:
    """The first message: the model to load, with its settings (ModelInfo.to_dict, ModelConfig.model_dump)."""

    model: dict[str, Any]
    config: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Generate:
    """Answer `prompt` (a text, or a conversation in chat mode); the worker replies Text..., Done."""

    prompt: str | list[dict]
    system_prompt: str | None
    config: dict[str, Any]
    threads: int
    load_s: float
    warm: bool


@dataclass(frozen=True, slots=True)
class Evaluate:
    """Score a text (likelihood scoring, see inferencers/likelihood.py); the worker replies
    Progress..., then Evaluated, EvaluateCancelled or EvaluateFailed."""

    request: dict[str, Any]
    threads: int


@dataclass(frozen=True, slots=True)
class Stop:
    """Unload and exit."""


# --- from the worker --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Loaded:
    t_ready: float  # perf_counter when the model was ready: the parent's clock too
    versions: dict[str, str]
    ignored: dict[str, str]
    runtime: dict[str, str]


@dataclass(frozen=True, slots=True)
class LoadFailed:
    reason: str  # one line


@dataclass(frozen=True, slots=True)
class Text:
    text: str  # new since the last Text
    completion_tokens: int  # so far


@dataclass(frozen=True, slots=True)
class Done:
    result: dict[str, Any]  # InferenceResult.to_dict


@dataclass(frozen=True, slots=True)
class Progress:
    done: int  # chunks scored
    total: int


@dataclass(frozen=True, slots=True)
class Evaluated:
    figures: dict[str, Any]  # what score_text returns


@dataclass(frozen=True, slots=True)
class EvaluateCancelled:
    pass


@dataclass(frozen=True, slots=True)
class EvaluateFailed:
    reason: str  # one line


# --- from the engine to evaluate()'s caller, besides Progress and the three endings -------------


@dataclass(frozen=True, slots=True)
class Loading:
    """The model is loading before it can score."""


EvaluateEnd = Evaluated | EvaluateCancelled | EvaluateFailed
EvaluateEvent = Loading | Progress | Evaluated | EvaluateCancelled | EvaluateFailed
