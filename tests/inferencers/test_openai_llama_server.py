"""The `openai` backend against a real peer: llama-cpp-python's own server (`python -m
llama_cpp.server`) serving the tiny GGUF. Greedy answers through it and in-process must agree.

Two habits of that server, seen here, shape the comparisons: where the tokens' bytes do not form a
whole character (the random tiny model picks such byte tokens often), it drops them where we show
U+FFFD; and when the last allowed token leaves a character incomplete, it generates past max_tokens
to complete it. So its text is ours without the U+FFFD, plus what it added past the limit."""

from __future__ import annotations

from time import perf_counter

import openai
import pytest

from llm_compare.core.config import ModelConfig
from llm_compare.core.endpoints import Endpoint
from llm_compare.core.results import FinishReason
from llm_compare.inferencers import openai_http as http
from llm_compare.inferencers.base import create_inferencer
from llm_compare.services.endpoints.catalog import endpoint_model, list_endpoint
from llm_compare.services.endpoints.health import HealthBook

GREEDY_RAW = ModelConfig(temperature=0.0, mode="raw", max_tokens=16, n_ctx=512)
GREEDY_CHAT = ModelConfig(temperature=0.0, mode="chat", max_tokens=16, n_ctx=512)
PROMPT = "def add(a, b):"


def same_answer(ours: str, servers: str) -> bool:
    """The server's text is ours (each U+FFFD dropped as it drops broken bytes), exactly when our
    answer ends on a whole character, else followed by what it generated to complete one."""
    whole = ours.replace("\ufffd", "")
    return servers == whole if not ours.endswith("\ufffd") else servers.startswith(whole)


def run(model, config: ModelConfig, prompt: str = PROMPT):
    inferencer = create_inferencer(model, config)
    inferencer.load()
    try:
        return inferencer.answer(
            prompt=prompt,
            system_prompt=None,
            config=config,
            cancelled=lambda: False,
            emit=lambda text, n: None,
            load_s=0.0,
            warm=False,
        )
    finally:
        inferencer.unload()


@pytest.fixture(scope="module")
def served(llama_server):
    return endpoint_model(Endpoint.parse({"name": "llama", "base_url": llama_server}), "tiny")


def test_listing_the_servers_models_is_its_health_check(llama_server):
    endpoint = Endpoint.parse({"name": "llama", "base_url": llama_server})
    book = HealthBook()
    started = perf_counter()
    models = list_endpoint(endpoint, book)
    elapsed_ms = (perf_counter() - started) * 1000
    assert [m.name for m in models] == ["llama#tiny"]
    assert models[0].usable and models[0].metadata.server_kind == http.LLAMA_CPP_PYTHON
    health = book.get(endpoint.base_url)
    assert health.healthy is True
    assert 0 < health.health_latency_ms <= elapsed_ms  # one GET inside the whole listing
    assert models[0].metadata.health_latency_ms == health.health_latency_ms


def test_greedy_raw_completion_through_the_server_matches_in_process(tiny_models, served):
    local = run(tiny_models["gguf_f32"], GREEDY_RAW)
    remote = run(served, GREEDY_RAW)
    assert local.error is None and remote.error is None
    assert same_answer(local.text, remote.text) and len(local.text) > 0
    assert remote.finish_reason == local.finish_reason == FinishReason.LENGTH
    # llama_cpp.server sends no usage in a stream: the counts are empty, never counted from chunks.
    assert remote.stats.completion_tokens is None and remote.stats.decode_tps is None
    assert remote.stats.ttft_s is not None and remote.stats.decode_bytes_per_s is not None


@pytest.mark.slow
def test_greedy_chat_through_the_server_matches_in_process(tiny_models, served):
    local = run(tiny_models["gguf_f32"], GREEDY_CHAT, "Hello")
    remote = run(served, GREEDY_CHAT, "Hello")
    assert remote.error is None
    assert same_answer(local.text, remote.text) and len(local.text) > 0


def test_the_servers_own_token_counts_match_in_process(tiny_models, llama_server):
    """The same tokens, not only the same text: the server's own usage (it gives one only for a
    whole, non-streamed answer) counts what the in-process run counted from its ids."""
    config = GREEDY_RAW.updated(max_tokens=2)  # two tokens that make whole characters: no overrun
    local = run(tiny_models["gguf_f32"], config)
    assert "\ufffd" not in local.text
    client = openai.OpenAI(base_url=llama_server, api_key="unused", max_retries=0)
    whole = client.completions.create(
        model="tiny",
        prompt=PROMPT,
        max_tokens=2,
        temperature=0.0,
        extra_body={"top_k": 40, "min_p": 0.0, "repeat_penalty": 1.0},
    )
    client.close()
    assert whole.choices[0].text == local.text
    assert (whole.usage.prompt_tokens, whole.usage.completion_tokens) == (
        local.stats.prompt_tokens,
        local.stats.completion_tokens,
    )


def test_the_servers_repeat_penalty_default_does_not_apply(tiny_models, served):
    """llama_cpp.server penalises repeats by 1.1 unless told otherwise: we always tell it."""
    config = GREEDY_RAW.updated(max_tokens=40)
    local = run(tiny_models["gguf_f32"], config, "a a a a a a a a")
    remote = run(served, config, "a a a a a a a a")
    client = openai.OpenAI(base_url=served.metadata.endpoint.base_url, api_key="unused", max_retries=0)
    defaults = client.completions.create(
        model="tiny", prompt="a a a a a a a a", max_tokens=40, temperature=0.0
    )
    client.close()
    assert same_answer(local.text, remote.text)
    assert not same_answer(local.text, defaults.choices[0].text)  # the server's defaults change the answer
