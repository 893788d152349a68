"""Serving a local model from the dashboard's process: a real `llm-compare serve` per test, saved as
an endpoint, compared with the same model in-process, and charged to the engine's memory budget."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
import textwrap

import psutil
import pytest

from llm_compare.core.endpoints import Endpoint
from llm_compare.core.errors import ConfigurationError, OutOfMemoryBudgetError
from llm_compare.core.results import FinishReason
from llm_compare.services.discovery.model_manager import ModelManager
from llm_compare.services.endpoints.registry import EndpointRegistry
from llm_compare.services.engine import memory
from llm_compare.services.engine.engine import InferenceEngine
from llm_compare.services.served_models.served import ServedModels, endpoint_name

PROMPT = "def add(a, b):"
MiB = 1024**2


@pytest.fixture
def engine():
    running = InferenceEngine()
    yield running
    running.shutdown()


@pytest.fixture
def served_models(engine):
    served = ServedModels(engine)
    yield served
    served.stop_all()


def results(engine, models, config):
    return {
        e.model_id: e.result
        for e in engine.run(PROMPT, models, {m.id: config for m in models})
        if e.kind == "done"
    }


def tree_rss_from_outside(pid: int) -> tuple[int, int]:
    """(RSS of `pid` alone, RSS of `pid` with all its descendants), read with psutil here."""
    server = psutil.Process(pid)
    own = server.memory_info().rss
    return own, own + sum(child.memory_info().rss for child in server.children(recursive=True))


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.mark.slow
def test_a_served_gguf_answers_as_the_in_process_one(engine, served_models, tiny_models, tiny_dir, greedy):
    local = tiny_models["gguf_f32"]
    served = served_models.serve(local, greedy, [str(tiny_dir)])
    assert served.endpoint_name == "served-tiny-llama-f32"
    assert "loaded a second time" in served.process.notice
    assert [e.base_url for e in EndpointRegistry().load()] == [served.base_url]
    remote = next(m for m in ModelManager([tiny_dir]).scan() if m.is_endpoint)
    assert remote.name == f"served-tiny-llama-f32#{local.id}" and remote.usable
    done = results(engine, [local, remote], greedy)
    assert done[local.id].error is None and done[remote.id].error is None
    assert done[local.id].finish_reason == FinishReason.LENGTH
    assert done[remote.id].text == done[local.id].text and done[local.id].text


@pytest.mark.slow
def test_the_engine_charges_a_served_model_the_rss_of_its_server_and_worker(
    engine, served_models, tiny_models, tiny_dir, greedy
):
    local = tiny_models["gguf_f32"]
    served = served_models.serve(local, greedy, [str(tiny_dir)])
    remote = next(m for m in ModelManager([tiny_dir]).scan() if m.is_endpoint)
    assert results(engine, [remote], greedy)[remote.id].error is None  # the server has loaded the model now
    charges = [c for c in engine.memory_in_use() if c.external]
    own, outside = tree_rss_from_outside(served.pid)
    assert [(c.label, c.pid) for c in charges] == [("served-tiny-llama-f32", served.pid)]
    charge = charges[0]
    assert outside > own  # the model's worker is a child of the server: counted with it
    assert abs(charge.rss_bytes - outside) <= 0.03 * outside, (charge.rss_bytes, outside)
    assert charge.counted_bytes == max(charge.rss_bytes, served.reserved_bytes)
    assert served.reserved_bytes == memory.estimate_model_bytes(local, greedy)


@pytest.mark.slow
def test_a_budget_that_the_served_model_fills_unloads_idle_models_then_refuses(
    engine, served_models, tiny_models, tiny_dir, greedy
):
    first, second = tiny_models["gguf_q8"], tiny_models["gguf_f32"]
    served_models.serve(tiny_models["gguf_f32"], greedy, [str(tiny_dir)])
    assert results(engine, [first], greedy)[first.id].error is None  # warm in-process
    need = memory.estimate_model_bytes(second, greedy)
    by_label = {c.label: c for c in engine.memory_in_use()}
    served_bytes, first_bytes = (
        by_label["served-tiny-llama-f32"].counted_bytes,
        by_label[first.name].counted_bytes,
    )

    # Room for the served copy and the next model, not for the warm one too: it is unloaded.
    engine.memory_budget_bytes = served_bytes + need + first_bytes // 2
    assert results(engine, [second], greedy)[second.id].error is None
    assert [m["model_id"] for m in engine.loaded_models()] == [second.id]

    # Just below what the served copy and the next model take: nothing of the engine's is left to
    # unload, and the served process is never touched, so the model is refused, saying why.
    engine.shutdown()
    engine.memory_budget_bytes = served_bytes + need - 16 * MiB
    refused = results(engine, [first], greedy)[first.id]
    assert refused.finish_reason == FinishReason.ERROR
    assert "is free (served-tiny-llama-f32 (pid" in refused.error and "stop serving a model" in refused.error
    assert engine.loaded_models() == []
    assert all(s.process.alive for s in served_models.list())


def test_serving_a_model_that_does_not_fit_is_refused_before_any_server_starts(
    engine, served_models, tiny_models, tiny_dir, greedy
):
    model = tiny_models["gguf_f32"]
    engine.memory_budget_bytes = memory.estimate_model_bytes(model, greedy) - 1
    children = psutil.Process().children(recursive=True)
    with pytest.raises(
        OutOfMemoryBudgetError, match="^serving tiny-llama-f32 needs about .* but the memory budget is"
    ):
        served_models.serve(model, greedy, [str(tiny_dir)])
    assert psutil.Process().children(recursive=True) == children
    assert served_models.list() == [] and EndpointRegistry().load() == []


def test_stop_serving_ends_the_server_and_removes_its_endpoint(served_models, tiny_models, tiny_dir, greedy):
    served = served_models.serve(tiny_models["gguf_f32"], greedy, [str(tiny_dir)])
    assert psutil.Process(served.pid).is_running()
    served_models.stop(served.endpoint_name)
    assert gone(served.pid)
    assert (
        EndpointRegistry().load() == []
        and served_models.list() == []
        and served_models.external_processes() == []
    )


@pytest.mark.slow
def test_no_served_model_outlives_the_process_that_served_it(tiny_models, tiny_dir, private_home):
    script = textwrap.dedent(f"""
        import json
        from llm_compare.core.config import ModelConfig
        from llm_compare.services.discovery.model_manager import ModelManager
        from llm_compare.services.engine.engine import InferenceEngine
        from llm_compare.services.served_models.served import ServedModels

        model = ModelManager([{str(tiny_dir)!r}]).get({tiny_models["gguf_f32"].id!r})
        served = ServedModels(InferenceEngine()).serve(model, ModelConfig(), [{str(tiny_dir)!r}])
        print(json.dumps({{"pid": served.pid}}), flush=True)
    """)  # and exits without stopping it: atexit must
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    pid = json.loads(done.stdout.strip().splitlines()[-1])["pid"]
    assert gone(pid)
    assert EndpointRegistry(private_home).load() == []


@pytest.mark.slow
def test_two_models_with_the_same_name_are_served_side_by_side_under_distinct_names(
    engine, served_models, tiny_models, tmp_path, greedy
):
    folders = [tmp_path / "a", tmp_path / "b"]
    for folder in folders:
        folder.mkdir()
        shutil.copy(tiny_models["gguf_f32"].path, folder / "model.gguf")
    first, second = (ModelManager([folder]).scan()[0] for folder in folders)
    assert first.name == second.name == "model" and first.id != second.id
    # An endpoint this dashboard did not start holds the plain name: it is left alone.
    EndpointRegistry().add(Endpoint(name="served-model", base_url="http://127.0.0.1:9/v1"))

    served = [served_models.serve(model, greedy, [str(f) for f in folders]) for model in (first, second)]
    assert [s.endpoint_name for s in served] == ["served-model-2", "served-model-3"]
    remotes = [
        m for m in ModelManager(folders).scan() if m.is_endpoint and m.name.startswith("served-model-")
    ]
    assert sorted(m.name for m in remotes) == [f"served-model-2#{first.id}", f"served-model-3#{second.id}"]
    done = results(engine, [first, *remotes], greedy)
    assert all(r.error is None for r in done.values()), {k: r.error for k, r in done.items()}
    assert done[remotes[0].id].text == done[remotes[1].id].text == done[first.id].text  # copies of one file

    with pytest.raises(ConfigurationError) as refused:
        served_models.serve(first, greedy, [str(f) for f in folders])
    assert (
        str(refused.value)
        == f"model ({first.path}) is already served, as endpoint served-model-2: stop it there first"
    )
    assert len(served_models.list()) == 2


def test_a_served_name_stays_within_the_endpoint_name_limit(tiny_models):
    model = dataclasses.replace(tiny_models["gguf_f32"], name="x" * 80)
    first = endpoint_name(model)
    second = endpoint_name(model, taken={first})
    assert len(first) == len(second) == 64 and second.endswith("-2") and second != first
