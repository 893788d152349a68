"""What `llm-compare serve` was asked for: where it listens, the key, the limits, and the models."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from llm_compare.core.config import ModelConfig
from llm_compare.core.errors import ConfigurationError, ModelNotFoundError
from llm_compare.core.models import ModelInfo
from llm_compare.system.host_names import LOOPBACK_NAMES, host_name

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
# A prompt filling a 32k context is about 150 kB of text; 4 MiB leaves room and stops abuse.
DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
# Requests waiting for a model beyond the one it is answering; more get 429 with Retry-After.
DEFAULT_QUEUE_SIZE = 4


@dataclass(frozen=True)
class ServeSettings:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    api_key_env: str | None = None  # the NAME of the variable holding the key: the key is never stored
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    queue_size: int = DEFAULT_QUEUE_SIZE
    models_dirs: list[str] = field(default_factory=list)
    model_refs: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigurationError(f"--port {self.port} is not a port number: use 1 to 65535")
        if self.max_body_bytes < 1024:
            raise ConfigurationError(
                f"--max-body-bytes {self.max_body_bytes} is too small: use at least 1024"
            )
        if self.queue_size < 0:
            raise ConfigurationError(f"--queue-size {self.queue_size} is negative: use 0 or more")

    @property
    def exposed(self) -> bool:
        """Listening beyond this machine: on another interface than loopback."""
        return host_name(self.host) not in LOOPBACK_NAMES

    def api_key(self) -> str | None:
        """The key clients must send, read from the environment now; None when none is asked for."""
        if self.api_key_env is None:
            return None
        key = os.environ.get(self.api_key_env, "")
        if not key.strip():
            raise ConfigurationError(
                f"--api-key-env {self.api_key_env}: that environment variable is not set or empty; "
                f"export {self.api_key_env}=YOUR_KEY first"
            )
        return key.strip()


def served_models(settings: ServeSettings, default_dirs: list[str]) -> tuple[list[ModelInfo], list[str]]:
    """The usable models to serve (each --model, else every model under the directories) and a
    warning line for each model left out."""
    from llm_compare.services.discovery.model_manager import ModelManager

    manager = ModelManager(settings.models_dirs or default_dirs)
    if settings.model_refs:
        found = []
        for ref in settings.model_refs:
            try:
                found.append(manager.get(ref))
            except ModelNotFoundError as exc:
                raise ConfigurationError(str(exc)) from None
    else:
        found = manager.scan()
    unique = list({m.id: m for m in found}.values())
    warnings = [f"not served: {m.unusable_reason}" for m in unique if not m.usable]
    usable = [m for m in unique if m.usable]
    if not usable:
        where = ", ".join(settings.model_refs or settings.models_dirs or default_dirs)
        why = "; ".join(m.unusable_reason for m in unique) or "give --model PATH or --models-dir DIR"
        raise ConfigurationError(f"no usable model to serve in {where}: {why}")
    return usable, warnings


class ModelTable:
    """The served models by id (and by name when no two share it), with their saved settings."""

    def __init__(self, models: list[ModelInfo], config_home: str | None = None):
        from llm_compare.services.discovery.config_manager import ConfigManager

        self.models = {m.id: m for m in models}
        self.configs = ConfigManager(config_home)
        names: dict[str, list[ModelInfo]] = {}
        for model in models:
            names.setdefault(model.name, []).append(model)
        self.by_name = {name: found[0] for name, found in names.items() if len(found) == 1}
        self._saved: dict[str, tuple[tuple | None, ModelConfig]] = {}  # by model id: (file version, settings)

    def find(self, name: str) -> ModelInfo | None:
        return self.models.get(name) or self.by_name.get(name)

    def config_for(self, model: ModelInfo, overrides: dict) -> ModelConfig:
        """The model's saved settings, with what the request sets on top. Raises
        ConfigurationError for a value out of range."""
        return self._saved_config(model).updated(**overrides)

    def _saved_config(self, model: ModelInfo) -> ModelConfig:
        """Read again whenever the file changed (the dashboard may change it while we serve), and
        only then: reading and validating it on every request would add to every TTFT."""
        version = self.configs.saved_version(model)
        known = self._saved.get(model.id)
        if known is None or known[0] != version:
            known = self._saved[model.id] = (version, self.configs.load(model).config)
        return known[1]
