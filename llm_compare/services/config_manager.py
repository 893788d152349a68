"""Per-model settings: defaults from the model's own metadata, saved as one JSON file per model."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from llm_compare.core.config import GENERATION_FIELDS, ModelConfig
from llm_compare.core.errors import ConfigurationError
from llm_compare.core.models import ModelInfo, ModelType
from llm_compare.paths import data_home

log = logging.getLogger(__name__)

# Named starting points; each sets only the sampling fields.
PRESETS: dict[str, dict] = {
    "Precise": {"temperature": 0.0, "top_p": 1.0, "top_k": 0, "repeat_penalty": 1.0},
    "Balanced": {"temperature": 0.7, "top_p": 0.95, "top_k": 40, "repeat_penalty": 1.05},
    "Creative": {"temperature": 1.1, "top_p": 0.98, "top_k": 100, "repeat_penalty": 1.1},
}

DEFAULT_N_CTX = 2048


class ConfigManager:
    def __init__(self, home: str | Path | None = None):
        self.config_dir = Path(home).expanduser() if home else data_home()
        self.config_dir = self.config_dir / "configs"

    def defaults_for(self, model: ModelInfo) -> ModelConfig:
        """ModelConfig defaults, overridden by the model's generation_config / GGUF metadata."""
        meta = model.metadata
        values = dict(meta.get("generation_defaults") or {})
        context_length = meta.get("context_length")
        if model.type == ModelType.GGUF and context_length:  # n_ctx is a llama.cpp setting
            values.setdefault("n_ctx", min(DEFAULT_N_CTX, context_length))
        try:
            return ModelConfig.parse(values)
        except ConfigurationError as exc:
            log.warning("ignoring %s's own defaults: %s", model.name, exc)
            return ModelConfig()

    def get(self, model: ModelInfo) -> ModelConfig:
        """The saved settings for `model`, else its defaults."""
        path = self._path(model.id)
        if not path.exists():
            return self.defaults_for(model)
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))["config"]
            return ModelConfig.parse({**self.defaults_for(model).model_dump(), **saved})
        except (ValueError, KeyError, TypeError, ConfigurationError) as exc:
            log.warning("saved settings for %s are unreadable (%s); using defaults", model.name, exc)
            return self.defaults_for(model)

    def save(self, model: ModelInfo, config: ModelConfig) -> Path:
        path = self._path(model.id)
        path.parent.mkdir(parents=True, exist_ok=True)
        document = {"model": {"id": model.id, "name": model.name, "path": model.path}, "config": config.model_dump()}
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(tmp, path)  # atomic: a crash never leaves half a file
        return path

    def reset(self, model: ModelInfo) -> ModelConfig:
        self._path(model.id).unlink(missing_ok=True)
        return self.defaults_for(model)

    def has_saved(self, model: ModelInfo) -> bool:
        return self._path(model.id).exists()

    def copy_to_all(self, config: ModelConfig, models: list[ModelInfo]) -> dict[str, ModelConfig]:
        """Save `config`'s generation settings for every model in `models`, each keeping its own
        load and security settings (trust_remote_code above all). Returns what was saved, by id."""
        generation = {name: getattr(config, name) for name in GENERATION_FIELDS}
        saved = {}
        for model in models:
            saved[model.id] = self.get(model).updated(**generation)
            self.save(model, saved[model.id])
        return saved

    @staticmethod
    def apply_preset(config: ModelConfig, preset: str) -> ModelConfig:
        if preset not in PRESETS:
            raise ConfigurationError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
        return config.updated(**PRESETS[preset])

    def _path(self, model_id: str) -> Path:
        return self.config_dir / f"{model_id}.json"
