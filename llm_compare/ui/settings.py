"""Dashboard settings kept in the data home: which directories to scan for models, and the
models last selected for comparison (so a reload or a restart keeps them)."""

from __future__ import annotations

import logging

# The directories are decided as the CLI decides them, and the file is shared with the CLI;
# these names stay importable from here.
from llm_compare.services.discovery.model_dirs import (  # noqa: F401
    DEFAULT_MODELS_DIR,
    ENV_MODELS_DIR,
    model_dirs,
    save_model_dirs,
)
from llm_compare.system.settings_file import load_settings, save_settings, settings_path  # noqa: F401

log = logging.getLogger(__name__)


def initial_model_dirs() -> list[str]:
    """$LLM_COMPARE_MODELS_DIR when set (it is how `llm-compare ui --models-dir` passes its
    choice), else the list saved from the Models page, else ./models: as the CLI decides."""
    return model_dirs()


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
