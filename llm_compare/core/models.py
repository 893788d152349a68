"""What a discovered model is: its identity, kind and header metadata."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any


class ModelType(str, Enum):
    PYTORCH = "pytorch"
    GGUF = "gguf"
    OPENAI = "openai"  # a model behind an OpenAI-compatible HTTP endpoint


def model_id_for(path: str | Path, name: str) -> str:
    """A stable, readable id: the name's slug plus a hash of the resolved path."""
    resolved = os.path.realpath(
        Path(path).expanduser()
    )  # unlike Path.resolve, never raises on a symlink loop
    digest = hashlib.sha1(resolved.encode()).hexdigest()[:8]
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "model"
    return f"{slug}-{digest}"


def endpoint_model_id(base_url: str, model: str) -> str:
    """The id of a model served at `base_url`: stable across renames of the saved endpoint, and
    safe as a file name (its settings are saved under it)."""
    digest = hashlib.sha1(f"{base_url.rstrip('/')}#{model}".encode()).hexdigest()[:8]
    slug = re.sub(r"[^a-z0-9]+", "-", model.lower()).strip("-")[:40] or "model"
    return f"{slug}-{digest}"


@dataclass
class ModelInfo:
    """A model found on disk. `error` holds a one-line reason when it cannot be used."""

    id: str
    name: str
    type: ModelType
    path: str
    size_bytes: int
    metadata: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def model_type(self) -> ModelType:
        return self.type

    @property
    def is_endpoint(self) -> bool:
        """Served over HTTP: no file of ours, no process of ours holds its weights."""
        return self.type == ModelType.OPENAI

    @property
    def usable(self) -> bool:
        return self.error is None

    @property
    def unusable_reason(self) -> str | None:
        """One line naming the file or folder and why it cannot be used; None when usable."""
        if not self.error:
            return None
        where = self.name if self.is_endpoint else Path(self.path).name
        return f"{where} cannot be used: {self.error}"

    @property
    def has_chat_template(self) -> bool:
        return bool(self.metadata.get("has_chat_template"))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["type"] = self.type.value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelInfo:
        return cls(**{**data, "type": ModelType(data["type"])})
