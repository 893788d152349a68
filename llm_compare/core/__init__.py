"""Plain data shared by every layer: models, configuration, results, errors. No I/O."""

from llm_compare.core.config import ModelConfig
from llm_compare.core.errors import (
    ConfigurationError,
    InferenceError,
    LLMCompareError,
    ModelLoadError,
    ModelNotFoundError,
    OutOfMemoryBudgetError,
)
from llm_compare.core.models import ModelInfo, ModelMetadata, ModelType
from llm_compare.core.results import FinishReason, InferenceEvent, InferenceResult, InferenceStats

__all__ = [
    "ConfigurationError",
    "FinishReason",
    "InferenceError",
    "InferenceEvent",
    "InferenceResult",
    "InferenceStats",
    "LLMCompareError",
    "ModelConfig",
    "ModelInfo",
    "ModelMetadata",
    "ModelLoadError",
    "ModelNotFoundError",
    "ModelType",
    "OutOfMemoryBudgetError",
]
