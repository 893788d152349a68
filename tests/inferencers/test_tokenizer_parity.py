"""Text does not depend on the backend, on real tokenizers: Llama 2's SentencePiece and Qwen2's large
BPE with its chat template, each in a tiny random LLaMA written as an HF folder and as GGUF."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import llama_cpp
import pytest

from llm_compare.core.config import ModelConfig
from llm_compare.core.results import FinishReason, InferenceResult
from llm_compare.inferencers.base import LocalInferencer, create_inferencer
from llm_compare.inferencers.generation import run_generation
from llm_compare.modelbuild.real_tokenizer import RealTokenizerLlama, with_swapped_output_rows
from llm_compare.modelbuild.vocab_files import tokenizer_test_vectors
from llm_compare.services.discovery.model_manager import ModelManager
from tests.support.llama_cpp_text import llama_detokenize

# With the test-model cache cold, a fixture builds the qwen2 model (151,936 tokens) first: 90 s
# of a test's time at a load average of 6-9 on 2 cores.
pytestmark = pytest.mark.timeout(300)

# GPT-2's vocabulary switches on llama_detokenize's clean_spaces (" ?" -> "?"), as Llama 3's does.
VOCABS = ["llama-spm", "qwen2", "gpt-2"]
PROMPT = "Hello, y'all! How are you 😁 ? Cửa Việt"
RAW_SPECIAL_PROMPTS = {
    "llama-spm": "<s>[INST] hi [/INST] ok </s>",
    "qwen2": "<|im_start|>user\nhi<|im_end|>\n",
    "gpt-2": "hi , you<|endoftext|>ok",
}
SPACED_PUNCTUATION = "Hello , world . Is it ? Yes ! it 's I 'm they 're x ' y"


@dataclass
class Pair:
    """One model loaded in both backends."""

    vocab: str
    hf: LocalInferencer
    gguf: LocalInferencer

    @property
    def both(self) -> tuple[LocalInferencer, LocalInferencer]:
        return self.hf, self.gguf


def load_pair(model: RealTokenizerLlama) -> Pair:
    manager = ModelManager([model.hf_dir.parent])
    loaded = []
    for path in (model.hf_dir, model.gguf_f32):
        inferencer = create_inferencer(manager.inspect(path), ModelConfig(n_ctx=512))
        inferencer.load()
        inferencer.set_threads(2)
        loaded.append(inferencer)
    return Pair(model.vocab, *loaded)


def unload(pair: Pair) -> None:
    for inferencer in pair.both:
        inferencer.unload()


@pytest.fixture(scope="module", params=VOCABS)
def pair(request, real_tokenizer_llama) -> Iterator[Pair]:
    loaded = load_pair(real_tokenizer_llama(request.param))
    yield loaded
    unload(loaded)


def generate(inferencer: LocalInferencer, config: ModelConfig, prompt: str = PROMPT) -> InferenceResult:
    return run_generation(
        inferencer,
        prompt=prompt,
        system_prompt=None,
        config=config,
        cancelled=lambda: False,
        emit=lambda text, n: None,
        load_s=0.0,
        warm=False,
    )


def greedy_ids(inferencer: LocalInferencer, prompt_ids: list[int], n: int) -> list[int]:
    """The ids the backend generates, end tokens included, straight from `generate`."""
    ids: list[int] = []

    def on_token(token_id: int, at: float | None = None) -> bool:
        ids.append(token_id)
        return len(ids) < n

    inferencer.generate(prompt_ids, ModelConfig(temperature=0.0, max_tokens=n), on_token, lambda: False)
    return ids


def text_after_prompt(hf: LocalInferencer, prompt_ids: list[int], ids: list[int]) -> str:
    """The reference: what decoding prompt and answer at once with transformers adds to the prompt."""

    def decode(ids: list[int]) -> str:
        return hf.tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)

    whole, prompt = decode(prompt_ids + ids), decode(prompt_ids)
    assert whole.startswith(prompt)
    return whole[len(prompt) :]


def summary(result: InferenceResult) -> tuple:
    return (
        result.text,
        result.finish_reason,
        result.stats.completion_tokens,
        result.stats.prompt_tokens,
        result.error is None,
    )


def test_prompt_ids_are_llama_cpps_expected_ids_in_both_backends(pair):
    vectors = tokenizer_test_vectors(pair.vocab)
    assert len(vectors) > 30
    bos = pair.gguf.bos_id
    for text, expected in vectors:
        hf_ids, gguf_ids = (inferencer.encode_prompt(text, "", chat=False) for inferencer in pair.both)
        assert hf_ids == gguf_ids, text
        # The vectors are without BOS; a raw prompt starts with it when the tokenizer adds one.
        assert hf_ids in (expected, [bos] + expected), text
    special = RAW_SPECIAL_PROMPTS[pair.vocab]
    assert pair.hf.encode_prompt(special, "", chat=False) == pair.gguf.encode_prompt(special, "", chat=False)


def test_chat_prompt_ids_are_identical_in_both_backends(pair):
    assert pair.hf.has_chat_template() == pair.gguf.has_chat_template() == (pair.vocab == "qwen2")
    if pair.hf.has_chat_template():
        for system in ("", "Be brief."):
            ids = [inferencer.encode_prompt(PROMPT, system, chat=True) for inferencer in pair.both]
            assert ids[0] == ids[1]
            assert pair.hf.tokenizer.convert_tokens_to_ids("<|im_start|>") in ids[0]


def test_streamed_text_is_what_decoding_prompt_and_answer_at_once_adds(pair):
    """SentencePiece's leading space, byte-fallback and byte-level pieces, pieces over 32 bytes."""
    vocab = pair.hf.tokenizer.get_vocab()
    longest = sorted((t for t in vocab if not t.startswith("<")), key=len)[-3:]
    sequences = [ids for _, ids in tokenizer_test_vectors(pair.vocab) if ids]
    sequences.append([vocab[t] for t in longest])
    prompt_ids = pair.hf.encode_prompt("Q:", "", chat=False)
    for ids in sequences:
        reference = text_after_prompt(pair.hf, prompt_ids, ids)
        for inferencer in pair.both:
            decode = inferencer.new_text_decoder(prompt_ids)
            streamed = "".join(decode(token_id) for token_id in ids) + decode(None)
            assert streamed == reference, (type(inferencer).__name__, ids)


