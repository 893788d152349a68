"""The PyTorch and GGUF backends, in-process: parity, counting, templates, sampling settings."""

import itertools
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from llm_compare.core.config import ModelConfig
from llm_compare.core.errors import ConfigurationError
from llm_compare.core.results import FinishReason
from llm_compare.inferencers.base import LocalInferencer, create_inferencer
from llm_compare.inferencers.generation import TEXT_INTERVAL_S, StopMatcher, run_generation

PROMPT = "def parse_args(argv):\n    "
CLOSENESS_TEXT = '''import os
import sys


def read_config(path, defaults=None):
    """Read a key = value file into a dict, starting from the defaults."""
    config = dict(defaults or {})
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            key, sep, value = line.partition("=")
            if not sep:
                raise ValueError(f"{path}:{number}: expected key = value")
            config[key.strip()] = value.strip()
    return config


if __name__ == "__main__":
    print(read_config(sys.argv[1], {"home": os.environ.get("HOME", "")}))
'''


@pytest.fixture(scope="module")
def loaded(tiny_models) -> Iterator[dict[str, LocalInferencer]]:
    inferencers = {}
    for role in ("hf", "gguf_f32", "gguf_q8"):
        inferencer = create_inferencer(tiny_models[role], ModelConfig(n_ctx=512))
        inferencer.load()
        inferencer.set_threads(2)
        inferencers[role] = inferencer
    yield inferencers
    for inferencer in inferencers.values():
        inferencer.unload()


def generate(
    inferencer: LocalInferencer, config: ModelConfig, prompt: str = PROMPT, system: str | None = None
):
    return run_generation(
        inferencer,
        prompt=prompt,
        system_prompt=system,
        config=config,
        cancelled=lambda: False,
        emit=lambda text, n: None,
        load_s=0.0,
        warm=False,
    )


def generate_with(inferencer: LocalInferencer, config: ModelConfig, emit):
    return run_generation(
        inferencer,
        prompt=PROMPT,
        system_prompt=None,
        config=config,
        cancelled=lambda: False,
        emit=emit,
        load_s=0.0,
        warm=False,
    )


def greedy_ids(inferencer: LocalInferencer, n: int) -> list[int]:
    prompt_ids = inferencer.encode_prompt(PROMPT, "", chat=False)
    return sampled_ids(inferencer, ModelConfig(temperature=0.0, max_tokens=n), prompt_ids, n)


def sampled_ids(inferencer: LocalInferencer, config: ModelConfig, prompt_ids: list[int], n: int) -> list[int]:
    ids = []

    def on_token(token_id: int, at: float | None = None) -> bool:
        ids.append(token_id)
        return len(ids) < n

    inferencer.generate(prompt_ids, config, on_token, lambda: False)
    return ids


def test_same_weights_give_the_same_prompt_ids_in_both_backends(loaded):
    for text in [PROMPT, "naïve café — 東京 🙂", "  \t\n\nx  = 1"]:
        assert loaded["hf"].encode_prompt(text, "", chat=False) == loaded["gguf_f32"].encode_prompt(
            text, "", chat=False
        )


@pytest.mark.slow
def test_backend_parity_greedy_ids_and_text(loaded):
    hf_ids, gguf_ids = greedy_ids(loaded["hf"], 30), greedy_ids(loaded["gguf_f32"], 30)
    assert len(hf_ids) == 30
    assert hf_ids == gguf_ids
    hf, gguf = (
        generate(loaded["hf"], ModelConfig(temperature=0, max_tokens=30, mode="raw")),
        generate(loaded["gguf_f32"], ModelConfig(temperature=0, max_tokens=30, mode="raw")),
    )
    assert hf.text == gguf.text and hf.text.strip()
    assert hf.stats.completion_tokens == gguf.stats.completion_tokens == 30


# Spaces before punctuation and apostrophes, which llama_detokenize's clean_spaces would remove.
SPACED_PUNCTUATION = "a , b . c ? d ! e it 's I 'm they 're we 've x ' y"
TIDIED_BY_CLEAN_SPACES = re.compile(r" [,.?!]| '[smrv]| ' ")


