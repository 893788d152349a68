"""What a discovered model is: its identity, kind and header metadata."""

from __future__ import annotations

import copy
import hashlib
import os
import re
from dataclasses import dataclass, field, fields
from enum import Enum
from pathlib import Path
from typing import Any

from llm_compare.core.endpoints import Endpoint


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


# The keys of a local model's metadata dict (ModelMetadata.to_dict), every one always present.
LOCAL_METADATA_KEYS = (
    "architecture",
    "parameters",
    "quantization",
    "context_length",
    "has_chat_template",
    "generation_defaults",
    "format",
    "files",
    "mtime",
    "declared_name",
    "file_type",
    "vocab_size",
    "block_count",
    "kv_width",
    "app",
    "aliases",
)
# The keys of an endpoint model's metadata dict, every one always present.
ENDPOINT_METADATA_KEYS = (
    "format",
    "architecture",
    "has_chat_template",
    "context_length",
    "generation_defaults",
    "files",
    "endpoint",
    "server_model",
    "server_kind",
    "healthy",
    "health_latency_ms",
)


@dataclass
class ModelMetadata:
    """What discovery read about a model (its headers, its folder, its server). A value is None
    when unknown; a field a kind of model never has stays None (a local model has no endpoint,
    an endpoint model no parameter count)."""

    # GGUF general.architecture, config.json's architectures[0] (or model_type), an endpoint's server kind
    architecture: str | None = None
    parameters: int | None = None  # counted from the tensor shapes; None when a count would mislead
    quantization: str | None = None  # the dominant tensor type ("Q4_K_M", "float32")
    context_length: int | None = None  # the longest context the model (or the server) declares
    has_chat_template: bool | None = None
    # ModelConfig field name -> value the model recommends (generation_config.json,
    # GGUF general.sampling.*), already validated
    generation_defaults: dict[str, Any] | None = None
    format: str | None = None  # "gguf", "safetensors", "pickle" or "openai" (an endpoint)
    files: list[str] | None = None  # file names of the model's files (its shards, its folder's weights)
    mtime: float | None = None  # the newest modification time of its files, seconds since the epoch
    declared_name: str | None = None  # GGUF general.name; names stay file names so they are unique
    file_type: str | None = None  # GGUF general.file_type, e.g. "Q4_K_M"
    vocab_size: int | None = None
    block_count: int | None = None  # transformer layers
    kv_width: int | None = None  # K (or V, the wider) values per token per layer: kv heads x head size
    app: str | None = None  # the other app whose folder holds it ("Ollama"), None in a model directory
    aliases: list[str] | None = None  # other names that find it: more Ollama tags of the same blob
    endpoint: Endpoint | None = None  # the saved (or typed) endpoint serving it
    server_model: str | None = None  # the model's name on the server ("" for an unreachable endpoint)
    server_kind: str | None = None  # which server answers (llama.cpp, vLLM, Ollama...), as identified
    healthy: bool | None = None  # the endpoint's last health check; None when not checked
    health_latency_ms: float | None = None  # how long that check (GET /v1/models) took
    # Keys of a stored metadata dict that this version does not know: kept, and written back as they were.
    unknown: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain data, as stored and printed: a local model's keys (every one, None when unknown),
        or an endpoint model's; a field of the other kind only when set; unknown keys as read."""
        keys = ENDPOINT_METADATA_KEYS if self.endpoint is not None else LOCAL_METADATA_KEYS
        names = [*keys, *(f.name for f in fields(self) if f.name not in keys and f.name != "unknown")]
        data = {}
        for name in names:
            value = getattr(self, name)
            if name in keys or value is not None:
                data[name] = value.model_dump() if isinstance(value, Endpoint) else copy.deepcopy(value)
        data.update((key, copy.deepcopy(value)) for key, value in self.unknown.items() if key not in data)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelMetadata:
        """Read a stored metadata dict back: missing keys are None, unknown ones kept in `unknown`."""
        known = {f.name for f in fields(cls)} - {"unknown"}
        values = {key: copy.deepcopy(value) for key, value in data.items() if key in known}
        if isinstance(values.get("endpoint"), dict):
            values["endpoint"] = Endpoint.parse(values["endpoint"])
        unknown = {key: copy.deepcopy(value) for key, value in data.items() if key not in known}
        return cls(**values, unknown=unknown)


@dataclass
class ModelInfo:
    """A model found on disk. `error` holds a one-line reason when it cannot be used."""

    id: str
    name: str
    type: ModelType
    path: str
    size_bytes: int
    metadata: ModelMetadata = field(default_factory=ModelMetadata)
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
        return bool(self.metadata.has_chat_template)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "type": self.type.value,
            "path": self.path,
            "size_bytes": self.size_bytes,
            "metadata": self.metadata.to_dict(),
            "error": self.error,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelInfo:
        return cls(
            **{
                **data,
                "type": ModelType(data["type"]),
                "metadata": ModelMetadata.from_dict(data.get("metadata") or {}),
            }
        )
