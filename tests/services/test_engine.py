"""InferenceEngine with real worker processes: streaming, schedules, warm reuse, failures,
cancellation and the memory budget."""

import os
import shutil
import signal

import psutil
import pytest

from llm_compare.core.config import ModelConfig
from llm_compare.core.errors import ConfigurationError
from llm_compare.core.results import FinishReason
from llm_compare.services import memory
from llm_compare.services.engine import InferenceEngine

PROMPT = "import os\n"


@pytest.fixture
def engine():
    engine = InferenceEngine()
    yield engine
    engine.shutdown()


def collect(events):
    """Run to the end; return (events, results by model id)."""
    events = list(events)
    return events, {e.model_id: e.result for e in events if e.kind == "done"}


def long_run_config(**changes) -> ModelConfig:
    return ModelConfig(**{"temperature": 0.0, "mode": "raw", "max_tokens": 3000, "n_ctx": 4096, **changes})


@pytest.mark.parametrize("schedule", ["sequential", "parallel"])
def test_one_prompt_streams_from_every_model(engine, tiny_models, greedy, schedule):
    models = [tiny_models["hf"], tiny_models["gguf_f32"]]
    events, results = collect(engine.run(PROMPT, models, {m.id: greedy for m in models}, schedule=schedule))
    for model in models:
        kinds = [e.kind for e in events if e.model_id == model.id]
        assert kinds[:3] == ["queued", "loading", "generating"] and kinds[-1] == "done"
        streamed = "".join(e.text for e in events if e.model_id == model.id and e.kind == "text")
        result = results[model.id]
        assert result.error is None and result.finish_reason == FinishReason.LENGTH
        assert streamed == result.text
        assert result.stats.completion_tokens == greedy.max_tokens
        assert max(e.completion_tokens for e in events if e.model_id == model.id) == greedy.max_tokens
        assert 0 < result.stats.ttft_s <= result.stats.e2e_s
        assert result.stats.load_s > 0 and not result.stats.warm
        assert result.backend_versions
    assert results[models[0].id].text == results[models[1].id].text  # same weights, greedy


def test_sequential_schedule_runs_one_model_at_a_time(engine, tiny_models, greedy):
    models = [tiny_models["gguf_f32"], tiny_models["gguf_q8"]]
    events, _ = collect(engine.run(PROMPT, models, {m.id: greedy for m in models}))
    first_done = next(i for i, e in enumerate(events) if e.kind == "done")
    second_loading = next(i for i, e in enumerate(events) if e.kind == "loading" and e.model_id == models[1].id)
    assert first_done < second_loading


def test_a_warm_rerun_reports_no_load_time(engine, tiny_models, greedy):
    model = tiny_models["gguf_f32"]
    _, cold = collect(engine.run(PROMPT, [model], {model.id: greedy}))
    _, warm = collect(engine.run(PROMPT, [model], {model.id: greedy.updated(temperature=0.5, seed=3)}))
    assert cold[model.id].stats.load_s > 0 and not cold[model.id].stats.warm
    assert warm[model.id].stats.load_s == 0 and warm[model.id].stats.warm
    assert [m["model_id"] for m in engine.loaded_models()] == [model.id]


def test_changing_a_load_setting_reloads_the_model(engine, tiny_models, greedy):
    model = tiny_models["gguf_f32"]
    collect(engine.run(PROMPT, [model], {model.id: greedy}))
    _, results = collect(engine.run(PROMPT, [model], {model.id: greedy.updated(n_ctx=256)}))
    assert not results[model.id].stats.warm and results[model.id].stats.load_s > 0


def test_killed_worker_fails_only_its_model(engine, long_models):
    victim, survivor = long_models["hf"], long_models["gguf_f32"]
    config = long_run_config()
    events = engine.run(PROMPT, [victim, survivor], {victim.id: config, survivor.id: config}, schedule="parallel")
    results = {}
    for event in events:
        if event.kind == "text" and event.model_id == victim.id and "killed" not in results:
            os.kill(engine._workers[victim.id].process.pid, signal.SIGKILL)
            results["killed"] = True
        if event.kind == "done":
            results[event.model_id] = event.result
    assert results[victim.id].finish_reason == FinishReason.ERROR
    assert "killed by SIGKILL" in results[victim.id].error
    assert results[survivor.id].error is None and results[survivor.id].stats.completion_tokens > 0
    # The next run starts a fresh worker for the killed model.
    _, again = collect(engine.run(PROMPT, [victim], {victim.id: config.updated(max_tokens=5)}))
    assert again[victim.id].error is None and not again[victim.id].stats.warm