def test_text_with_spaces_before_punctuation_streams_alike_in_both_backends(loaded):
    ids = loaded["hf"].tokenizer(SPACED_PUNCTUATION, add_special_tokens=False)["input_ids"]
    prompt_ids = loaded["hf"].encode_prompt("Q:", "", chat=False)
    for role in ("hf", "gguf_f32"):
        decode = loaded[role].new_text_decoder(prompt_ids)
        assert "".join(decode(token_id) for token_id in ids) + decode(None) == SPACED_PUNCTUATION, role


@pytest.mark.slow
def test_greedy_answers_after_spaced_punctuation_are_identical_in_both_backends(loaded):
    config = ModelConfig(temperature=0, max_tokens=30, mode="raw")
    tidied = []
    for prompt in ("if is the '", "x = f(a , b) ,", "Is it ? Yes !"):
        hf, gguf = generate(loaded["hf"], config, prompt), generate(loaded["gguf_f32"], config, prompt)
        assert hf.text == gguf.text and hf.stats.completion_tokens == gguf.stats.completion_tokens == 30, (
            prompt
        )
        # Where prompt and answer meet, or in the answer: text clean_spaces would have changed.
        tidied += [
            m.group() for m in TIDIED_BY_CLEAN_SPACES.finditer(prompt + hf.text) if m.end() > len(prompt)
        ]
    assert tidied


def test_completion_tokens_are_counted_from_ids_as_transformers_generate_counts_them(loaded, tiny_models):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = tiny_models["hf"].path
    tokenizer, model = AutoTokenizer.from_pretrained(path), AutoModelForCausalLM.from_pretrained(path)
    input_ids = torch.tensor([tokenizer(PROMPT)["input_ids"]])
    new_ids = model.generate(input_ids, max_new_tokens=17, do_sample=False)[0, input_ids.shape[1] :].tolist()
    result = generate(loaded["hf"], ModelConfig(temperature=0, max_tokens=17, mode="raw"))
    assert result.stats.completion_tokens == len(new_ids) == 17
    assert result.stats.prompt_tokens == input_ids.shape[1]
    assert result.text == tokenizer.decode(new_ids, skip_special_tokens=True)
    assert result.finish_reason == FinishReason.LENGTH


