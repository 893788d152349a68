"""Build a seeded random LLaMA and save it as a Hugging Face folder with tokenizer and generation defaults."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

# Sampling defaults written to generation_config.json, so model discovery has real values to read.
DEFAULT_TEMPERATURE = 0.7
DEFAULT_TOP_P = 0.95
DEFAULT_TOP_K = 40


@dataclass(frozen=True)
class LlamaShape:
    """The hyper-parameters that decide a LLaMA's size."""

    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    vocab_size: int
    max_position_embeddings: int = 512
    num_kv_heads: int | None = None  # None: same as num_heads (no grouped-query attention)


def llama_config(shape: LlamaShape, eos_token_id: int, pad_token_id: int) -> LlamaConfig:
    """The `LlamaConfig` for `shape`; untied embeddings keep the GGUF export to plain tensor copies."""
    return LlamaConfig(
        hidden_size=shape.hidden_size,
        num_hidden_layers=shape.num_layers,
        num_attention_heads=shape.num_heads,
        num_key_value_heads=shape.num_kv_heads or shape.num_heads,
        intermediate_size=shape.intermediate_size,
        vocab_size=shape.vocab_size,
        max_position_embeddings=shape.max_position_embeddings,
        rms_norm_eps=1e-5,
        tie_word_embeddings=False,
        # The tokenizer has no BOS token; <|endoftext|> plays BOS's role, as in GPT-2.
        bos_token_id=eos_token_id,
        eos_token_id=eos_token_id,
        pad_token_id=pad_token_id,
    )


# Random-weight models are compared across backends by their greedy tokens. With the default init
# (std 0.02 everywhere) the top two logits are often closer than the error llama.cpp's f16 KV cache
# introduces (~1e-4), so greedy outputs could legitimately differ. Unit-scale token embeddings make
# the residual stream dominated by exact values: over 30 prompts x 40 tokens the smallest top-2 gap
# went from 0.24x to 10x that error, and generation still varies (no two-token loops).
PARITY_SAFE_EMBEDDING_STD = 1.0


def random_llama(
    shape: LlamaShape,
    tokenizer: PreTrainedTokenizerFast,
    seed: int,
    embedding_std: float | None = PARITY_SAFE_EMBEDDING_STD,
) -> LlamaForCausalLM:
    """A LLaMA with seeded random weights, sized for `tokenizer`'s vocabulary.

    `embedding_std` None keeps transformers' init (what training should start from).
    """
    if len(tokenizer) > shape.vocab_size:
        raise ValueError(f"tokenizer has {len(tokenizer)} tokens, more than vocab_size {shape.vocab_size}")
    config = llama_config(shape, tokenizer.eos_token_id, tokenizer.pad_token_id)
    # fork_rng: seeding must not change the caller's global random state.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
        if embedding_std is not None:
            with torch.no_grad():
                model.model.embed_tokens.weight.normal_(0.0, embedding_std)
    return model.eval()


def generation_config_for(model: LlamaForCausalLM) -> GenerationConfig:
    return GenerationConfig(
        do_sample=True,  # the sampling values below are only valid (and saved) with sampling on
        temperature=DEFAULT_TEMPERATURE,
        top_p=DEFAULT_TOP_P,
        top_k=DEFAULT_TOP_K,
        bos_token_id=model.config.bos_token_id,
        eos_token_id=model.config.eos_token_id,
        pad_token_id=model.config.pad_token_id,
    )


def save_hf_model(model: LlamaForCausalLM, tokenizer: PreTrainedTokenizerFast, out_dir: Path) -> Path:
    """Write weights (safetensors), config, tokenizer and generation_config.json into `out_dir`."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.generation_config = generation_config_for(model)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    _name_portable_tokenizer_class(out_dir / "tokenizer_config.json")
    return out_dir


def _name_portable_tokenizer_class(tokenizer_config: Path) -> None:
    # transformers 5 writes "TokenizersBackend", a class transformers 4 lacks; both versions load
    # "PreTrainedTokenizerFast" as the same tokenizer.json-backed class.
    config = json.loads(tokenizer_config.read_text(encoding="utf-8"))
    if config.get("tokenizer_class") == "TokenizersBackend":
        config["tokenizer_class"] = "PreTrainedTokenizerFast"
        tokenizer_config.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def count_parameters(model: torch.nn.Module) -> int:
    """All weights, embeddings and head included."""
    return sum(p.numel() for p in model.parameters())
