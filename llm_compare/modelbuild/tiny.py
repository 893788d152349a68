"""Small random-weight LLaMAs in both formats, for test fixtures and benchmarks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from llm_compare.modelbuild.corpus import load_stdlib_documents
from llm_compare.modelbuild.gguf_export import GGUFType, export_gguf
from llm_compare.modelbuild.llama import LlamaShape, count_parameters, random_llama, save_hf_model
from llm_compare.modelbuild.tokenizer import build_tokenizer

TINY_SHAPE = LlamaShape(hidden_size=64, num_layers=2, num_heads=4, intermediate_size=128, vocab_size=768)
_TINY_TOKENIZER_TEXT_BYTES = 1_500_000
_SEED = 1234


@dataclass(frozen=True)
class TinyModels:
    """One tiny random LLaMA as a Hugging Face folder and as GGUF (f32 and Q8_0)."""

    hf_dir: Path
    gguf_f32: Path
    gguf_q8: Path


@dataclass(frozen=True)
class RandomLlama:
    """A random LLaMA as a Hugging Face folder and an f32 GGUF file."""

    hf_dir: Path
    gguf_f32: Path
    parameters: int


def build_tiny_models(out_dir: Path) -> TinyModels:
    """Build the tiny test models under `out_dir` (a few seconds, same bytes every time)."""
    out_dir = Path(out_dir)
    hf_dir = out_dir / "tiny-llama"
    tokenizer = build_tokenizer(
        (d.text for d in load_stdlib_documents(_TINY_TOKENIZER_TEXT_BYTES)),
        vocab_size=TINY_SHAPE.vocab_size,
        model_max_length=TINY_SHAPE.max_position_embeddings,
    )
    save_hf_model(random_llama(TINY_SHAPE, tokenizer, seed=_SEED), tokenizer, hf_dir)
    gguf_f32 = out_dir / "tiny-llama-f32.gguf"
    gguf_q8 = out_dir / "tiny-llama-q8_0.gguf"
    export_gguf(hf_dir, gguf_f32, GGUFType.F32)
    export_gguf(hf_dir, gguf_q8, GGUFType.Q8_0)
    return TinyModels(hf_dir=hf_dir, gguf_f32=gguf_f32, gguf_q8=gguf_q8)


def build_random_llama(
    out_dir: Path,
    hidden: int,
    layers: int,
    heads: int,
    intermediate: int,
    vocab: int,
    name: str = "random-llama",
    max_position_embeddings: int = 2048,
    seed: int = _SEED,
) -> RandomLlama:
    """A random LLaMA of any size (e.g. ~25-30 M parameters for benchmarks) as HF folder + f32 GGUF."""
    out_dir = Path(out_dir)
    shape = LlamaShape(hidden, layers, heads, intermediate, vocab, max_position_embeddings)
    # Enough text for the merges a larger vocabulary needs; the tokenizer is trained in seconds.
    text_bytes = max(_TINY_TOKENIZER_TEXT_BYTES, vocab * 500)
    tokenizer = build_tokenizer(
        (d.text for d in load_stdlib_documents(text_bytes)),
        vocab_size=vocab,
        model_max_length=max_position_embeddings,
    )
    model = random_llama(shape, tokenizer, seed=seed)
    parameters = count_parameters(model)
    hf_dir = save_hf_model(model, tokenizer, out_dir / name)
    gguf_f32 = out_dir / f"{name}-f32.gguf"
    export_gguf(hf_dir, gguf_f32, GGUFType.F32)
    return RandomLlama(hf_dir=hf_dir, gguf_f32=gguf_f32, parameters=parameters)