class Clocked:
    """One run with the test's own clock read on both sides of each instant a figure is taken at,
    so that each figure has an interval it must lie in, however the machine is loaded (a
    preemption widens the interval; on a quiet machine it is microseconds wide):

    - the request (run_generation's first reading): after `started`, before the prompt is encoded;
    - the first token (when its text is made): after its text is decoded, before it is shown;
    - the last id: as the backend hands it over (PyTorch); for GGUF, the C loop hands over the ids
      of 50 ms at once with the times it drew them, each checked to lie within the loop's call
      that drew it, and the last one's draw time is the instant.
    """

    def __init__(self, inferencer: LocalInferencer, config: ModelConfig, monkeypatch: pytest.MonkeyPatch):
        self.produced: list[float] = []  # as the backend hands each id over, before our loop takes it
        self.drawn_at: list[float | None] = []  # the draw time handed over with each id (GGUF)
        self.taken: list[float] = []  # as our loop has taken it
        self.loop_called: list[float] = []
        self.loop_returned: list[float] = []
        self.encoding: list[float] = []
        self.decoded: list[float] = []  # as each id's text is decoded
        self.shown: list[tuple[float, int, str]] = []  # (when, completion tokens, text)
        backend_generate, backend_encode = inferencer.generate, inferencer.encode_prompt
        backend_decoder = inferencer.new_text_decoder
        token_loop = getattr(inferencer, "_token_loop", None)

        def timed_loop(*args) -> int:
            self.loop_called.append(time.perf_counter())
            drawn = token_loop(*args)
            self.loop_returned.append(time.perf_counter())
            return drawn

        def generate(prompt_ids, run_config, on_token, cancelled):
            def timed(token_id: int, at: float | None = None) -> bool:
                self.produced.append(time.perf_counter())
                self.drawn_at.append(at)
                going_on = on_token(token_id, at)
                self.taken.append(time.perf_counter())
                return going_on

            return backend_generate(prompt_ids, run_config, timed, cancelled)

        def encode_prompt(*args):
            self.encoding.append(time.perf_counter())
            return backend_encode(*args)

        def new_text_decoder(prompt_ids):
            decode = backend_decoder(prompt_ids)

            def timed_decode(token_id):
                text = decode(token_id)
                self.decoded.append(time.perf_counter())
                return text

            return timed_decode

        with monkeypatch.context() as patched:
            patched.setattr(inferencer, "generate", generate)
            patched.setattr(inferencer, "encode_prompt", encode_prompt)
            patched.setattr(inferencer, "new_text_decoder", new_text_decoder)
            if token_loop:
                patched.setattr(inferencer, "_token_loop", timed_loop)
            self.started = time.perf_counter()
            self.result = generate_with(
                inferencer, config, lambda text, n: self.shown.append((time.perf_counter(), n, text))
            )

    @property
    def request(self) -> tuple[float, float]:
        return self.started, self.encoding[0]

    @property
    def first_token(self) -> tuple[float, float]:
        return self.decoded[0], self.first_text_at

    @property
    def last_token(self) -> tuple[float, float]:
        if self.loop_returned:
            drawn_at = self.drawn_at[-1]
            assert self.loop_called[-1] <= drawn_at <= self.loop_returned[-1], "drawn while the loop ran"
            return drawn_at, drawn_at
        return self.produced[-1], self.taken[-1]

    @property
    def first_text_at(self) -> float:
        return self.shown[0][0]

    def seconds_between(self, start: tuple[float, float], end: tuple[float, float]) -> tuple[float, float]:
        """The shortest and longest time from an instant in `start` to one in `end`."""
        return end[0] - start[1], end[1] - start[0]


def per_second(amount: float, seconds: tuple[float, float]) -> tuple[float, float]:
    """The slowest and fastest rate `amount` over a time within `seconds`."""
    shortest, longest = seconds
    return amount / longest, (amount / shortest if shortest > 0 else float("inf"))


@pytest.mark.slow
def test_timings_agree_with_the_tests_own_clock_around_the_token_callbacks(loaded, monkeypatch):
    """TTFT, decode speed and E2E against a clock the test reads itself on both sides of the
    instants they are taken at (memory is checked against the worker's RSS seen from outside in
    test_engine.py)."""
    for role, inferencer in loaded.items():
        run = Clocked(inferencer, ModelConfig(temperature=0, max_tokens=40, mode="raw"), monkeypatch)
        stats = run.result.stats
        n = stats.completion_tokens
        assert n == len(run.produced) == 40, role
        assert run.shown[0][1] == 1 and run.shown[-1][1] == 40, "the first token's text at once, and the last"
        ttft = run.seconds_between(run.request, run.first_token)
        assert ttft[0] <= stats.ttft_s <= ttft[1], (role, ttft)
        e2e = run.seconds_between(run.request, run.last_token)
        assert e2e[0] <= stats.e2e_s <= e2e[1], (role, e2e)
        slowest, fastest = per_second(n - 1, run.seconds_between(run.first_token, run.last_token))
        assert slowest <= stats.decode_tps <= fastest, (role, slowest, fastest)
        slowest, fastest = per_second(stats.prompt_tokens, ttft)
        assert slowest <= stats.prefill_tps <= fastest, (role, slowest, fastest)


