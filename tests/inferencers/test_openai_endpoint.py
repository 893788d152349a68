"""The `openai` backend against real HTTP servers on 127.0.0.1: a misbehaving server of our own for
every failure, and what a well-behaved stream gives (TTFT, usage, cache hits, cost, Ollama loads)."""

from __future__ import annotations

import threading
import time

import pytest

from llm_compare.core.config import ModelConfig
from llm_compare.core.endpoints import Endpoint
from llm_compare.core.results import FinishReason
from llm_compare.inferencers import openai_http as http
from llm_compare.inferencers.base import create_inferencer
from llm_compare.inferencers.openai_endpoint import request_fields
from llm_compare.services.endpoints.catalog import endpoint_model
from tests.support.dashboard_driver import free_port
from tests.support.endpoint_servers import (
    LLAMA_CPP_TIMINGS,
    OK_PIECES,
    SLOW_FIRST_S,
    SLOW_NEXT_S,
    misbehaving_server,
)

CONFIG = ModelConfig(temperature=0.0, max_tokens=16, seed=7)


@pytest.fixture(scope="module")
def server():
    with misbehaving_server() as running:
        yield running


def endpoint_for(base_url: str, **fields) -> Endpoint:
    return Endpoint.parse({"name": "test", "base_url": base_url, "timeout_s": 2.0, **fields})


def answer(
    endpoint: Endpoint, server_model: str, config: ModelConfig = CONFIG, cancelled=lambda: False, emitted=None
):
    inferencer = create_inferencer(endpoint_model(endpoint, server_model), config)
    inferencer.load()
    if hasattr(cancelled, "arm"):
        cancelled.arm()  # the time to Stop counts from the request, not from the load
    try:
        return inferencer.answer(
            prompt="Say hello",
            system_prompt=None,
            config=config,
            cancelled=cancelled,
            emit=lambda text, n: (emitted if emitted is not None else []).append(text),
            load_s=0.0,
            warm=False,
        )
    finally:
        inferencer.unload()


def posts(server, model: str) -> list[dict]:
    return [body for method, _, _, body in server.requests if method == "POST" and body.get("model") == model]


def test_a_streamed_answer_has_client_timings_and_the_servers_usage(server):
    emitted = []
    result = answer(endpoint_for(server.base_url), "ok", emitted=emitted)
    assert result.error is None and result.finish_reason == FinishReason.STOP
    assert result.text == "".join(OK_PIECES) == "".join(emitted)
    stats = result.stats
    # Counts are the server's usage, never a count of chunks (the server says 7 and 4).
    assert (stats.prompt_tokens, stats.completion_tokens) == (7, 4)
    assert stats.ttft_s is not None and 0 < stats.ttft_s <= stats.e2e_s
    assert stats.peak_rss_bytes is None  # the model's memory is the server's
    # 3 prompt tokens came from the server's cache: the TTFT is recorded, and marked not comparable.
    assert stats.server_cached_prompt_tokens == 3 and not stats.ttft_comparable
    assert stats.cost is None  # no prices given
    assert stats.server_included_load is None  # not an Ollama server


@pytest.mark.slow
def test_ttft_is_taken_at_the_first_chunk_with_text_not_the_role_chunk(server):
    # slow-ok sends its role-only chunk at once, its first text 1 s later, then a piece every 0.6 s.
    result = answer(endpoint_for(server.base_url), "slow-ok")
    assert result.finish_reason == FinishReason.STOP
    assert result.stats.ttft_s >= SLOW_FIRST_S
    # Three more pieces 0.6 s apart: the last arrives about 1.8 s after the first.
    assert result.stats.e2e_s - result.stats.ttft_s >= 3 * SLOW_NEXT_S - 0.05
    assert result.stats.decode_tps == pytest.approx(
        (4 - 1) / (result.stats.e2e_s - result.stats.ttft_s), rel=0.05
    )


