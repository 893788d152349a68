"""Services the UI and CLI call: discovery, configuration, inference. Never import streamlit.

The names scripts were written against stay importable from here (`from llm_compare.services
import ModelManager`); each is imported on first use, so `import llm_compare.services` stays as
light as the package it opens."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from llm_compare.services.discovery.config_manager import ConfigManager
    from llm_compare.services.discovery.model_manager import ModelManager
    from llm_compare.services.engine.engine import InferenceEngine

# public name -> the module that defines it
_PUBLIC = {
    "ConfigManager": "llm_compare.services.discovery.config_manager",
    "ModelManager": "llm_compare.services.discovery.model_manager",
    "InferenceEngine": "llm_compare.services.engine.engine",
}
__all__ = ["ConfigManager", "InferenceEngine", "ModelManager"]


def __getattr__(name: str):
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