@pytest.mark.slow
def test_text_is_shown_at_once_until_there_is_some_then_at_most_every_interval(loaded, monkeypatch):
    """Each shown text wakes the process it goes to; after the first, one every TEXT_INTERVAL_S
    at most, and every token's text arrives, in order, by the end."""
    inferencer = loaded["gguf_f32"]
    is_end = inferencer.is_end_of_sequence

    def slow_is_end(token_id: int) -> bool:  # about 1 ms a token: 150 tokens span several intervals
        time.sleep(0.001)
        return is_end(token_id)

    monkeypatch.setattr(inferencer, "is_end_of_sequence", slow_is_end)
    config = ModelConfig(temperature=0, max_tokens=150, mode="raw")
    run = Clocked(inferencer, config, monkeypatch)
    assert run.result.stats.completion_tokens == 150
    assert "".join(text for _, _, text in run.shown) == run.result.text
    first_text = next(i for i, (_, _, text) in enumerate(run.shown) if text)
    assert [n for _, n, _ in run.shown[: first_text + 1]] == list(range(1, first_text + 2)), (
        "one per token until some text"
    )
    later = [when for when, _, _ in run.shown[first_text:-1]]  # the last comes at the end, whenever that is
    assert len(later) >= 2
    # How many tokens share an update depends on how fast this machine draws them: not asserted.
    assert all(b - a >= TEXT_INTERVAL_S for a, b in itertools.pairwise(later)), [
        (round(b[0] - a[0], 4), b[1], b[2]) for a, b in itertools.pairwise(run.shown[first_text:])
    ]
    monkeypatch.undo()
    assert run.result.text == generate(inferencer, config).text, "the same answer as without the slow check"


@pytest.mark.slow
def test_decode_bytes_per_s_is_the_answer_after_the_first_token_over_the_tests_own_clock(
    loaded, tiny_models, monkeypatch
):
    """The bytes come from transformers' own generate and decode; the time from the test's clock."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = tiny_models["hf"].path
    tokenizer, model = AutoTokenizer.from_pretrained(path), AutoModelForCausalLM.from_pretrained(path)
    input_ids = torch.tensor([tokenizer(PROMPT)["input_ids"]])
    new_ids = model.generate(input_ids, max_new_tokens=40, do_sample=False)[0, input_ids.shape[1] :].tolist()
    after_first = len(tokenizer.decode(new_ids, skip_special_tokens=True).encode()) - len(
        tokenizer.decode(new_ids[:1], skip_special_tokens=True).encode()
    )
    assert after_first > 0
    for role in ("hf", "gguf_f32"):  # the same weights: the same ids, the same text
        run = Clocked(loaded[role], ModelConfig(temperature=0, max_tokens=40, mode="raw"), monkeypatch)
        slowest, fastest = per_second(after_first, run.seconds_between(run.first_token, run.last_token))
        assert slowest <= run.result.stats.decode_bytes_per_s <= fastest, (role, slowest, fastest)


def test_q8_0_quantization_runs_and_stays_close(loaded):
    # Q8_0 keeps the f32 file's top-1 next token at almost every position of a text (llama-perplexity's
    # "same top p"); a different model agrees at about 1 position in the vocabulary size.
    ids = loaded["gguf_f32"].encode_prompt(CLOSENESS_TEXT, "", chat=False)
    assert len(ids) > 150
    f32, q8 = (loaded[role].evaluate(ids).argmax(axis=1).tolist() for role in ("gguf_f32", "gguf_q8"))
    agreement = sum(a == b for a, b in zip(f32, q8)) / len(ids)
    assert agreement >= 0.95, f"Q8_0 agrees with f32 on the top-1 token at only {agreement:.0%} of positions"
    result = generate(loaded["gguf_q8"], ModelConfig(temperature=0, max_tokens=10, mode="raw"))
    assert result.stats.completion_tokens == 10 and result.error is None
    assert greedy_ids(loaded["gguf_q8"], 5) == greedy_ids(loaded["gguf_f32"], 5)


def test_gguf_evaluates_every_position_in_one_call_with_transformers_logits(loaded):
    """The all-logits evaluation likelihood scoring needs: the same weights give the same logits
    as transformers at every position, and the last row is the token greedy generation picks."""
    import numpy as np
    import torch

    ids = loaded["gguf_f32"].encode_prompt(CLOSENESS_TEXT, "", chat=False)
    logits = loaded["gguf_f32"].evaluate(ids)
    with torch.inference_mode():
        reference = loaded["hf"].lm(torch.tensor([ids])).logits[0].float().numpy()
    assert logits.shape == reference.shape == (len(ids), loaded["gguf_f32"].evaluate(ids[:1]).shape[1])
    np.testing.assert_allclose(logits, reference, atol=1e-4)
    prompt_ids = loaded["gguf_f32"].encode_prompt(PROMPT, "", chat=False)
    answer = greedy_ids(loaded["gguf_f32"], 8)
    chosen = loaded["gguf_f32"].evaluate(prompt_ids + answer[:-1]).argmax(axis=1)[len(prompt_ids) - 1 :]
    assert chosen.tolist() == answer


def test_a_gguf_run_after_a_longer_one_gives_what_a_fresh_context_gives(loaded, tiny_models):
    """Between runs the KV cache is only marked empty, as llama-bench does, not zeroed: what the
    cells still hold from an earlier, longer run must not reach the next run's logits or tokens."""
    import numpy as np

    fresh = create_inferencer(tiny_models["gguf_f32"], ModelConfig(n_ctx=512))
    fresh.load()
    try:
        fresh.set_threads(2)
        prompt_ids = fresh.encode_prompt(PROMPT, "", chat=False)
        expected_logits, expected_ids = fresh.evaluate(prompt_ids), greedy_ids(fresh, 12)
    finally:
        fresh.unload()
    used = loaded["gguf_f32"]
    long_ids = used.encode_prompt(CLOSENESS_TEXT * 3, "", chat=False)[:480]
    used.evaluate(long_ids)  # every cell up to 480 now holds this text's keys and values
    sampled_ids(used, ModelConfig(temperature=0.0, max_tokens=20), long_ids[:460], 20)
    np.testing.assert_array_equal(used.evaluate(prompt_ids), expected_logits)
    assert greedy_ids(used, 12) == expected_ids


