"""Dashboard settings kept in the data home: which directories to scan for models, and the
models last selected for comparison (so a reload or a restart keeps them)."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from llm_compare.paths import data_home

log = logging.getLogger(__name__)

ENV_MODELS_DIR = "LLM_COMPARE_MODELS_DIR"
DEFAULT_MODELS_DIR = "models"


def settings_path() -> Path:
    return data_home() / "settings.json"


def initial_model_dirs() -> list[str]:
    """$LLM_COMPARE_MODELS_DIR when set (it is how `llm-compare ui --models-dir` passes its
    choice), else the list saved from the Models page, else ./models."""
    value = os.environ.get(ENV_MODELS_DIR)
    if value:
        return [d for d in value.split(os.pathsep) if d]
    return load_settings().get("model_dirs") or [DEFAULT_MODELS_DIR]


def save_model_dirs(dirs: list[str]) -> None:
    save_settings({**load_settings(), "model_dirs": list(dirs)})


def load_selection() -> list[str]:
    ids = load_settings().get("selected_model_ids")
    return [i for i in ids if isinstance(i, str)] if isinstance(ids, list) else []


def save_selection(model_ids: list[str]) -> None:
    try:
        save_settings({**load_settings(), "selected_model_ids": list(model_ids)})
    except OSError as exc:  # the selection still holds for this session
        log.warning("could not remember the selection: %s", exc)


def parse_dir_lines(text: str) -> list[str]:
    """One directory per line; blank lines and repeats dropped, order kept."""
    seen: dict[str, None] = {}
    for line in text.splitlines():
        if line.strip():
            seen.setdefault(line.strip(), None)
    return list(seen)


def load_settings() -> dict:
    path = settings_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable settings file %s: %s", path, exc)
        return {}
    return data if isinstance(data, dict) else {}


def save_settings(data: dict) -> None:
    path = settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)  # atomic: a crash never leaves half a file
