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


def test_a_restored_comparison_keeps_the_prompts_indentation_and_the_answers_code(
    make_app, empty_dir, private_home
):
    """The last comparison, restored in a new session: the run's caption shows the prompt with its
    indentation, and the answer's code is in monospace."""
    import dataclasses
    import uuid

    from llm_compare.services.store.conversations import ConversationTurn
    from llm_compare.services.store.run_store import RunStore
    from tests.support.bench_records import store_bench_run

    store = RunStore()
    stored = store_bench_run(store, "c1", "x", "p", 0, 10.0)
    record = dataclasses.replace(stored, run_id=uuid.uuid4().hex, text=ANSWER)
    store.save(record)
    prompt = "def f():\n    return  1"
    store.save_turn(
        ConversationTurn(
            "c1", 1, "2026-12-08T04:00:00+00:00", "c1", prompt, None, "sequential", ("x",), (record.run_id,)
        )
    )
    at = make_app(empty_dir)
    at.switch_page("pages/compare.py").run()
    assert not at.exception
    [caption] = [c.value for c in at.caption if c.value.startswith("Started")]
    assert "“def f():\n    return  1”" in rendered(caption).replace(NBSP, " ")
    assert [c.value for c in at.code] == ["def f(x):\n    return x * 2"]
    assert [t.value for t in at.text] == ["Here is *one* way:", "Costs $5, not **more**."]