def test_gguf_sampled_run_is_llama_cpps_own_chain_with_the_runs_seed(loaded, tiny_models):
    """A seeded sampled run draws exactly what llama.cpp's sampler chain draws, built here by hand
    in the documented order (penalties over the last 64 tokens, prompt included -> top-k -> top-p
    -> temperature -> draw with the seed), on a context of the test's own."""
    import llama_cpp as L

    config = ModelConfig(
        temperature=0.9, top_k=30, top_p=0.9, repeat_penalty=1.3, seed=11, max_tokens=25, mode="raw"
    )
    prompt_ids = loaded["gguf_f32"].encode_prompt(PROMPT, "", chat=False)
    ours = sampled_ids(loaded["gguf_f32"], config, prompt_ids, 25)
    assert ours == sampled_ids(loaded["gguf_f32"], config, prompt_ids, 25)
    assert ours != sampled_ids(loaded["gguf_f32"], config.model_copy(update={"seed": 12}), prompt_ids, 25)

    model = L.llama_model_load_from_file(
        str(tiny_models["gguf_f32"].path).encode(), L.llama_model_default_params()
    )
    params = L.llama_context_default_params()
    params.n_ctx, params.n_threads, params.n_threads_batch = 512, 2, 2
    ctx = L.llama_init_from_model(model, params)
    chain = L.llama_sampler_chain_init(L.llama_sampler_chain_default_params())
    for sampler in (
        L.llama_sampler_init_penalties(0, 64, 1.3, 0.0, 0.0),
        L.llama_sampler_init_top_k(30),
        L.llama_sampler_init_top_p(0.9, 1),
        L.llama_sampler_init_temp(0.9),
        L.llama_sampler_init_dist(11),
    ):
        L.llama_sampler_chain_add(chain, sampler)
    try:
        for token_id in prompt_ids:
            L.llama_sampler_accept(chain, token_id)
        tokens = (L.llama_token * len(prompt_ids))(*prompt_ids)
        assert L.llama_decode(ctx, L.llama_batch_get_one(tokens, len(prompt_ids))) == 0
        reference, last = [], (L.llama_token * 1)()
        for _ in range(25):
            last[0] = L.llama_sampler_sample(chain, ctx, -1)
            reference.append(last[0])
            assert L.llama_decode(ctx, L.llama_batch_get_one(last, 1)) == 0
    finally:
        L.llama_sampler_free(chain)
        L.llama_free(ctx)
        L.llama_model_free(model)
    assert ours == reference


