"""Random-weight models of a real model's shape and tokenizer, for the real-size tests: an HF
folder stored in bf16 (as published checkpoints are) and an f16 GGUF of the same weights."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class RealShape:
    """A LLaMA's size-deciding hyper-parameters, as its config.json states them."""

    name: str
    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    intermediate_size: int
    vocab: str  # the llama.cpp vocabulary file giving the tokenizer (and the vocabulary size)
    rope_theta: float = 500000.0
    tie_word_embeddings: bool = True
    max_position_embeddings: int = 131072


# LLaMA-3.2-1B's config.json, with LLaMA-3's tokenizer: 1.24 B parameters.
LLAMA_3_2_1B = RealShape(
    "llama-3.2-1b-shape",
    hidden_size=2048,
    num_layers=16,
    num_heads=32,
    num_kv_heads=8,
    intermediate_size=8192,
    vocab="llama-bpe",
)
# A quarter of its layers' width, same vocabulary: 0.26 B parameters, for quicker measurements.
LLAMA_3_MID = RealShape(
    "llama-3-mid-shape",
    hidden_size=1024,
    num_layers=8,
    num_heads=16,
    num_kv_heads=4,
    intermediate_size=4096,
    vocab="llama-bpe",
)
BUILDER_VERSION = 1  # part of the cache key: these builders are not in tests/conftest's fingerprint


def build_real_shape(shape: RealShape, root: Path, seed: int = 1234) -> None:
    """Write `<name>` (HF folder, bf16 safetensors) and `<name>-f16.gguf` under `root`."""
    import gguf
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from llm_compare.modelbuild.gguf_export import GGUFType, export_gguf
    from llm_compare.modelbuild.llama import save_hf_model
    from llm_compare.modelbuild.vocab_files import vocab_file

    source = vocab_file(shape.vocab)
    tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
    eos = tokenizer.eos_token_id
    # The file's own count (LLaMA-3's 128,256): transformers may add a padding token beyond it.
    vocab_size = len(gguf.GGUFReader(source).fields["tokenizer.ggml.tokens"].data)
    config = LlamaConfig(
        hidden_size=shape.hidden_size,
        num_hidden_layers=shape.num_layers,
        num_attention_heads=shape.num_heads,
        num_key_value_heads=shape.num_kv_heads,
        intermediate_size=shape.intermediate_size,
        vocab_size=vocab_size,
        max_position_embeddings=shape.max_position_embeddings,
        rms_norm_eps=1e-5,
        rope_parameters={"rope_type": "default", "rope_theta": shape.rope_theta},
        tie_word_embeddings=shape.tie_word_embeddings,
        bos_token_id=tokenizer.bos_token_id if tokenizer.bos_token_id is not None else eos,
        eos_token_id=eos,
        pad_token_id=None,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config).to(torch.bfloat16).eval()
    hf_dir = save_hf_model(model, tokenizer, Path(root) / shape.name)
    del model
    export_gguf(hf_dir, Path(root) / f"{shape.name}-f16.gguf", GGUFType.F16, vocab_file=source)


def cache_key(shape: RealShape) -> tuple:
    return (BUILDER_VERSION, asdict(shape))


if __name__ == "__main__":  # python -m tests.support.real_size_models DIR [mid]: build one by hand
    import sys

    build_real_shape(LLAMA_3_MID if sys.argv[2:] == ["mid"] else LLAMA_3_2_1B, Path(sys.argv[1]))
