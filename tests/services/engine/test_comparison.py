"""The comparison behind the Compare page: runs apart from the page script, so Stop (or the
browser going away) cancels it, and every model's partial answer is kept and saved."""

import time

import pytest

from llm_compare.core.config import ModelConfig
from llm_compare.core.results import FinishReason
from llm_compare.services.engine.comparison import Comparison
from llm_compare.services.engine.engine import InferenceEngine
from llm_compare.services.store.run_store import RunStore

LONG = ModelConfig(temperature=0.0, mode="raw", max_tokens=3000, n_ctx=4096)


@pytest.fixture(scope="module")
def engine():
    engine = InferenceEngine()
    yield engine
    engine.shutdown()


def start(engine, models, **kwargs):
    return Comparison(engine, "import os\n", models, {m.id: LONG for m in models}, **kwargs).start()


def wait_for_text(run, model_id, timeout_s=60.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        state = {r.model.id: r for r in run.snapshot()}[model_id]
        if state.completion_tokens >= 5:
            return state
        time.sleep(0.05)
    raise AssertionError("no text arrived")


def test_stop_keeps_every_partial_answer_and_saves_it_as_cancelled(engine, long_models):
    models = [long_models["gguf_f32"], long_models["hf"]]
    run = start(engine, models, schedule="parallel")
    wait_for_text(run, models[0].id)  # the PyTorch one may still be loading: it has no text yet
    run.cancel()
    assert run.wait(15)
    results = run.results()
    assert {r.finish_reason for r in results.values()} == {FinishReason.CANCELLED}
    assert results[models[0].id].text and 5 <= results[models[0].id].stats.completion_tokens < 3000
    saved = {r.model["id"]: r for r in RunStore().list()}
    assert set(saved) == {m.id for m in models}
    assert all(
        r.finish_reason == "cancelled" and r.comparison_id == run.comparison_id for r in saved.values()
    )
    assert {m: r.text for m, r in saved.items()} == {m: r.text for m, r in results.items()}
    assert run.stop_requested and run.error is None


def test_a_comparison_nobody_watches_any_more_is_stopped(engine, long_models, monkeypatch):
    monkeypatch.setattr("llm_compare.services.engine.comparison.ALIVE_CHECK_INTERVAL_S", 0.1)
    watching = [True]
    model = long_models["gguf_f32"]
    run = start(engine, [model], is_alive=lambda: watching[0])
    wait_for_text(run, model.id)
    watching[0] = False  # the browser tab was closed
    assert run.wait(15)
    assert run.results()[model.id].finish_reason == FinishReason.CANCELLED
    assert [r.finish_reason for r in RunStore().list()] == ["cancelled"]


def test_a_second_comparison_while_one_runs_is_one_clear_line(engine, long_models):
    model = long_models["gguf_f32"]
    first = start(engine, [model])
    wait_for_text(first, model.id)
    second = start(engine, [model])
    assert second.wait(5)
    assert second.error == "another comparison is still running: wait for it to finish or stop it"
    first.cancel()
    assert first.wait(15)
