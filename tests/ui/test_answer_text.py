"""A model's answer is shown as written: code between ``` fences in monospace (st.code), the rest
as plain text, never Markdown; a prompt keeps its indentation in the run's caption."""

from dashboard_testing import rendered
from streamlit.testing.v1 import AppTest

from llm_compare.ui.text import NBSP, Block, blocks, preformatted

ANSWER = "Here is *one* way:\n\n```python\ndef f(x):\n    return x * 2\n```\n\nCosts $5, not **more**."


def test_fenced_code_is_split_from_the_plain_text_around_it():
    assert blocks(ANSWER) == [
        Block("Here is *one* way:"),
        Block("def f(x):\n    return x * 2", is_code=True, language="python"),
        Block("Costs $5, not **more**."),
    ]


def test_a_fence_still_open_while_streaming_runs_to_the_end():
    assert blocks("Sure:\n```\nfor i in") == [Block("Sure:"), Block("for i in", is_code=True)]


def test_an_answer_without_fences_is_one_plain_block():
    assert blocks("no `code` here\n  indented") == [Block("no `code` here\n  indented")]


def _draw(answer: str) -> None:
    import streamlit as st

    from llm_compare.ui.compare_view import _draw_answer

    _draw_answer(st.empty(), answer)


def test_the_answer_is_drawn_as_code_blocks_and_plain_text():
    at = AppTest.from_function(_draw, args=(ANSWER,)).run()
    assert not at.exception
    assert [(c.value, c.language) for c in at.code] == [("def f(x):\n    return x * 2", "python")]
    assert [t.value for t in at.text] == ["Here is *one* way:", "Costs $5, not **more**."]
    assert not at.markdown  # nothing of the answer goes through Markdown


def test_preformatted_keeps_indentation_and_runs_of_spaces():
    prompt = "def f():\n    return  1\n\tpass"
    shown = rendered("“" + preformatted(prompt) + "”").replace(NBSP, " ")
    assert shown == "“def f():\n    return  1\n    pass”"