def test_chat_mode_applies_the_template_in_both_backends(loaded):
    raw = loaded["hf"].encode_prompt("hi", "", chat=False)
    for role in ("hf", "gguf_f32"):
        chat = loaded[role].encode_prompt("hi", "Be brief.", chat=True)
        assert len(chat) > len(raw) + 3
    assert loaded["hf"].encode_prompt("hi", "Be brief.", chat=True) == loaded["gguf_f32"].encode_prompt(
        "hi", "Be brief.", chat=True
    )
    assert loaded["hf"].use_chat("auto") and not loaded["hf"].use_chat("raw")


def test_system_prompt_changes_the_prompt_in_chat_mode(loaded):
    config = ModelConfig(temperature=0, max_tokens=2, mode="chat", system_prompt="You are terse.")
    with_config_system = generate(loaded["gguf_f32"], config).stats.prompt_tokens
    overridden = generate(loaded["gguf_f32"], config, system="").stats.prompt_tokens
    assert with_config_system > overridden


def test_seeded_sampling_repeats_and_differs_between_seeds(loaded):
    for role in ("hf", "gguf_f32"):

        def sample(seed: int, role: str = role) -> str:
            config = ModelConfig(temperature=1.5, top_k=0, top_p=1.0, seed=seed, max_tokens=20, mode="raw")
            return generate(loaded[role], config).text

        assert sample(1) == sample(1)
        assert sample(1) != sample(2)


def test_stop_string_ends_the_answer_before_it(loaded):
    full = generate(loaded["gguf_f32"], ModelConfig(temperature=0, max_tokens=30, mode="raw")).text
    stop = full[10:13]
    result = generate(loaded["gguf_f32"], ModelConfig(temperature=0, max_tokens=30, mode="raw", stop=[stop]))
    assert result.finish_reason == FinishReason.STOP
    assert result.text == full[: full.index(stop)]


def test_prompt_longer_than_the_context_is_a_clear_error(loaded):
    result = generate(loaded["gguf_f32"], ModelConfig(max_tokens=5, mode="raw"), prompt="x = 1\n" * 400)
    assert result.finish_reason == FinishReason.ERROR
    assert "shorten it or raise n_ctx" in result.error


def test_chat_mode_without_template_is_refused(loaded, monkeypatch):
    monkeypatch.setattr(loaded["gguf_f32"], "template", None)
    with pytest.raises(ConfigurationError, match="no chat template"):
        loaded["gguf_f32"].use_chat("chat")
    assert not loaded["gguf_f32"].use_chat("auto")


def test_backends_report_settings_they_ignore(loaded):
    import llama_cpp

    config = ModelConfig(dtype="bfloat16", n_gpu_layers=4)
    cpu_only = not llama_cpp.llama_supports_gpu_offload()
    gguf_ignored = loaded["gguf_f32"].ignored_settings(config)
    assert set(gguf_ignored) == ({"dtype", "n_gpu_layers"} if cpu_only else {"dtype"})
    if cpu_only:
        assert gguf_ignored["n_gpu_layers"].startswith("this llama.cpp is built for the CPU only")
        assert "n_gpu_layers" not in loaded["gguf_f32"].ignored_settings(ModelConfig())  # auto: no noise
    assert set(loaded["hf"].ignored_settings(config)) == {"n_gpu_layers"}


def test_settings_saved_before_auto_are_not_reported_as_ignored(loaded):
    """Old files hold n_gpu_layers 0 and device cpu: they agree with what each backend does."""
    old = ModelConfig(n_gpu_layers=0, device="cpu")
    assert loaded["gguf_f32"].ignored_settings(old) == {}
    assert loaded["hf"].ignored_settings(old) == {}
    assert loaded["gguf_f32"].ignored_settings(ModelConfig(device="cuda")).keys() == {"device"}


