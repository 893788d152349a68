"""Where llm-compare keeps its files."""

from __future__ import annotations

import os
from pathlib import Path


def data_home() -> Path:
    """The data directory: $LLM_COMPARE_HOME, else ~/.llm-compare."""
    return Path(os.environ.get("LLM_COMPARE_HOME") or "~/.llm-compare").expanduser()
