"""Endpoint models run through the engine (worker processes) beside local ones: a failing endpoint
costs only its own column, and an endpoint that keeps failing trips its circuit breaker."""

from __future__ import annotations

import pytest

from llm_compare.core.config import ModelConfig
from llm_compare.core.endpoints import Endpoint
from llm_compare.core.results import FinishReason
from llm_compare.services.endpoints.catalog import endpoint_model, list_endpoint
from llm_compare.services.endpoints.health import FAILURES_TO_OPEN, HealthBook
from llm_compare.services.engine.engine import InferenceEngine
from tests.support.endpoint_servers import OK_PIECES, misbehaving_server

pytestmark = pytest.mark.slow

CONFIG = ModelConfig(temperature=0.0, mode="raw", max_tokens=8, n_ctx=512)


@pytest.fixture
def engine():
    running = InferenceEngine(max_models=4)
    yield running
    running.shutdown()


def results(engine, models, prompt="def f"):
    done = {}
    for event in engine.run(prompt, models, {m.id: CONFIG for m in models}):
        if event.kind == "done":
            done[event.model_id] = event.result
    return done


def test_a_failing_endpoint_fails_only_in_its_own_column(engine, tiny_models):
    with misbehaving_server() as server:
        endpoint = Endpoint.parse({"name": "bad", "base_url": server.base_url, "timeout_s": 5.0})
        good, broken, cut = (endpoint_model(endpoint, name) for name in ("ok", "status-500", "cut"))
        local = tiny_models["gguf_f32"]
        done = results(engine, [local, good, broken, cut])
    assert done[local.id].finish_reason == FinishReason.LENGTH and done[local.id].error is None
    assert done[good.id].text == "".join(OK_PIECES) and done[good.id].error is None
    assert done[good.id].stats.completion_tokens == 4  # the server's usage
    assert done[good.id].stats.peak_rss_bytes is None and done[good.id].stats.other_cpu_share is None
    assert done[local.id].stats.peak_rss_bytes > 0  # a local model keeps its memory figure
    assert done[broken.id].finish_reason == FinishReason.ERROR and "server error 500" in done[broken.id].error
    assert (
        done[cut.id].text == "Partial answer" and "cut before the answer was finished" in done[cut.id].error
    )


def test_a_killed_server_gives_a_clear_error_in_its_column_only(engine, tiny_models):
    local = tiny_models["gguf_f32"]
    with misbehaving_server() as server:
        model = endpoint_model(Endpoint.parse({"name": "gone", "base_url": server.base_url}), "ok")
        assert results(engine, [model])[model.id].error is None  # loaded and answering
    done = results(engine, [local, model])  # the server is gone now; its worker stays warm
    assert done[local.id].error is None
    assert "connection refused at" in done[model.id].error and "is the server running" in done[model.id].error


def test_repeated_failures_open_the_circuit_until_a_health_check_succeeds(engine):
    with misbehaving_server() as server:
        endpoint = Endpoint.parse({"name": "flaky", "base_url": server.base_url})
        model = endpoint_model(endpoint, "status-500")
        for _ in range(FAILURES_TO_OPEN):
            assert "server error 500" in results(engine, [model])[model.id].error
        requests_before = len(server.requests)
        refused = results(engine, [model])[model.id]
        assert refused.finish_reason == FinishReason.ERROR
        assert "marked unhealthy after 3 failures in a row" in refused.error
        assert len(server.requests) == requests_before  # refused at once: nothing was sent
        health = HealthBook().get(endpoint.base_url)
        assert health.healthy is False and health.consecutive_failures == FAILURES_TO_OPEN
        listed = list_endpoint(endpoint, HealthBook())  # GET /v1/models answers: the health check passes
        assert all(m.metadata.healthy for m in listed)
        again = results(engine, [model])[model.id]
    assert "server error 500" in again.error  # sent again (and failing on its own merits)
