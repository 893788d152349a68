"""The Quality page: models scored from the form, against a reference, the table with its errors
and notes, and clear refusals."""

import time

import pytest
from dashboard_testing import RUN_TIMEOUT_S, no_exception, rendered, select

from llm_compare.services.discovery.model_manager import ModelManager
from llm_compare.services.quality.scores import latest_scores
from llm_compare.services.store.run_store import RunStore
from llm_compare.ui import quality_view


def open_quality_page(make_app, tiny_dir, *selected: str):
    """The Quality page, after selecting `selected` in the Models page's table."""
    at = select(make_app(tiny_dir), *selected)
    at.switch_page("pages/quality.py").run()
    no_exception(at)
    return at


@pytest.mark.slow
def test_scoring_from_the_form_against_a_reference(make_app, tiny_dir, long_context_dir):
    ids = {m.name: m.id for m in ModelManager([tiny_dir]).scan()}
    at = open_quality_page(make_app, tiny_dir, "tiny-llama-f32", "tiny-llama-q8_0")
    assert not at.multiselect  # the models scored are the selection; only the reference is picked here
    assert "tiny-llama-f32, tiny-llama-q8_0" in [rendered(m.value) for m in at.markdown]
    at.selectbox(key="q_reference").set_value(ids["tiny-llama"]).run()
    at.radio(key="q_text").set_value("builtin:code").run()
    at.number_input(key="q_ctx").set_value(128).run()
    at.button(key="q_score").click().run()
    no_exception(at)
    assert not at.error, [e.value for e in at.error]
    deadline = time.monotonic() + 3 * RUN_TIMEOUT_S
    while not quality_view.current().finished:
        assert time.monotonic() < deadline, "the scoring did not finish"
        time.sleep(0.5)
    at.run()
    no_exception(at)

    # Each model's own figures, then its figures against the reference: two tables that fit.
    table, against = at.dataframe[0].value, at.dataframe[1].value
    assert list(table["model"]) == ["tiny-llama", "tiny-llama-f32", "tiny-llama-q8_0"]  # the reference first
    assert list(against["model"]) == list(table["model"])
    # Each figure's heading says which way is better; no cell says None, an empty one shows "–".
    assert list(table.columns)[2:4] == ["bits/byte ↓", "ppl ↓"]
    assert list(against.columns)[1:4] == ["KL mean ↓", "KL p99 ↓", "top-1 agree ↑"]
    assert "ppl ratio →1" in against.columns
    for frame in (table, against):
        assert not frame.isna().any().any() and "None" not in frame.astype(str).to_numpy()
    rows, vs_reference = table.set_index("model"), against.set_index("model")
    assert (
        rows.loc["tiny-llama", "note"] == "the reference"
        and vs_reference.loc["tiny-llama", "KL mean ↓"] == "–"
    )
    for name in ("tiny-llama-f32", "tiny-llama-q8_0"):
        assert " ± " in rows.loc[name, "bits/byte ↓"] and " ± " in vs_reference.loc[name, "KL mean ↓"]
        assert vs_reference.loc[name, "top-1 agree ↑"].endswith("%")
        assert "e-" not in vs_reference.loc[name, "KL mean ↓"]  # one power of ten, not two exponents
        assert rows.loc[name, "note"] == "–"
    notes = [rendered(c.value) for c in at.caption]
    assert "ppl only comparable within one tokenizer; bits per byte across any" in notes
    assert any(n.startswith("↓ lower is better") for n in notes)
    assert any(n.startswith("text builtin:code: ") and "chunks of 128 tokens" in n for n in notes)
    stored = latest_scores(RunStore(), "builtin:code")
    assert set(stored) == {ids["tiny-llama"], ids["tiny-llama-f32"], ids["tiny-llama-q8_0"]}
    assert stored[ids["tiny-llama-q8_0"]].kl_mean > stored[ids["tiny-llama-f32"]].kl_mean >= 0


def test_scoring_without_a_model_says_what_to_do(make_app, tiny_dir):
    at = open_quality_page(make_app, tiny_dir)
    assert any("tick them in the Models page's table" in c.value for c in at.caption)
    at.button(key="q_score").click().run()
    no_exception(at)
    assert [rendered(e.value) for e in at.error] == ["no model selected: choose at least one model to score"]


def test_an_upload_choice_without_a_file_says_what_to_do(make_app, tiny_dir):
    at = open_quality_page(make_app, tiny_dir, "tiny-llama-f32")
    at.radio(key="q_text").set_value("upload").run()
    at.button(key="q_score").click().run()
    no_exception(at)
    assert [rendered(e.value) for e in at.error] == [
        "no text file uploaded: choose a file, or a built-in text"
    ]
