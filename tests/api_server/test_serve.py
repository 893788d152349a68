"""`llm-compare serve` against real clients: every endpoint, streamed and not, its counts against
the tokenizers' own, each status of its contract, the key, the queue, the Host check, many
clients at once, and the official `openai` client."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest

from llm_compare.core.config import ModelConfig
from llm_compare.services.discovery.config_manager import ConfigManager

CHAT = "/v1/chat/completions"
RAW = "/v1/completions"
PROMPT = "def parse(text):"


def chat_body(model, **fields):
    return {
        "model": model.id,
        "messages": [{"role": "user", "content": PROMPT}],
        "temperature": 0.0,
        "max_tokens": 8,
        **fields,
    }


def raw_body(model, **fields):
    return {"model": model.id, "prompt": PROMPT, "temperature": 0.0, "max_tokens": 8, **fields}


def collect(server, path, body):
    """A streamed answer: its chunks (parsed) and whether it ended with [DONE]."""
    with server.stream(path, body) as (status, events, _):
        assert status == 200
        payloads = list(events)
    assert payloads[-1] == "[DONE]", payloads[-3:]
    return [json.loads(p) for p in payloads[:-1]]


def test_lists_the_served_models(server, tiny_models, slow_prefill_models):
    answer = server.request("GET", "/v1/models")
    assert answer.status == 200
    listed = answer.json()
    assert listed["object"] == "list"
    expected = {tiny_models["hf"].id, tiny_models["gguf_f32"].id, slow_prefill_models["gguf_f32"].id}
    assert expected <= {m["id"] for m in listed["data"]}
    assert all(m["object"] == "model" for m in listed["data"])
    one = server.request("GET", f"/v1/models/{tiny_models['hf'].id}").json()
    assert one["id"] == tiny_models["hf"].id and one["name"] == "tiny-llama"


@pytest.mark.slow
def test_chat_counts_are_the_tokenizers_own(server, tiny_models):
    from transformers import AutoTokenizer

    model = tiny_models["hf"]
    answer = server.post(CHAT, chat_body(model))
    assert answer.status == 200, answer.body
    data = answer.json()
    assert data["object"] == "chat.completion" and data["model"] == model.id
    choice = data["choices"][0]
    assert choice["message"]["role"] == "assistant" and choice["finish_reason"] == "length"
    tokenizer = AutoTokenizer.from_pretrained(model.path)
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": PROMPT}], add_generation_prompt=True, tokenize=False
    )
    prompt_ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert data["usage"]["prompt_tokens"] == len(prompt_ids)
    assert data["usage"]["completion_tokens"] == 8  # stopped by max_tokens: exactly that many ids
    assert data["usage"]["total_tokens"] == len(prompt_ids) + 8


def test_chat_streamed_is_the_same_answer_with_usage_last(server, tiny_models):
    model = tiny_models["hf"]
    whole = server.post(CHAT, chat_body(model)).json()
    chunks = collect(server, CHAT, chat_body(model, stream=True, stream_options={"include_usage": True}))
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert all(c["object"] == "chat.completion.chunk" and c["id"] == chunks[0]["id"] for c in chunks)
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == whole["choices"][0]["message"]["content"]
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "length"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == whole["usage"]
    assert all(c["usage"] is None for c in chunks[:-1])


@pytest.mark.slow
def test_raw_completion_streamed_and_not_counts_from_llama_cpp(server, tiny_models):
    import llama_cpp

    model = tiny_models["gguf_f32"]
    whole = server.post(RAW, raw_body(model)).json()
    assert whole["object"] == "text_completion"
    chunks = collect(server, RAW, raw_body(model, stream=True))
    assert "".join(c["choices"][0]["text"] for c in chunks) == whole["choices"][0]["text"]
    assert all("usage" not in c for c in chunks)  # not asked for
    vocab = llama_cpp.Llama(model.path, vocab_only=True, verbose=False)
    assert whole["usage"]["prompt_tokens"] == len(vocab.tokenize(PROMPT.encode(), add_bos=True))
    assert whole["usage"]["completion_tokens"] == 8


def test_absent_fields_use_the_saved_settings_and_present_ones_override_them(
    server, tiny_models, server_home
):
    model = tiny_models["gguf_f32"]
    ConfigManager(server_home).save(model, ModelConfig(temperature=0.0, max_tokens=3, n_ctx=512))
    try:
        saved = server.post(RAW, {"model": model.id, "prompt": PROMPT}).json()
        assert saved["usage"]["completion_tokens"] == 3 and saved["choices"][0]["finish_reason"] == "length"
        overridden = server.post(RAW, {"model": model.id, "prompt": PROMPT, "max_tokens": 5}).json()
        assert overridden["usage"]["completion_tokens"] == 5
        # Saved again while serving (as the dashboard does): the next request follows the file.
        ConfigManager(server_home).save(model, ModelConfig(temperature=0.0, max_tokens=4, n_ctx=512))
        changed = server.post(RAW, {"model": model.id, "prompt": PROMPT}).json()
        assert changed["usage"]["completion_tokens"] == 4
    finally:
        ConfigManager(server_home).reset(model)


def test_one_gguf_gives_the_same_text_in_process_and_behind_serve(server, tiny_models, greedy):
    from llm_compare.services.engine.engine import InferenceEngine

    model = tiny_models["gguf_f32"]
    engine = InferenceEngine()
    try:
        events = list(engine.run(PROMPT, [model], {model.id: greedy}))
    finally:
        engine.shutdown()
    local = events[-1].result
    served = server.post(RAW, raw_body(model, max_tokens=greedy.max_tokens)).json()
    assert served["choices"][0]["text"] == local.text
    assert served["usage"]["prompt_tokens"] == local.stats.prompt_tokens
    assert served["usage"]["completion_tokens"] == local.stats.completion_tokens


def error_of(answer, status, code=None):
    assert answer.status == status, answer.body
    error = answer.json()["error"]
    assert set(error) >= {"message", "type", "code"} and error["message"]
    if code:
        assert error["code"] == code or error["type"] == code, error
    return error


@pytest.mark.parametrize(
    "body, code",
    [
        (b"{not json", "invalid_request"),
        ({"messages": [{"role": "user", "content": "hi"}]}, "invalid_request"),  # no model
        ("wrong type", "invalid_request"),
        ("out of range", "invalid_request"),
        ("unknown field", "invalid_request"),
        ("n=2", "capability_not_supported"),
        ("logprobs", "capability_not_supported"),
        ("tools", "capability_not_supported"),
        ("image", "capability_not_supported"),
    ],
)
def test_an_invalid_or_unsupported_request_is_400_in_openai_shape(server, tiny_models, body, code):
    model = tiny_models["gguf_f32"]
    made = {
        "wrong type": chat_body(model, temperature="0.5"),
        "out of range": chat_body(model, temperature=5.0),
        "unknown field": chat_body(model, colour="red"),
        "n=2": chat_body(model, n=2),
        "logprobs": chat_body(model, logprobs=True),
        "tools": chat_body(model, tools=[{"type": "function", "function": {"name": "f"}}]),
        "image": chat_body(
            model, messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]
        ),
    }
    error_of(server.post(CHAT, made.get(body, body) if isinstance(body, str) else body), 400, code)


def test_a_prompt_too_long_for_the_context_is_400(server, tiny_models):
    model = tiny_models["gguf_f32"]
    error = error_of(server.post(RAW, raw_body(model, prompt="word " * 3000)), 400, "invalid_request")
    assert "context" in error["message"]


@pytest.mark.slow
def test_key_unknown_model_body_limit_and_a_model_that_cannot_load(server, tiny_models, broken_hf):
    model = tiny_models["gguf_f32"]
    error_of(server.post(RAW, raw_body(model), key=None), 401, "invalid_api_key")
    error_of(server.post(RAW, raw_body(model), key="sk-wrong"), 401, "invalid_api_key")
    assert server.request("GET", "/healthz", key=None).status == 200  # says only that it is up
    error_of(server.post(RAW, {**raw_body(model), "model": "no-such-model"}), 404, "model_not_found")
    error_of(server.post(RAW, raw_body(model, prompt="x" * 70_000)), 413, "request_too_large")
    broken = next(
        m for m in server.request("GET", "/v1/models").json()["data"] if m["name"] == "broken-llama"
    )
    error = error_of(server.post(RAW, {**raw_body(model), "model": broken["id"]}), 503, "model_not_loaded")
    assert "broken-llama" in error["message"]


def test_a_forged_host_is_refused(server, tiny_models):
    forged = server.post(RAW, raw_body(tiny_models["gguf_f32"]), headers={"Host": "evil.example"})
    error_of(forged, 403, "host_not_allowed")
    assert server.request("GET", "/v1/models", headers={"Host": f"localhost:{server.port}"}).status == 200


def test_the_key_appears_in_no_log(server, tiny_models):
    server.post(RAW, raw_body(tiny_models["gguf_f32"]))
    server.post(RAW, raw_body(tiny_models["gguf_f32"]), key=server.key + "x")
    log = server.log()
    assert "POST /v1/completions" in log  # the log does record requests
    assert server.key not in log


@pytest.mark.slow
def test_a_full_queue_is_429_with_retry_after_and_a_gone_client_stops_its_run(
    server, slow_prefill_models, server_home
):
    model = slow_prefill_models["gguf_f32"]
    # A run of 4,000 tokens: tens of seconds on this model, unless its client's going stops it.
    ConfigManager(server_home).save(model, ModelConfig(n_ctx=4096))
    long_run = raw_body(model, max_tokens=4000, stream=True)
    try:
        with server.stream(RAW, long_run) as (status, events, _):
            assert status == 200
            next(events)  # generating: the model is taken
            # Two more at once: whichever comes second finds the queue (of one) full, and is
            # answered at once; the other waits. Which one, the scheduler decides.
            answered: list = []
            short = [
                threading.Thread(
                    target=lambda: answered.append(server.post(RAW, raw_body(model, max_tokens=2)))
                )
                for _ in range(2)
            ]
            for thread in short:
                thread.start()
            deadline = time.monotonic() + 60
            while not answered:
                assert time.monotonic() < deadline, "neither request was answered while the long run went on"
                time.sleep(0.05)
            refused = answered[0]
            assert refused.status != 200, (
                "the long run ended before the queue was full: the test proves nothing"
            )
            error_of(refused, 429, "queue_full")
            assert int(refused.headers["retry-after"]) >= 1
            t_closed = time.monotonic()
        # The client went away: its run stops, and the queued request gets the model at once.
        for thread in short:
            thread.join(timeout=60)
        assert len(answered) == 2 and answered[1].status == 200, answered
        assert time.monotonic() - t_closed < 8
    finally:
        ConfigManager(server_home).reset(model)


@pytest.mark.slow
def test_four_clients_ten_requests_each_over_two_models_are_all_answered_or_refused(server, tiny_models):
    models = [tiny_models["gguf_f32"], tiny_models["hf"]]

    def client(number: int) -> list:
        outcomes = []
        for i in range(10):
            model = models[(number + i) % 2]
            answer = server.post(RAW, raw_body(model, max_tokens=4), timeout=120)
            if answer.status == 200:
                assert answer.json()["usage"]["completion_tokens"] >= 1
            else:
                error_of(answer, 429, "queue_full")
                assert int(answer.headers["retry-after"]) >= 1
            outcomes.append((model.id, answer.status))
        return outcomes

    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(client, n) for n in range(4)]
        outcomes = [o for f in futures for o in f.result(timeout=600)]  # none hangs
    assert len(outcomes) == 40
    assert {mid for mid, status in outcomes if status == 200} == {m.id for m in models}


@pytest.mark.slow
def test_the_official_openai_client(server, tiny_models):
    client = openai.OpenAI(base_url=server.base_url, api_key=server.key, max_retries=0, timeout=120)
    model = tiny_models["gguf_f32"]
    assert model.id in {m.id for m in client.models.list()}
    chat = client.chat.completions.create(
        model=model.id, messages=[{"role": "user", "content": PROMPT}], temperature=0, max_tokens=6
    )
    assert chat.usage.completion_tokens == 6 and chat.choices[0].finish_reason == "length"
    stream = client.chat.completions.create(
        model=model.id,
        messages=[{"role": "user", "content": PROMPT}],
        temperature=0,
        max_tokens=6,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert (
        "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        == chat.choices[0].message.content
    )
    assert chunks[-1].usage.completion_tokens == 6
    raw = client.completions.create(model=model.id, prompt=PROMPT, temperature=0, max_tokens=6)
    assert raw.usage.completion_tokens == 6
    with pytest.raises(openai.NotFoundError):
        client.completions.create(model="no-such-model", prompt=PROMPT)
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model=model.id, messages=[{"role": "user", "content": PROMPT}], n=2)
    assert refused.value.code == "capability_not_supported"
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=server.base_url, api_key="sk-wrong", max_retries=0).models.list()


@pytest.mark.slow
def test_one_gguf_gives_the_same_text_behind_serve_and_behind_llama_cpp_server(
    server, tiny_models, greedy, tmp_path
):
    """llama-cpp-python's own server, its defaults (min-p 0.05, repeat penalty 1.1) set away."""
    import subprocess
    import sys

    from llm_compare.services.served_models.process import free_port

    model = tiny_models["gguf_f32"]
    port = free_port()
    with open(tmp_path / "llama-server.log", "wb") as log:
        reference = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "llama_cpp.server",
                "--model",
                model.path,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--n_ctx",
                str(greedy.n_ctx),
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        client = openai.OpenAI(
            base_url=f"http://127.0.0.1:{port}/v1", api_key="none", max_retries=0, timeout=30
        )
        deadline = time.monotonic() + 120
        while True:
            try:
                client.models.list()
                break
            except openai.APIConnectionError:
                assert reference.poll() is None and time.monotonic() < deadline, (
                    tmp_path / "llama-server.log"
                ).read_text()
                time.sleep(0.3)
        theirs = client.completions.create(
            model=model.path,
            prompt=PROMPT,
            temperature=0,
            max_tokens=greedy.max_tokens,
            extra_body={"repeat_penalty": 1.0, "min_p": 0.0, "top_k": 40},
        )
    finally:
        reference.terminate()
        reference.wait(15)
    ours = server.post(RAW, raw_body(model, max_tokens=greedy.max_tokens)).json()
    # A random model emits token pieces that are not whole UTF-8 characters: llama-cpp-python
    # drops such bytes (errors="ignore"), we show each as U+FFFD, as the dashboard does.
    assert ours["choices"][0]["text"].replace("\ufffd", "") == theirs.choices[0].text
    assert ours["usage"]["prompt_tokens"] == theirs.usage.prompt_tokens
    assert ours["usage"]["completion_tokens"] == theirs.usage.completion_tokens
