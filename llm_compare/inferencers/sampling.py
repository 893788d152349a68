"""One sampling order on every backend, llama.cpp's: penalties → top-k → top-p → temperature → draw.

The same settings must mean the same on both backends, or a comparison of one model in two formats
is not fair. So both apply, to the logits of the next token, in this order and nothing else:

1. **penalties** (`repeat_penalty`, `repeat_last_n`): every token among the last `repeat_last_n`
   tokens of the sequence — prompt and answer together — has its logit divided by `repeat_penalty`
   when positive, multiplied when not, once however often it occurs (llama.cpp's
   `llama_sampler_penalties`). `repeat_last_n` 0 or `repeat_penalty` 1.0 turns it off. llama.cpp's
   own server and CLI count the prompt in the window (they accept every prompt token into the
   sampler); llama-cpp-python's `Llama` does not, and transformers' processor looks at the whole
   sequence: we follow llama.cpp's server.
2. **top-k** (`top_k`): keep the k highest logits; 0 keeps all.
3. **top-p** (`top_p`): softmax over the tokens still kept, sort them by probability and keep the
   shortest head whose probabilities add up to at least `top_p` (at least one token); 1.0 keeps
   all. Temperature is not applied yet, so top-p always works on temperature-1 probabilities.
4. **temperature** (`temperature`): divide the kept logits by it.
5. **draw**: one token at random from the softmax of what is left, from a generator seeded with
   the run's seed. Temperature 0 means greedy instead: the highest logit after the penalties.
   A seed repeats a run on one backend; the backends' generators differ (llama.cpp's mt19937,
   torch's own), so one seed does not draw the same tokens on both.

llama.cpp gets this as a sampler chain built here (`llama_sampler_chain`); transformers as a
`LogitsProcessorList` (`transformers_sampler_chain`) handed to a greedy `generate`: our last
processor draws and leaves only the drawn token, so generate's argmax takes it. (generate's own
draw, `torch.multinomial`, and a full sort for top-p cost tens of milliseconds a token on a
150,000-token vocabulary; llama.cpp, like we do, sorts only the head of the distribution.) Light
to import: llama_cpp and torch are imported inside the functions that need them.
"""

from __future__ import annotations

from typing import Any

from llm_compare.core.config import SAMPLING_ORDER, ModelConfig

# SAMPLING_ORDER lives in core.config, whose help texts state it; re-exported here beside the code.
__all__ = ["SAMPLING_ORDER", "llama_sampler_chain", "logits_processors", "transformers_sampler_chain"]

# llama.cpp's top-p keeps at least this many tokens (llama-cpp-python's Llama and llama-server use 1).
TOP_P_MIN_KEEP = 1
# Top-p looks at the most likely tokens first and sorts the whole vocabulary only when they hold
# less than top_p (llama.cpp's own heuristic, with the same 256).
TOP_P_HEAD = 256


def llama_sampler_chain(settings: ModelConfig, seed: int, n_vocab: int = 0) -> Any:
    """llama.cpp's sampler chain for `settings`, drawing with `seed` (a 32-bit seed; our 31-bit ones never
    reach 0xFFFFFFFF, which llama.cpp takes as "pick one at random").

    Returns the chain pointer; the caller frees it with `llama_cpp.llama_sampler_free`. For the
    repeat penalty's window to hold the prompt, accept every prompt token into the chain
    (`llama_sampler_accept`) before the first draw; `llama_sampler_sample` accepts each drawn
    token itself. `n_vocab` is read by llama.cpp only when the chain runs on a GPU backend.
    """
    import llama_cpp

    chain = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
    frequency, presence = 0.0, 0.0  # penalties we offer no setting for: off
    samplers = []
    if settings.repeat_penalty != 1.0:  # at 1.0 it changes nothing, yet would count every token
        samplers.append(
            llama_cpp.llama_sampler_init_penalties(
                n_vocab, settings.repeat_last_n, settings.repeat_penalty, frequency, presence
            )
        )
    if settings.greedy:
        samplers.append(llama_cpp.llama_sampler_init_greedy())
    else:
        samplers += [
            llama_cpp.llama_sampler_init_top_k(settings.top_k),
            llama_cpp.llama_sampler_init_top_p(settings.top_p, TOP_P_MIN_KEEP),
            llama_cpp.llama_sampler_init_temp(settings.temperature),
            llama_cpp.llama_sampler_init_dist(seed % 2**32),
        ]
    for sampler in samplers:
        llama_cpp.llama_sampler_chain_add(chain, sampler)  # the chain owns it from now on
    return chain


def transformers_sampler_chain(settings: ModelConfig, seed: int) -> Any:
    """The whole order for transformers, draw included (from a generator seeded with `seed`): a
    LogitsProcessorList for a greedy `generate`, which then takes the one token left."""
    processors = logits_processors(settings)
    if not settings.greedy:
        processors.append(Draw(seed))
    return processors