def test_a_run_says_where_it_ran_and_what_auto_came_to(loaded):
    import llama_cpp

    gguf = generate(loaded["gguf_f32"], ModelConfig(temperature=0.0, max_tokens=2))
    if not llama_cpp.llama_supports_gpu_offload():
        assert gguf.device.startswith("CPU, 2 threads")  # the threads the run used
        assert gguf.runtime == {"n_gpu_layers": "0"}
        n_layer = loaded["gguf_f32"].model.metadata.block_count
        assert (gguf.stats.gpu_layers_offloaded, gguf.stats.gpu_layers_total) == (0, n_layer + 1)
    hf = generate(loaded["hf"], ModelConfig(temperature=0.0, max_tokens=2))
    torch_device = loaded["hf"].device
    assert hf.runtime == {"torch_device": torch_device}
    layers = loaded["hf"].lm.config.num_hidden_layers
    assert hf.stats.gpu_layers_total == layers
    assert hf.stats.gpu_layers_offloaded == (0 if torch_device == "cpu" else layers)
    if torch_device == "cpu":
        assert hf.device.startswith("CPU, 2 threads")


@pytest.mark.parametrize(
    ("stops", "chunks", "shown", "hit"),
    [
        (["END"], ["abc", "E", "N", "D tail"], ["abc", "", "", ""], True),
        (["END"], ["abE", "x"], ["ab", "Ex"], False),
        (["\n\n", "###"], ["one\n", "\ntwo"], ["one", ""], True),
        ([], ["a", "b"], ["a", "b"], False),
    ],
)
def test_stop_matcher_holds_back_only_possible_stop_prefixes(stops, chunks, shown, hit):
    matcher = StopMatcher(stops)
    outputs = [matcher.feed(chunk) for chunk in chunks[: len(shown)]]
    assert [text for text, _ in outputs] == shown
    assert outputs[-1][1] is hit


def test_stop_matcher_without_stop_strings_shows_text_at_once_and_never_hidden_text():
    matcher = StopMatcher([])
    assert matcher.feed("def") == ("def", False)
    assert matcher.feed("<|im_end|>", shown=False) == ("", False)
    assert matcher.feed(" x") == (" x", False)
    assert matcher.flush() == ""


def test_unavailable_device_is_a_clear_load_error(tiny_models):
    from llm_compare.core.errors import ModelLoadError

    with pytest.raises(ModelLoadError, match="device 'cuda' is not available on this machine"):
        create_inferencer(tiny_models["hf"], ModelConfig(device="cuda")).load()


