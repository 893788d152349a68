"""Where llm-compare keeps its files."""

from __future__ import annotations

import os
from pathlib import Path


def data_home() -> Path:
    """The data directory: $LLM_COMPARE_HOME, else ~/.llm-compare."""
    return Path(os.environ.get("LLM_COMPARE_HOME") or "~/.llm-compare").expanduser()


def cache_home() -> Path:
    """Files built or fetched once per machine and shared by every checkout (llama.cpp's
    vocabulary files, the compiled token loop): $XDG_CACHE_HOME/llm-compare, else ~/.cache/llm-compare."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "llm-compare"
