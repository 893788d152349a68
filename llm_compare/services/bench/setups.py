"""What a benchmark pins of each model when it starts: where it is, its full settings and its
files' fingerprint, so that a resume runs the same model the same way, or says why it cannot."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from llm_compare.core.config import ModelConfig
from llm_compare.core.errors import ConfigurationError
from llm_compare.core.models import ModelInfo
from llm_compare.services.discovery.fingerprint import model_fingerprint


def setup_key(model_id: str, overrides: Mapping[str, Any] | None = None) -> str:
    """What names one way of running a model in a benchmark: its id alone, or with the settings
    that make it a variant, as `MODEL_ID [flash_attn=on, n_ctx=4096]` (sorted, so one variant has
    one key)."""
    if not overrides:
        return model_id
    return f"{model_id} [{', '.join(f'{name}={value}' for name, value in sorted(overrides.items()))}]"


@dataclass(frozen=True)
class ModelSetup:
    model_id: str
    config: dict[str, Any]  # ModelConfig.model_dump(): the settings before the benchmark's overrides
    path: str | None = None  # a local model's file or folder (an endpoint's reference is in endpoint_refs)
    fingerprint: dict[str, list] | None = None  # fingerprint.model_fingerprint at the start
    overrides: dict[str, Any] = field(default_factory=dict)  # what makes it a variant (none yet)

    @property
    def key(self) -> str:
        return setup_key(self.model_id, self.overrides)

    def model_config(self) -> ModelConfig:
        """The pinned settings; a stored value this version no longer accepts is refused in one line."""
        try:
            return ModelConfig.parse(self.config)
        except ConfigurationError as exc:
            raise ConfigurationError(
                f"the settings {self.model_id} ran with are not valid any more ({exc}): start a new benchmark"
            ) from None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSetup:
        return cls(
            model_id=data["model_id"],
            config=dict(data.get("config") or {}),
            path=data.get("path"),
            fingerprint=data.get("fingerprint"),
            overrides=dict(data.get("overrides") or {}),
        )


def pin_setups(models: list[ModelInfo], configs: Mapping[str, ModelConfig]) -> dict[str, ModelSetup]:
    """Each model's setup as it is now, by key."""
    setups = [
        ModelSetup(
            model_id=m.id,
            config=configs[m.id].model_dump(),
            path=None if m.is_endpoint else m.path,
            fingerprint=model_fingerprint(m),
        )
        for m in models
    ]
    return {s.key: s for s in setups}