def logits_processors(settings: ModelConfig) -> Any:
    """Steps 1 to 4 for transformers: a LogitsProcessorList of penalties, top-k, top-p and
    temperature (the steps that change nothing are left out). Greedy keeps only the penalties."""
    from transformers import LogitsProcessorList

    steps: list[Any] = []
    if settings.repeat_penalty != 1.0 and settings.repeat_last_n > 0:
        steps.append(RepeatPenalty(settings.repeat_penalty, settings.repeat_last_n))
    if not settings.greedy:
        if settings.top_k > 0:
            steps.append(TopK(settings.top_k))
        if settings.top_p < 1.0:
            steps.append(TopP(settings.top_p, TOP_P_MIN_KEEP))
        if settings.temperature != 1.0:
            steps.append(Temperature(settings.temperature))
    return LogitsProcessorList(steps)


# Plain callables, not transformers.LogitsProcessor subclasses, so that importing this module does
# not import transformers; LogitsProcessorList calls them as (input_ids, scores) -> scores.


class RepeatPenalty:
    """llama.cpp's repeat penalty over the last `last_n` ids of the sequence (prompt included).
    transformers' RepetitionPenaltyLogitsProcessor looks at the whole sequence instead."""

    def __init__(self, penalty: float, last_n: int):
        self.penalty, self.last_n = penalty, last_n

    def __call__(self, input_ids, scores):
        import torch

        window = input_ids[:, -self.last_n :]
        if window.shape[1] == 0:
            return scores
        logits = torch.gather(scores, 1, window)
        # Multiplying a negative logit makes the token less likely, as dividing a positive one does.
        penalised = torch.where(logits <= 0, logits * self.penalty, logits / self.penalty)
        return scores.scatter(1, window, penalised)  # a repeated id gets the same value each time


class TopK:
    """Keep the `k` highest logits (ties with the k-th are kept too; llama.cpp breaks them in
    sort order, a case random float logits practically never meet)."""

    def __init__(self, k: int):
        self.k = k

    def __call__(self, input_ids, scores):
        import torch

        if self.k >= scores.shape[-1]:
            return scores
        kth = torch.topk(scores, self.k, dim=-1).values[..., -1:]
        return scores.masked_fill(scores < kth, float("-inf"))


class TopP:
    """llama.cpp's top-p: the shortest head, by probability, whose probabilities add up to at least
    `p`, and at least `min_keep` tokens. transformers' TopPLogitsWarper removes the tail whose mass
    is at most 1 - p instead: the same set in exact arithmetic, not always in float32."""

    def __init__(self, p: float, min_keep: int):
        self.p, self.min_keep = p, min_keep

    def __call__(self, input_ids, scores):
        import torch

        log_total = torch.logsumexp(scores, dim=-1, keepdim=True)
        logits, ids = torch.topk(scores, min(TOP_P_HEAD, scores.shape[-1]), dim=-1)  # most likely first
        running = torch.cumsum((logits - log_total).exp(), dim=-1)
        if not bool((running[..., -1] >= self.p).all()):  # the head holds less than p: sort everything
            logits, ids = torch.sort(scores, dim=-1, descending=True)
            running = torch.cumsum((logits - log_total).exp(), dim=-1)
        # llama.cpp stops at the first token that brings the running sum to p, and keeps it: a
        # token is kept when the running sum up to the token above it is still below p.
        keep = torch.ones_like(running, dtype=torch.bool)
        keep[..., 1:] = running[..., :-1] < self.p
        keep[..., : self.min_keep] = True
        kept = torch.full_like(scores, float("-inf"))
        return kept.scatter(-1, ids, logits.masked_fill(~keep, float("-inf")))


class Temperature:
    def __init__(self, temperature: float):
        self.temperature = temperature

    def __call__(self, input_ids, scores):
        return scores / self.temperature


class Draw:
    """llama.cpp's dist sampler: one uniform number from a generator seeded with `seed` picks the
    token where the running sum of the probabilities passes it. Leaves that token alone finite,
    for generate's argmax."""

    def __init__(self, seed: int):
        import torch

        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, input_ids, scores):
        import torch

        running = torch.cumsum(scores.softmax(dim=-1), dim=-1)
        uniform = torch.rand((scores.shape[0], 1), generator=self.generator).to(scores.device)
        target = uniform * running[..., -1:]
        # right=True: the first token whose running sum exceeds the target, never a removed one.
        drawn = torch.searchsorted(running, target, right=True).clamp(max=scores.shape[-1] - 1)
        return torch.full_like(scores, float("-inf")).scatter(-1, drawn, 0.0)