def test_cost_from_the_endpoints_prices(server):
    endpoint = endpoint_for(server.base_url, input_price_per_m=2.0, output_price_per_m=10.0)
    result = answer(endpoint, "ok")
    assert result.stats.cost == pytest.approx((7 * 2.0 + 4 * 10.0) / 1e6)


def test_every_setting_is_in_the_request(server):
    config = ModelConfig(
        temperature=0.3,
        top_p=0.8,
        max_tokens=5,
        seed=11,
        stop=["\n\n"],
        mode="chat",
        system_prompt="Be brief.",
    )
    answer(endpoint_for(server.base_url), "ok", config)
    body = posts(server, "ok")[-1]
    assert body["temperature"] == 0.3 and body["top_p"] == 0.8 and body["max_tokens"] == 5
    assert body["seed"] == 11 and body["stop"] == ["\n\n"]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Say hello"},
    ]
    # Not a server we recognise: llama.cpp's fields are not sent, and the run says they are ignored.
    assert "top_k" not in body and "repeat_penalty" not in body


def test_raw_mode_uses_the_completions_api(server):
    result = answer(
        endpoint_for(server.base_url), "ok", ModelConfig(temperature=0.0, max_tokens=4, mode="raw")
    )
    assert result.text == "".join(OK_PIECES)
    assert [path for method, path, _, _ in server.requests if method == "POST"][-1] == "/v1/completions"


def test_llama_cpp_servers_get_their_own_sampling_fields_and_no_prompt_cache():
    config = ModelConfig(temperature=0.0, top_k=5, repeat_penalty=1.0, repeat_last_n=32, seed=None)
    standard, extra = request_fields(config, http.LLAMA_CPP)
    # The server's defaults (repeat penalty 1.1, min-p 0.05, a prompt cache) never apply silently.
    assert extra["repeat_penalty"] == 1.0 and extra["min_p"] == 0.0 and extra["cache_prompt"] is False
    assert extra["top_k"] == 5 and extra["repeat_last_n"] == 32 and extra["seed"] == -1
    assert extra["samplers"] == ["top_k", "top_p", "temperature"]  # our order, after the penalties
    assert standard["temperature"] == 0.0 and "seed" not in standard
    _, vllm = request_fields(config, http.VLLM)
    assert vllm == {"top_k": 5, "min_p": 0.0, "repetition_penalty": 1.0}
    assert request_fields(config, http.OLLAMA)[1] == {} and request_fields(config, http.OTHER)[1] == {}


def test_a_llama_cpp_server_gets_every_sampling_field_and_its_timings_are_kept():
    config = ModelConfig(temperature=0.0, top_k=5, repeat_penalty=1.0, repeat_last_n=32, max_tokens=8)
    with misbehaving_server(kind="llama.cpp") as llama:
        result = answer(endpoint_for(llama.base_url), "ok", config)
        body = posts(llama, "ok")[-1]
    assert body["cache_prompt"] is False and body["min_p"] == 0.0 and body["repeat_penalty"] == 1.0
    assert body["top_k"] == 5 and body["repeat_last_n"] == 32 and body["seed"] == -1
    stats = result.stats
    # The server's figures under server_*, the client's own beside them, never mixed.
    assert stats.server_prompt_ms == LLAMA_CPP_TIMINGS["prompt_ms"]
    assert stats.server_prefill_tps == LLAMA_CPP_TIMINGS["prompt_per_second"]
    assert stats.server_decode_ms == LLAMA_CPP_TIMINGS["predicted_ms"]
    assert stats.server_decode_tps == LLAMA_CPP_TIMINGS["predicted_per_second"]
    assert stats.server_cached_prompt_tokens == 0 and stats.ttft_comparable
    assert stats.decode_tps != stats.server_decode_tps and stats.ttft_s is not None


