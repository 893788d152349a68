"""One sampling order on both backends: llama.cpp's sampler chain and our transformers processors,
fed the same logits and the same history, keep the same tokens with the same probabilities."""

import ctypes
import itertools

import numpy as np
import pytest

from llm_compare.core.config import ModelConfig
from llm_compare.inferencers.sampling import (
    SAMPLING_ORDER,
    llama_sampler_chain,
    logits_processors,
    transformers_sampler_chain,
)

VOCAB = 500
WINDOW = 32


@pytest.fixture(scope="module")
def logits() -> np.ndarray:
    # Spread wide enough that top-p 0.5 keeps a handful of tokens and 0.9 a few dozen.
    return (np.random.default_rng(8).normal(size=VOCAB) * 2.5).astype(np.float32)


@pytest.fixture(scope="module")
def history(logits) -> list[int]:
    """120 ids that repeat the most likely tokens; the oldest ones fall outside the window, so a
    penalty over the whole sequence would keep a different set."""
    rng = np.random.default_rng(9)
    likely = np.argsort(-logits)
    old = rng.choice(likely[:10], size=88)
    # Two of the three most likely, and positive and negative logits, inside the window too.
    recent = rng.choice(np.concatenate([likely[[0, 2]], likely[10:25], likely[-5:]]), size=WINDOW)
    return [int(i) for i in np.concatenate([old, recent])]


def apply_llama_chain(settings: ModelConfig, logits: np.ndarray, history: list[int]) -> list[tuple]:
    """(token id, probability) of each candidate llama.cpp's chain keeps, its draw first: what the
    chain leaves after accepting `history`, as the GGUF backend accepts the prompt and the answer."""
    import llama_cpp

    chain = llama_sampler_chain(settings, seed=1234, n_vocab=len(logits))
    try:
        for token in history:
            llama_cpp.llama_sampler_accept(chain, token)
        data = (llama_cpp.llama_token_data * len(logits))(
            *(llama_cpp.llama_token_data(i, float(x), 0.0) for i, x in enumerate(logits))
        )
        candidates = llama_cpp.llama_token_data_array(data=data, size=len(logits), selected=-1, sorted=False)
        llama_cpp.llama_sampler_apply(chain, ctypes.byref(candidates))
    finally:
        llama_cpp.llama_sampler_free(chain)
    kept = [(candidates.data[i].id, candidates.data[i].p) for i in range(candidates.size)]
    return [kept[candidates.selected], *kept]


def llama_cpp_candidates(settings: ModelConfig, logits: np.ndarray, history: list[int]) -> dict[int, float]:
    """Token id -> probability just before the draw: the dist sampler that ends the chain writes
    the normalised probabilities of the candidates it draws from."""
    drawn, *kept = apply_llama_chain(settings, logits, history)
    assert drawn in kept
    return dict(kept)


def transformers_scores(settings: ModelConfig, logits: np.ndarray, history: list[int]):
    import torch

    return logits_processors(settings)(torch.tensor([history]), torch.tensor(logits).unsqueeze(0))[0]


def transformers_candidates(settings: ModelConfig, logits: np.ndarray, history: list[int]) -> dict:
    import torch

    probs = transformers_scores(settings, logits, history).softmax(dim=-1)
    return {int(i): float(probs[i]) for i in torch.nonzero(probs).flatten()}


GRID = list(itertools.product([0.5, 1.0, 1.5], [0, 1, 5, 40], [0.5, 0.9, 1.0], [1.0, 1.3]))


@pytest.mark.parametrize(("temperature", "top_k", "top_p", "repeat_penalty"), GRID)
def test_both_backends_keep_the_same_candidates_with_the_same_probabilities(
    logits, history, temperature, top_k, top_p, repeat_penalty
):
    settings = ModelConfig(
        temperature=temperature, top_k=top_k, top_p=top_p, repeat_penalty=repeat_penalty, repeat_last_n=WINDOW
    )
    llama = llama_cpp_candidates(settings, logits, history)
    ours = transformers_candidates(settings, logits, history)
    assert set(ours) == set(llama)
    assert max(abs(ours[i] - llama[i]) for i in llama) < 1e-5
    assert abs(sum(ours.values()) - 1) < 1e-5


