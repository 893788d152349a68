"""Per-model settings: defaults from the model's own metadata, saved as one JSON file per model."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from llm_compare.core.config import GENERATION_FIELDS, ModelConfig
from llm_compare.core.errors import ConfigurationError
from llm_compare.core.models import ModelInfo, ModelType
from llm_compare.system.atomic_files import replace_text
from llm_compare.system.paths import data_home

log = logging.getLogger(__name__)

# Named starting points; each sets only the sampling fields.
PRESETS: dict[str, dict] = {
    "Precise": {"temperature": 0.0, "top_p": 1.0, "top_k": 0, "repeat_penalty": 1.0},
    "Balanced": {"temperature": 0.7, "top_p": 0.95, "top_k": 40, "repeat_penalty": 1.05},
    "Creative": {"temperature": 1.1, "top_p": 0.98, "top_k": 100, "repeat_penalty": 1.1},
}

DEFAULT_N_CTX = 2048
# No settings file we write comes near this (system_prompt is at most 20,000 characters).
MAX_SETTINGS_BYTES = 1 << 20


@dataclass
class LoadedConfig:
    """A model's settings, and what of its saved file could not be used. The file itself is
    never rewritten for that: only an explicit save replaces it."""

    config: ModelConfig
    dropped: dict[str, str] = field(default_factory=dict)  # saved setting -> why it was not used
    problem: str | None = None  # why the saved file as a whole was not used

    def warnings(self, model_name: str) -> list[str]:
        """One line per problem, for the Configure page and the CLI."""
        if self.problem:
            return [f"Saved settings of {model_name} not used: {self.problem}; using the model's defaults."]
        return [
            f"Saved setting {name} of {model_name} not used: {why}; using the default instead."
            for name, why in self.dropped.items()
        ]


@dataclass
class SavedSettings:
    """Several models' settings, by id, and one warning line per problem met reading them."""

    configs: dict[str, ModelConfig]
    warnings: list[str]


class ConfigManager:
    def __init__(self, home: str | Path | None = None):
        self.config_dir = Path(home).expanduser() if home else data_home()
        self.config_dir = self.config_dir / "configs"

    def defaults_for(self, model: ModelInfo) -> ModelConfig:
        """ModelConfig defaults, overridden by the model's generation_config / GGUF metadata."""
        meta = model.metadata
        values = dict(meta.generation_defaults or {})
        context_length = meta.context_length
        if model.type == ModelType.GGUF and context_length:  # n_ctx is a llama.cpp setting
            values.setdefault("n_ctx", min(DEFAULT_N_CTX, context_length))
        try:
            return ModelConfig.parse(values)
        except ConfigurationError as exc:
            log.warning("ignoring %s's own defaults: %s", model.name, exc)
            return ModelConfig()

    def get(self, model: ModelInfo) -> ModelConfig:
        """The saved settings for `model` (the valid ones), else its defaults."""
        return self.load(model).config

    def load(self, model: ModelInfo) -> LoadedConfig:
        """The saved settings for `model` over its defaults: every valid saved setting is kept,
        each invalid one is dropped with its reason, and an unusable file costs only this model's
        saved settings, with a one-line reason."""
        defaults = self.defaults_for(model)
        path = self._path(model.id)
        try:
            saved = _read_saved(path)
        except FileNotFoundError:
            return LoadedConfig(defaults)
        except _Unusable as exc:
            log.warning("saved settings for %s: %s", model.name, exc)
            return LoadedConfig(defaults, problem=f"{path} {exc}")
        config, dropped = ModelConfig.parse_keeping_valid({**defaults.model_dump(), **saved})
        for name, why in dropped.items():
            log.warning("saved setting %s of %s dropped: %s", name, model.name, why)
        return LoadedConfig(config, dropped)

    def load_many(self, models: Iterable[ModelInfo]) -> SavedSettings:
        """Each model's settings as `load` reads them, with their warnings: how every command and
        page reads the settings of the models it runs."""
        configs, warnings = {}, []
        for model in models:
            loaded = self.load(model)
            configs[model.id] = loaded.config
            warnings += loaded.warnings(model.name)
        return SavedSettings(configs, warnings)

    def saved_version(self, model: ModelInfo) -> tuple[int, int, int] | None:
        """What tells one state of the model's saved file from another (a save replaces the file,
        so its inode changes), None without one: lets a caller re-read only what changed."""
        try:
            status = self._path(model.id).stat()
        except OSError:
            return None
        return status.st_ino, status.st_mtime_ns, status.st_size

    def save(self, model: ModelInfo, config: ModelConfig) -> Path:
        path = self._path(model.id)
        document = {
            "model": {"id": model.id, "name": model.name, "path": model.path},
            "config": config.model_dump(),
        }
        replace_text(path, json.dumps(document, indent=2, ensure_ascii=False) + "\n")
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


class _Unusable(Exception):
    """A saved settings file that holds no settings object: the message says why, in one line."""


def _read_saved(path: Path) -> dict:
    """The "config" object of a saved settings file (FileNotFoundError when there is none)."""
    try:
        if path.stat().st_size > MAX_SETTINGS_BYTES:
            raise _Unusable(f"is larger than any settings file ({path.stat().st_size:,} bytes)")
        document = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, _Unusable):
        raise
    except IsADirectoryError:
        raise _Unusable("is a directory, not a settings file") from None
    except OSError as exc:
        raise _Unusable(f"cannot be read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise _Unusable("is not UTF-8 text") from None
    except RecursionError:
        raise _Unusable("is nested too deeply to be a settings file") from None
    except ValueError as exc:
        raise _Unusable(f"is not valid JSON ({exc})") from None
    saved = document.get("config") if isinstance(document, dict) else None
    if not isinstance(saved, dict):
        raise _Unusable('holds no "config" object')
    return saved