def test_settings_an_unknown_server_cannot_take_are_marked_ignored(server):
    inferencer = create_inferencer(endpoint_model(endpoint_for(server.base_url), "ok"), CONFIG)
    inferencer.load()
    ignored = inferencer.ignored_settings(ModelConfig(n_ctx=4096))
    assert {"top_k", "repeat_penalty", "repeat_last_n", "n_ctx"} <= set(ignored)
    assert "temperature" not in ignored and "seed" not in ignored
    # Settings files saved before auto hold n_gpu_layers 0 and device cpu: not changes to report.
    old = inferencer.ignored_settings(ModelConfig(n_gpu_layers=0, device="cpu"))
    assert "n_gpu_layers" not in old and "device" not in old
    assert {"n_gpu_layers", "device", "main_gpu"} <= set(
        inferencer.ignored_settings(ModelConfig(n_gpu_layers=8, device="cuda", main_gpu=1))
    )


# --- failures: each in one line, saying what happened and what to check, partial text kept ------------

FAILURES = [
    ("status-401", "401 unauthorized"),
    ("status-403", "403 forbidden"),
    ("status-404", "404 not found"),
    ("status-429", "429 too many requests"),
    ("status-500", "server error 500"),
    ("status-503", "server error 503"),
]


@pytest.mark.parametrize(("model", "expected"), FAILURES)
def test_each_http_status_gives_a_one_line_error(server, model, expected):
    result = answer(endpoint_for(server.base_url), model)
    assert result.finish_reason == FinishReason.ERROR
    assert expected in result.error and "\n" not in result.error
    assert f"test server says {model[-3:]}" in result.error  # the server's own words are kept
    assert result.stats.ttft_s is None and result.stats.completion_tokens is None


@pytest.mark.slow
def test_overload_and_server_errors_are_retried_before_the_first_token_only(server):
    before = len(posts(server, "status-429"))
    result = answer(endpoint_for(server.base_url), "status-429")
    assert len(posts(server, "status-429")) - before == 3  # the request and 2 retries
    assert "(after 2 retries)" in result.error and "wait 1 s" in result.error
    before = len(posts(server, "status-404"))
    answer(endpoint_for(server.base_url), "status-404")
    assert len(posts(server, "status-404")) - before == 1  # an unknown model is not retried
    # A 503 while warming up, then a good answer: the retry succeeds.
    flaky = answer(endpoint_for(server.base_url), "flaky-503")
    assert flaky.error is None and flaky.text == "".join(OK_PIECES)


def test_a_stream_cut_midway_keeps_the_partial_text(server):
    before = len(posts(server, "cut"))
    result = answer(endpoint_for(server.base_url), "cut")
    assert result.finish_reason == FinishReason.ERROR
    assert result.text == "Partial answer"
    assert "cut before the answer was finished" in result.error and "\n" not in result.error
    assert len(posts(server, "cut")) - before == 1  # text had arrived: never retried
    assert result.stats.ttft_s is not None  # what was measured stays


def test_a_malformed_chunk_keeps_the_partial_text(server):
    result = answer(endpoint_for(server.base_url), "malformed")
    assert result.finish_reason == FinishReason.ERROR
    assert result.text == "Hi"
    assert "malformed chunk" in result.error and "\n" not in result.error


@pytest.mark.slow
def test_a_server_that_never_answers_times_out(server):
    started = time.perf_counter()
    result = answer(endpoint_for(server.base_url, timeout_s=1.0), "hang")
    assert result.finish_reason == FinishReason.ERROR
    assert (
        "no answer from" in result.error
        and "within 1 s" in result.error
        and "(after 2 retries)" in result.error
    )
    assert time.perf_counter() - started < 10


def test_a_closed_port_says_connection_refused():
    endpoint = endpoint_for(f"http://127.0.0.1:{free_port()}/v1")
    inferencer = create_inferencer(endpoint_model(endpoint, "any"), CONFIG)
    with pytest.raises(Exception) as excinfo:  # found at load, before any prompt
        inferencer.load()
    assert "connection refused at http://127.0.0.1:" in str(excinfo.value)
    assert "is the server running" in str(excinfo.value)