def test_cancel_keeps_partial_text(engine, long_models):
    running, queued = long_models["hf"], long_models["gguf_f32"]
    config = long_run_config()
    results = {}
    for event in engine.run(PROMPT, [running, queued], {m.id: config for m in (running, queued)}):
        if event.kind == "text" and event.completion_tokens >= 3 and not engine._cancel.is_set():
            engine.cancel()
        if event.kind == "done":
            results[event.model_id] = event.result
    partial = results[running.id]
    assert partial.finish_reason == FinishReason.CANCELLED
    assert 3 <= partial.stats.completion_tokens < config.max_tokens and partial.text
    assert partial.stats.ttft_s is not None  # figures that are defined are kept
    assert results[queued.id].finish_reason == FinishReason.CANCELLED and results[queued.id].text == ""
    assert [m["model_id"] for m in engine.loaded_models()] == [running.id], "a politely stopped worker stays warm"


def test_unresponsive_worker_is_killed_to_honour_cancel(engine, long_models):
    model = long_models["gguf_f32"]
    results = {}
    hung_pid = None
    for event in engine.run(PROMPT, [model], {model.id: long_run_config()}):
        if event.kind == "text" and hung_pid is None and event.completion_tokens >= 2:
            hung_pid = engine._workers[model.id].process.pid
            os.kill(hung_pid, signal.SIGSTOP)  # a hung worker
            engine.cancel()
        if event.kind == "done":
            results[model.id] = event.result
    assert results[model.id].finish_reason == FinishReason.CANCELLED
    assert results[model.id].stats.completion_tokens >= 2
    assert engine.loaded_models() == []
    assert not psutil.pid_exists(hung_pid), "the hung worker was killed, not left behind"


def test_closing_the_event_stream_cancels_the_run(engine, long_models):
    model = long_models["gguf_f32"]
    events = engine.run(PROMPT, [model], {model.id: long_run_config()})
    for event in events:
        if event.kind == "text":
            break
    events.close()
    assert not engine.busy
    # The engine is free again, the model still warm, and nothing of the closed run is left to
    # read: the next answer is its own 3 tokens.
    events, results = collect(engine.run(PROMPT, [model], {model.id: long_run_config(max_tokens=3)}))
    assert results[model.id].stats.warm
    assert results[model.id].finish_reason == FinishReason.LENGTH
    assert results[model.id].stats.completion_tokens == 3
    assert "".join(e.text for e in events if e.kind == "text") == results[model.id].text


def test_a_model_that_cannot_load_reports_why(engine, tmp_path, tiny_models, greedy):
    from llm_compare.services.model_manager import ModelManager

    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(tiny_models["hf"].path, name), broken / name)
    (broken / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")  # no tensors
    model = ModelManager([tmp_path]).inspect(broken)
    good = tiny_models["gguf_f32"]
    _, results = collect(engine.run(PROMPT, [model, good], {good.id: greedy}))
    assert results[model.id].finish_reason == FinishReason.ERROR and results[model.id].error
    assert "weights are missing from the checkpoint" in results[model.id].error
    assert "\n" not in results[model.id].error
    assert results[good.id].error is None


def test_a_model_too_big_for_the_budget_is_refused_before_loading(tiny_models, greedy):
    engine = InferenceEngine(memory_budget_bytes=50 * 2**20)
    model = tiny_models["hf"]
    _, results = collect(engine.run(PROMPT, [model], {model.id: greedy}))
    assert results[model.id].finish_reason == FinishReason.ERROR
    assert "needs about" in results[model.id].error and "memory budget is 50 MiB" in results[model.id].error
    assert engine.loaded_models() == []


def test_least_recently_used_model_is_unloaded_to_make_room(engine, tiny_models, greedy):
    first, second = tiny_models["gguf_f32"], tiny_models["gguf_q8"]
    collect(engine.run(PROMPT, [first], {first.id: greedy}))
    first_rss = engine.loaded_models()[0]["rss_bytes"]
    engine.memory_budget_bytes = first_rss + memory.estimate_model_bytes(second, greedy) - 1
    _, results = collect(engine.run(PROMPT, [second], {second.id: greedy}))
    assert results[second.id].error is None
    assert [m["model_id"] for m in engine.loaded_models()] == [second.id]


def test_bad_requests_are_refused_with_one_line(engine, tiny_models):
    model = tiny_models["gguf_f32"]
    for kwargs, words in [
        ({"prompt": " ", "models": [model]}, "prompt is empty"),
        ({"prompt": "x", "models": []}, "no model selected"),
        ({"prompt": "x", "models": [model] * 2}, "selected twice"),
        ({"prompt": "x", "models": [model], "schedule": "random"}, "unknown schedule"),
    ]:
        with pytest.raises(ConfigurationError, match=words) as refused:
            engine.run(**kwargs)
        assert "\n" not in str(refused.value)
    with pytest.raises(ConfigurationError, match="limit is 1"):
        InferenceEngine(max_models=1).run("x", [model, tiny_models["hf"]])