def test_gguf_text_keeps_spaces_llama_detokenize_would_tidy_as_llama_cpps_server_does(real_tokenizer_llama):
    """llama.cpp's server and tools build an answer from its tokens' pieces; only llama_detokenize
    tidies spaces. The answer streams as the pieces spell it, as transformers decodes it."""
    model = real_tokenizer_llama("gpt-2")
    vocab = llama_cpp.Llama(model_path=str(model.gguf_f32), vocab_only=True, verbose=False)
    pair = load_pair(model)
    try:
        ids = pair.hf.tokenizer(SPACED_PUNCTUATION, add_special_tokens=False)["input_ids"]
        assert llama_detokenize(vocab, ids) != SPACED_PUNCTUATION  # this vocabulary's clean_spaces is on
        assert vocab.detokenize(ids).decode() == SPACED_PUNCTUATION  # llama-cpp-python: the pieces joined
        prompt_ids = pair.hf.encode_prompt("Q:", "", chat=False)
        for inferencer in pair.both:
            decode = inferencer.new_text_decoder(prompt_ids)
            assert "".join(decode(token_id) for token_id in ids) + decode(None) == SPACED_PUNCTUATION
        assert text_after_prompt(pair.hf, prompt_ids, ids) == SPACED_PUNCTUATION
    finally:
        unload(pair)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["raw", "chat"])
def test_greedy_answers_are_identical_in_both_backends(pair, mode):
    config = ModelConfig(temperature=0, max_tokens=40, mode=mode)
    hf, gguf = generate(pair.hf, config), generate(pair.gguf, config)
    assert summary(hf) == summary(gguf)
    if mode == "chat" and not pair.hf.has_chat_template():
        assert "no chat template" in hf.error and "no chat template" in gguf.error
        return
    assert hf.error is None and hf.stats.completion_tokens > 0
    prompt_ids = pair.hf.encode_prompt(PROMPT, "", chat=mode == "chat")
    ids = greedy_ids(pair.hf, prompt_ids, hf.stats.completion_tokens)
    assert greedy_ids(pair.gguf, prompt_ids, hf.stats.completion_tokens) == ids
    assert hf.text == text_after_prompt(pair.hf, prompt_ids, ids)


@pytest.mark.slow
def test_stop_string_from_the_answer_ends_both_backends_alike(pair):
    full = generate(pair.gguf, ModelConfig(temperature=0, max_tokens=40, mode="raw")).text
    stop = full.strip()[8:11]
    assert len(stop) == 3
    config = ModelConfig(temperature=0, max_tokens=40, mode="raw", stop=[stop])
    hf, gguf = generate(pair.hf, config), generate(pair.gguf, config)
    assert summary(hf) == summary(gguf)
    assert hf.finish_reason == FinishReason.STOP and hf.text == full[: full.index(stop)]


# --- Special tokens in the answer: the random qwen2 model made to say them at known steps ---

