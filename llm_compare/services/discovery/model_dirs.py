"""Which directories hold the user's models, decided in one place for the dashboard and the CLI."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from llm_compare.system.settings_file import load_settings, save_settings

ENV_MODELS_DIR = "LLM_COMPARE_MODELS_DIR"
DEFAULT_MODELS_DIR = "models"
# The --models-dir help of every command that finds models (cli.md is generated from it).
MODELS_DIR_HELP = (
    "where to find models; repeat for more. Given, they replace the usual ones: "
    f"${ENV_MODELS_DIR} (a path list, like PATH), else the folders saved on the dashboard's "
    f"Models page, else ./{DEFAULT_MODELS_DIR}"
)


def model_dirs(given: Sequence[str] | None = None) -> list[str]:
    """The directories to search: `given` (a command's --models-dir: a script sees only what it
    names), else $LLM_COMPARE_MODELS_DIR (how `llm-compare ui --models-dir` passes its choice), else
    the folders saved on the Models page, else ./models."""
    if given:
        return list(given)
    value = os.environ.get(ENV_MODELS_DIR)
    if value:
        return [d for d in value.split(os.pathsep) if d]
    return saved_model_dirs() or [DEFAULT_MODELS_DIR]


def saved_model_dirs() -> list[str]:
    """The folders saved on the Models page (none when the settings file holds none)."""
    dirs = load_settings().get("model_dirs")
    return [d for d in dirs if isinstance(d, str) and d] if isinstance(dirs, list) else []


def save_model_dirs(dirs: Sequence[str]) -> None:
    """Saved as absolute paths: the dashboard runs from its own folder and a command from anywhere,
    so a relative folder would mean a different place to each."""
    save_settings({**load_settings(), "model_dirs": [str(Path(d).expanduser().resolve()) for d in dirs]})
