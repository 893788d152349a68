"""The settings file in the data home (settings.json), shared by the dashboard and the CLI:
what the Models page saves (directories, selection, other apps switched off) applies to both."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from llm_compare.system.atomic_files import replace_text
from llm_compare.system.paths import data_home

log = logging.getLogger(__name__)


def settings_path() -> Path:
    return data_home() / "settings.json"


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
    replace_text(settings_path(), json.dumps(data, indent=2, ensure_ascii=False) + "\n")
