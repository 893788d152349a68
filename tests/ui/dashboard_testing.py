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


def models_table(at: AppTest):
    """The Models page's table (its rows as the page lists them)."""
    return at.dataframe(key="models_table")


def ids_by_name(at: AppTest) -> dict[str, str]:
    """Model ids by name as shown in the Models page's table (the ids of its rows, as drawn)."""
    if not any(table.key == "models_table" for table in at.dataframe):
        return {}
    return dict(zip(models_table(at).value["name"], at.session_state["models_table_ids"], strict=True))


def ticked(at: AppTest) -> list[str]:
    """The names of the rows ticked in the Models page's table."""
    names = list(models_table(at).value["name"])
    return [names[row] for row in at.session_state["models_table"]["selection"]["rows"]]


def tick_rows(at: AppTest, names: list[str]) -> AppTest:
    """Tick exactly the rows of `names` in the Models page's table (as clicks on the rows'
    boxes would leave them), and run."""
    rows = [row for row, name in enumerate(models_table(at).value["name"]) if name in names]
    at.session_state["models_table"] = {"selection": {"rows": rows, "columns": [], "cells": []}}
    return at.run()


def select(at: AppTest, *names: str) -> AppTest:
    for name in names:
        tick_rows(at, [*ticked(at), name])
    return at


def sidebar_selection(at: AppTest) -> list[str]:
    """The model names the sidebar lists as selected."""
    return [rendered(m.value).split(" ")[0] for m in at.sidebar.markdown if m.value.startswith("**")]


def quick_config() -> ModelConfig:
    """Short deterministic answers: the comparison tests stay fast."""
    return ModelConfig(temperature=0.0, mode="raw", max_tokens=12, n_ctx=256)


def no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
