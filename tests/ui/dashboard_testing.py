"""Helpers for driving the dashboard with Streamlit's AppTest."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path

from markdown_it import MarkdownIt
from streamlit.testing.v1 import AppTest

from llm_compare.core.config import ModelConfig
from llm_compare.ui.text import WORD_JOINER

APP = Path(__file__).resolve().parents[2] / "app.py"
RUN_TIMEOUT_S = 120  # a comparison loads models in worker processes (torch: ~3 s)


# CommonMark plus the GFM extensions Streamlit's renderer has: an independent reading of what
# a Markdown element's body shows on screen.
_MARKDOWN = MarkdownIt("commonmark").enable(["table", "strikethrough"])


def rendered(markdown: str) -> str:
    """The text a reader sees when `markdown` is rendered (line breaks kept, tags and invisible
    word joiners dropped)."""
    html = _MARKDOWN.render(markdown).replace("<br />\n", "\n")
    return unescape(re.sub(r"<[^>]+>", "", html)).replace(WORD_JOINER, "").strip()


def ids_by_name(at: AppTest) -> dict[str, str]:
    """Model ids by name as shown, from the Models page's selection checkboxes."""
    return {
        rendered(box.label): box.key.removeprefix("select:")
        for box in at.checkbox
        if box.key.startswith("select:")
    }


def select(at: AppTest, *names: str) -> AppTest:
    for name in names:
        at.checkbox(key=f"select:{ids_by_name(at)[name]}").check().run()
    return at


def quick_config() -> ModelConfig:
    """Short deterministic answers: the comparison tests stay fast."""
    return ModelConfig(temperature=0.0, mode="raw", max_tokens=12, n_ctx=256)


def no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
