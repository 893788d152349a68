"""llama.cpp's sampler chain for a run's settings (placeholder: the `sampler` branch owns this file)."""

from __future__ import annotations

from llm_compare.core.config import ModelConfig


def llama_sampler_chain(settings: ModelConfig, seed: int):
    """penalties (window `repeat_last_n`) -> top-k -> top-p -> temperature -> draw with `seed`;
    greedy when the temperature is 0. The caller frees the chain with llama_sampler_free."""
    import llama_cpp as L

    chain = L.llama_sampler_chain_init(L.llama_sampler_chain_default_params())
    window = getattr(settings, "repeat_last_n", 64)
    L.llama_sampler_chain_add(chain, L.llama_sampler_init_penalties(0, window, settings.repeat_penalty, 0.0, 0.0))
    if settings.temperature == 0.0:
        L.llama_sampler_chain_add(chain, L.llama_sampler_init_greedy())
        return chain
    L.llama_sampler_chain_add(chain, L.llama_sampler_init_top_k(settings.top_k))
    L.llama_sampler_chain_add(chain, L.llama_sampler_init_top_p(settings.top_p, 1))
    L.llama_sampler_chain_add(chain, L.llama_sampler_init_temp(settings.temperature))
    L.llama_sampler_chain_add(chain, L.llama_sampler_init_dist(seed))
    return chain