# A 1-layer random model's chat answer hardly depends on the prompt, so the second is a raw completion.
END_PROMPT, END_MODE = PROMPT, "chat"
START_PROMPT, START_MODE = "Write one line about the sea.", "raw"


@dataclass
class SaysSpecialTokens:
    pair: Pair
    end_step: int  # where the answer to END_PROMPT says <|im_end|>
    end_text: str  # the original answer's text before that step
    start_step: int  # where the answer to START_PROMPT says <|im_start|>
    start_text: str


@pytest.fixture(scope="module")
def says_special_tokens(real_tokenizer_llama, cached_real_tokenizer_llama) -> Iterator[SaysSpecialTokens]:
    """The qwen2 model with two output rows swapped each way: its greedy answer to END_PROMPT
    says <|im_end|> where it said a token found nowhere else in either answer, and its answer to
    START_PROMPT says <|im_start|> likewise. Everything before those steps is unchanged."""
    model = real_tokenizer_llama("qwen2")
    original = create_inferencer(
        ModelManager([model.gguf_f32.parent]).inspect(model.gguf_f32), ModelConfig(n_ctx=512)
    )
    original.load()
    runs = ((END_PROMPT, END_MODE), (START_PROMPT, START_MODE))
    answers = {
        p: greedy_ids(original, original.encode_prompt(p, "", chat=mode == "chat"), 20) for p, mode in runs
    }
    end_id, start_id = (original.tokenize(t, add_bos=False)[0] for t in ("<|im_end|>", "<|im_start|>"))
    assert not {end_id, start_id} & {*answers[END_PROMPT], *answers[START_PROMPT]}

    def unique_step(own: list[int], other: list[int]) -> int:
        return next(k for k in range(3, len(own)) if own[k] not in own[:k] and own[k] not in other)

    end_step = unique_step(answers[END_PROMPT], answers[START_PROMPT])
    start_step = unique_step(answers[START_PROMPT], answers[END_PROMPT])
    texts = [
        generate(original, ModelConfig(temperature=0, max_tokens=k, mode=mode), prompt=p).text
        for (p, mode), k in zip(runs, (end_step, start_step))
    ]
    original.unload()
    swaps = [(answers[END_PROMPT][end_step], end_id), (answers[START_PROMPT][start_step], start_id)]
    name = "qwen2-says-special"
    changed = cached_real_tokenizer_llama(
        name, model.vocab, lambda folder: with_swapped_output_rows(model, swaps, folder, name), swaps
    )
    pair = load_pair(changed)
    yield SaysSpecialTokens(pair, end_step, texts[0], start_step, texts[1])
    unload(pair)


def test_end_of_turn_token_ends_the_answer_though_the_config_names_only_eos(says_special_tokens):
    pair = says_special_tokens.pair
    generation = json.loads((Path(pair.hf.model.path) / "generation_config.json").read_text())
    eos = generation["eos_token_id"]
    assert pair.hf.tokenizer.convert_tokens_to_ids("<|im_end|>") not in (
        eos if isinstance(eos, list) else [eos]
    )
    config = ModelConfig(temperature=0, max_tokens=30, mode=END_MODE)
    hf, gguf = (generate(inferencer, config, prompt=END_PROMPT) for inferencer in pair.both)
    assert summary(hf) == summary(gguf)
    expected = (FinishReason.STOP, says_special_tokens.end_step, says_special_tokens.end_text)
    assert (hf.finish_reason, hf.stats.completion_tokens, hf.text) == expected


@pytest.mark.slow
def test_stop_string_naming_a_special_token_matches_it_but_the_answer_never_shows_it(says_special_tokens):
    pair, step = says_special_tokens.pair, says_special_tokens.start_step
    config = ModelConfig(temperature=0, max_tokens=30, mode=START_MODE, stop=["<|im_start|>"])
    hf, gguf = (generate(inferencer, config, prompt=START_PROMPT) for inferencer in pair.both)
    assert summary(hf) == summary(gguf)
    # The token that produced the stop string is counted (docs/metrics.md); its text is not shown.
    assert (hf.finish_reason, hf.stats.completion_tokens, hf.text) == (
        FinishReason.STOP,
        step + 1,
        says_special_tokens.start_text,
    )
    unstopped = ModelConfig(temperature=0, max_tokens=step + 4, mode=START_MODE)
    hf, gguf = (generate(inferencer, unstopped, prompt=START_PROMPT) for inferencer in pair.both)
    assert summary(hf) == summary(gguf)
    assert hf.stats.completion_tokens == step + 4 and hf.text.startswith(says_special_tokens.start_text)
    assert "<|im_start|>" not in hf.text