def test_a_damaged_gguf_file_is_a_clear_load_error(tiny_models, tmp_path):
    from llm_compare.core.errors import ModelLoadError

    data = Path(tiny_models["gguf_f32"].path).read_bytes()
    damaged = tmp_path / "damaged.gguf"
    damaged.write_bytes(data[: len(data) // 2])
    model = tiny_models["gguf_f32"].__class__.from_dict(
        {**tiny_models["gguf_f32"].to_dict(), "path": str(damaged)}
    )
    with pytest.raises(ModelLoadError, match="llama.cpp could not load .*damaged.gguf"):
        create_inferencer(model, ModelConfig(n_ctx=512)).load()


def test_code_in_a_model_folder_never_runs_unless_trusted(tiny_models, tmp_path):
    import json
    import shutil

    from llm_compare.services.discovery.config_manager import ConfigManager
    from llm_compare.services.discovery.model_manager import ModelManager

    folder = tmp_path / "custom-code"
    shutil.copytree(tiny_models["hf"].path, folder)
    marker = tmp_path / "code-ran"
    (folder / "modeling_evil.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "modeling_evil.EvilForCausalLM"}
    (folder / "config.json").write_text(json.dumps(config))
    model = ModelManager([tmp_path]).inspect(folder)
    create_inferencer(
        model, ConfigManager().get(model)
    ).load()  # the built-in LLaMA class, not the folder's code
    assert not marker.exists()
    # The user turns it on for this one model, in its saved settings.
    ConfigManager().save(model, ModelConfig.parse({"trust_remote_code": True}))
    with pytest.raises(Exception):  # noqa: B017 - the folder's class does not exist; what matters is the import
        create_inferencer(model, ConfigManager().get(model)).load()
    assert marker.read_text() == "ran", "the per-model opt-in is honoured"


def test_a_failed_run_keeps_the_text_held_back_for_a_possible_stop_string(loaded, monkeypatch):
    inferencer = loaded["gguf_f32"]
    text_of_20 = generate(inferencer, ModelConfig(temperature=0, max_tokens=20, mode="raw")).text
    # A stop string that begins with the last characters of the first 20 tokens' text and then
    # never matches: after token 20 the matcher holds those characters back, waiting for the rest.
    stop = text_of_20[-3:] + "\x00never"
    is_end, checked = inferencer.is_end_of_sequence, []

    def failing_at_token_21(token_id: int) -> bool:
        checked.append(token_id)
        if len(checked) == 21:
            raise RuntimeError("the backend broke")
        return is_end(token_id)

    monkeypatch.setattr(inferencer, "is_end_of_sequence", failing_at_token_21)
    result = generate(inferencer, ModelConfig(temperature=0, max_tokens=30, mode="raw", stop=[stop]))
    assert result.finish_reason == FinishReason.ERROR and "the backend broke" in result.error
    assert result.stats.completion_tokens == 20
    assert result.text == text_of_20, "the held-back characters are kept"


@pytest.mark.slow
def test_pytorch_stops_with_length_when_the_context_is_full_as_llama_cpp_does(loaded, tiny_models):
    context = tiny_models["hf"].metadata.context_length
    prompt = "x = 1\n" * 110
    config = ModelConfig(temperature=0, max_tokens=2000, mode="raw", n_ctx=context)
    hf, gguf = (
        generate(loaded["hf"], config, prompt=prompt),
        generate(loaded["gguf_f32"], config, prompt=prompt),
    )
    assert hf.error is None and hf.finish_reason == FinishReason.LENGTH
    assert hf.stats.prompt_tokens + hf.stats.completion_tokens == context
    assert (gguf.finish_reason, gguf.stats.completion_tokens) == (
        hf.finish_reason,
        hf.stats.completion_tokens,
    )


def test_a_prompt_that_never_reaches_the_model_has_no_token_counts(loaded, monkeypatch):
    monkeypatch.setattr(loaded["gguf_f32"], "template", None)
    refused = generate(loaded["gguf_f32"], ModelConfig(max_tokens=5, mode="chat"))
    assert refused.finish_reason == FinishReason.ERROR and "no chat template" in refused.error
    assert refused.stats.prompt_tokens is None and refused.stats.completion_tokens is None
    monkeypatch.undo()
    too_long = generate(loaded["gguf_f32"], ModelConfig(max_tokens=5, mode="raw"), prompt="x = 1\n" * 400)
    assert too_long.stats.prompt_tokens > 512 and too_long.stats.completion_tokens is None


@pytest.fixture(scope="module")
def bf16_folder(tiny_models, tmp_path_factory):
    """The tiny model saved as a bfloat16 checkpoint."""
    import shutil

    import torch
    from transformers import AutoModelForCausalLM

    folder = tmp_path_factory.mktemp("bf16") / "tiny-bf16"
    source = tiny_models["hf"].path
    AutoModelForCausalLM.from_pretrained(source, dtype=torch.bfloat16).save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (Path(source) / name).exists():
            shutil.copy(Path(source) / name, folder / name)
    return folder


@pytest.mark.parametrize(("setting", "loaded_as"), [("auto", "float32"), ("bfloat16", "bfloat16")])
def test_auto_dtype_runs_half_precision_checkpoints_in_float32_on_the_cpu(bf16_folder, setting, loaded_as):
    from llm_compare.services.discovery.model_manager import ModelManager

    model = ModelManager([bf16_folder.parent]).inspect(bf16_folder)
    inferencer = create_inferencer(model, ModelConfig(dtype=setting))
    inferencer.load()
    assert str(next(inferencer.lm.parameters()).dtype) == f"torch.{loaded_as}"  # what torch holds
    assert inferencer.runtime_info() == {"dtype": loaded_as}  # what the run record stores