def test_a_host_that_does_not_resolve_says_so():
    endpoint = endpoint_for("http://no-such-host.invalid/v1")
    inferencer = create_inferencer(endpoint_model(endpoint, "any"), CONFIG)
    with pytest.raises(Exception) as excinfo:
        inferencer.load()
    assert "cannot find the host no-such-host.invalid" in str(excinfo.value)


def test_a_missing_key_variable_is_named(monkeypatch, server):
    monkeypatch.delenv("LLM_COMPARE_TEST_NO_SUCH_KEY", raising=False)
    endpoint = endpoint_for(server.base_url, api_key_env="LLM_COMPARE_TEST_NO_SUCH_KEY")
    with pytest.raises(Exception) as excinfo:
        create_inferencer(endpoint_model(endpoint, "ok"), CONFIG).load()
    assert "LLM_COMPARE_TEST_NO_SUCH_KEY" in str(excinfo.value) and "is not set" in str(excinfo.value)


def test_the_key_is_sent_from_its_environment_variable(monkeypatch):
    monkeypatch.setenv("LLM_COMPARE_TEST_KEY", "sk-test-only-123")
    with misbehaving_server(required_key="sk-test-only-123") as keyed:
        good = answer(endpoint_for(keyed.base_url, api_key_env="LLM_COMPARE_TEST_KEY"), "ok")
        bad = answer(endpoint_for(keyed.base_url), "ok")
    assert good.error is None
    assert "401 unauthorized" in bad.error and "api_key_env" in bad.error


# --- Stop closes the connection at once -----------------------------------------------------------


class stop_after:
    """A cancel flag that is set `seconds` after it is armed."""

    def __init__(self, seconds: float):
        self.seconds, self.flag = seconds, threading.Event()

    def arm(self) -> None:
        threading.Timer(self.seconds, self.flag.set).start()

    def __call__(self) -> bool:
        return self.flag.is_set()


def test_stop_while_the_server_is_silent_returns_at_once(server):
    started = time.perf_counter()
    result = answer(endpoint_for(server.base_url, timeout_s=30.0), "hang", cancelled=stop_after(0.5))
    assert result.finish_reason == FinishReason.CANCELLED and result.error is None
    assert time.perf_counter() - started < 10  # Stop at 0.5 s, not the 30 s timeout, however loaded


def test_stop_midway_keeps_the_text_so_far(server):
    shown: list[str] = []
    # Stop once the first piece is shown: the server sends the second SLOW_NEXT_S after it.
    result = answer(
        endpoint_for(server.base_url, timeout_s=30.0), "slow-ok", cancelled=lambda: any(shown), emitted=shown
    )
    assert result.finish_reason == FinishReason.CANCELLED
    assert result.text == "Hello"  # the first piece, not the second


# --- Ollama: a first request that loads the model is marked ---------------------------------------


def test_ollama_first_request_is_marked_as_including_a_load():
    with misbehaving_server(kind="ollama") as ollama:
        inferencer = create_inferencer(endpoint_model(endpoint_for(ollama.base_url), "ok"), CONFIG)
        inferencer.load()
        assert inferencer.runtime_info()["server_kind"] == http.OLLAMA
        runs = [
            inferencer.answer(
                prompt="Hi",
                system_prompt=None,
                config=CONFIG,
                cancelled=lambda: False,
                emit=lambda t, n: None,
                load_s=0.0,
                warm=False,
            )
            for _ in range(2)
        ]
        ignored = inferencer.ignored_settings(CONFIG)
    assert [r.stats.server_included_load for r in runs] == [True, False]
    assert "Modelfile" in ignored["top_k"] and "Modelfile" in ignored["repeat_penalty"]