def test_the_grid_exercises_every_step(logits, history):
    """The grid is not trivial: each step changes the candidate set or the probabilities."""
    neutral = ModelConfig(temperature=1.0, top_k=0, top_p=1.0, repeat_last_n=WINDOW)

    def kept(**changes):
        return transformers_candidates(neutral.updated(**changes), logits, history)

    base = kept()
    assert len(base) == VOCAB
    assert len(kept(top_k=5)) == 5
    assert 1 < len(kept(top_p=0.5)) < len(kept(top_p=0.9)) < VOCAB
    assert set(kept(top_p=0.5, repeat_penalty=1.3)) != set(kept(top_p=0.5))  # the penalty moves the nucleus
    # top-p is reckoned at temperature 1: temperature changes the probabilities, never the set.
    assert set(kept(top_p=0.9, temperature=1.5)) == set(kept(top_p=0.9))
    assert kept(top_p=0.9, temperature=1.5) != kept(top_p=0.9)


@pytest.mark.parametrize("window", [0, 8, WINDOW, 1000])
def test_the_penalty_looks_at_the_last_repeat_last_n_tokens_of_the_sequence(logits, history, window):
    settings = ModelConfig(temperature=1.0, top_k=0, top_p=1.0, repeat_penalty=1.3, repeat_last_n=window)
    llama = llama_cpp_candidates(settings, logits, history)
    ours = transformers_candidates(settings, logits, history)
    assert max(abs(ours[i] - llama[i]) for i in llama) < 1e-5
    penalised = transformers_scores(settings, logits, history).numpy() != logits
    assert set(np.flatnonzero(penalised)) == (set(history[-window:]) if window else set())


@pytest.mark.parametrize("repeat_penalty", [1.0, 1.3])
def test_greedy_takes_the_highest_penalised_logit_on_both_sides(logits, history, repeat_penalty):
    settings = ModelConfig(temperature=0.0, repeat_penalty=repeat_penalty, repeat_last_n=WINDOW)
    drawn, *_ = apply_llama_chain(settings, logits, history)
    assert drawn[0] == int(transformers_scores(settings, logits, history).argmax())


def test_every_sampling_setting_states_the_order():
    for name in ("temperature", "top_p", "top_k", "repeat_penalty", "repeat_last_n"):
        assert SAMPLING_ORDER in ModelConfig.model_fields[name].description
    assert ModelConfig().repeat_last_n == 64  # llama.cpp's default window, on both backends


def test_top_p_agrees_when_the_most_likely_256_tokens_hold_less_than_p():
    """Nearly flat logits: our top-p must look past its first 256 tokens, as llama.cpp does."""
    flat = (np.random.default_rng(10).normal(size=1000) * 0.1).astype(np.float32)
    settings = ModelConfig(temperature=1.0, top_k=0, top_p=0.9)
    llama, ours = llama_cpp_candidates(settings, flat, []), transformers_candidates(settings, flat, [])
    assert 256 < len(ours) < 1000
    assert set(ours) == set(llama)
    assert max(abs(ours[i] - llama[i]) for i in llama) < 1e-5


def test_the_draw_follows_the_probabilities_and_its_seed(logits):
    import torch

    settings = ModelConfig(temperature=1.5, top_k=5, top_p=1.0)
    expected = transformers_candidates(settings, logits, [])

    def drawn(seed: int, draws: int) -> list[int]:
        chain = transformers_sampler_chain(settings, seed)
        scores = torch.tensor(logits).unsqueeze(0)
        return [int(chain(torch.tensor([[0]]), scores.clone()).argmax()) for _ in range(draws)]

    draws = drawn(seed=3, draws=5000)
    for token, p in expected.items():
        n = draws.count(token)
        assert abs(n - len(draws) * p) < 5 * (len(draws) * p * (1 - p)) ** 0.5  # within 5 standard deviations
    assert drawn(seed=3, draws=100) == draws[:100]  # the same seed draws the same tokens
    assert drawn(seed=4, draws=100) != draws[:100]
