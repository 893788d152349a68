"""Text from users, model files and errors is shown as typed: Markdown in it is never rendered.

Streamlit renders Markdown in nearly every element (captions, errors, labels, tabs, help), so
each assertion reads an element the way a browser would show it, through an independent
CommonMark renderer, and compares with the text as typed."""

import re
import shutil

import pytest
from dashboard_testing import (
    RUN_TIMEOUT_S,
    ids_by_name,
    no_exception,
    quick_config,
    rendered,
    select,
    tick_rows,
)

from llm_compare.services.discovery.config_manager import ConfigManager
from llm_compare.services.discovery.model_manager import ModelManager
from llm_compare.ui.text import code, literal

PROMPT = "def __init__(self, path):"
GOOD = "__init__"  # a model named like a dunder: Markdown would show "init" in bold
BROKEN = "**bold** _x_"
# A folder with a config and no weights: the reason quotes two glob patterns, *.safetensors and *.bin.
BROKEN_REASON = "no weights found: expected *.safetensors or *.bin beside config.json"


@pytest.mark.parametrize(
    "text",
    [
        PROMPT,
        BROKEN,
        BROKEN_REASON,
        "a_b_c * d",
        "`code` and ``more``",
        "[link](http://x) ![img](y)",
        "<b>bold</b> &amp; &lt;",
        "~~gone~~ a | b",
        "$x^2$ costs $5",
        "# not a heading",
        "> not a quote",
        "- not a list",
        "+ nor this",
        "1. nor this",
        "2) nor this",
        "===",
        "back\\slash \\*",
        "two\nlines",
        "ends with a backslash\\",
        "reason: text",
    ],
)
def test_literal_renders_as_the_text_itself(text):
    assert rendered(literal(text)) == text


@pytest.mark.parametrize("text", ["my:smile:model", ":+1:", ":material/home:", ":red[red]", "http://x"])
def test_streamlit_shortcodes_and_directives_are_broken_by_an_invisible_word_joiner(text):
    """Streamlit replaces :smile: and :material/home: after parsing, escapes or not (seen in
    Chromium): a word joiner after the colon keeps its pattern from matching."""
    shown = literal(text)
    assert re.search(r":[\w+/-]", shown) is None and rendered(shown) == text


@pytest.mark.parametrize("text", ["/models/a_b_/x*y*.gguf", "`tick` inside", "``two``", "ends`"])
def test_code_renders_as_the_text_itself(text):
    assert rendered(code(text)) == text


@pytest.fixture
def markdown_dir(tmp_path, tiny_dir):
    """A usable GGUF named `__init__` and an unusable folder named `**bold** _x_`."""
    root = tmp_path / "markdown-names"
    root.mkdir()
    (root / f"{GOOD}.gguf").symlink_to(tiny_dir / "tiny-llama-f32.gguf")
    hollow = root / BROKEN
    hollow.mkdir()
    shutil.copy(tiny_dir / "tiny-llama" / "config.json", hollow)
    return root


def test_model_names_and_errors_show_as_typed_on_the_models_page(make_app, markdown_dir):
    at = make_app(markdown_dir)
    no_exception(at)
    assert sorted(ids_by_name(at)) == sorted([GOOD, BROKEN])  # the table's names, as typed
    assert f"{BROKEN} cannot be used: {BROKEN_REASON}" in [rendered(w.value) for w in at.warning]
    tick_rows(at, [BROKEN])
    assert f"{BROKEN} was not selected: {BROKEN_REASON}" in [rendered(e.value) for e in at.error]


def test_prompt_and_model_name_show_as_typed_on_configure_and_compare(make_app, markdown_dir):
    for model in ModelManager([markdown_dir]).scan():
        ConfigManager().save(model, quick_config())
    at = select(make_app(markdown_dir), GOOD)
    assert [rendered(m.value).split(" :")[0] for m in at.sidebar.markdown] == [GOOD]

    at.switch_page("pages/configure.py").run()
    no_exception(at)
    assert [rendered(tab.label) for tab in at.tabs] == [GOOD]

    at.switch_page("pages/compare.py").run()
    at.text_area(key="prompt").input(PROMPT).run()
    at.button(key="run").click().run(timeout=RUN_TIMEOUT_S)
    no_exception(at)
    assert not at.error, [e.value for e in at.error]
    shown = [rendered(m.value) for m in at.markdown]
    assert f"Models: {GOOD}" in shown and GOOD in shown  # the list above the prompt; the column's title
    [started] = [rendered(c.value) for c in at.caption if c.value.startswith("Started")]
    assert started.endswith(f"“{PROMPT}”")
