"""Tiny random LLaMAs that use real tokenizers (llama.cpp's vocabulary files), built once per machine."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from llm_compare.modelbuild.real_tokenizer import RealTokenizerLlama, build_real_tokenizer_llama


@pytest.fixture(scope="session")
def cached_real_tokenizer_llama(model_cache) -> Callable[..., RealTokenizerLlama]:
    """`cached(name, vocab, build, *key_parts)`: the RealTokenizerLlama `build(folder)` writes as
    `name` (HF folder) and one GGUF file, built once per machine (see tests/conftest.py)."""

    def cached(name: str, vocab: str, build: Callable[[Path], object], *key_parts) -> RealTokenizerLlama:
        folder = model_cache(name, build, vocab, *key_parts)
        [gguf_f32] = folder.glob("*.gguf")
        return RealTokenizerLlama(vocab=vocab, name=name, hf_dir=folder / name, gguf_f32=gguf_f32)

    return cached


@pytest.fixture(scope="session")
def real_tokenizer_llama(
    llama_cpp_vocab_dir, cached_real_tokenizer_llama
) -> Callable[[str], RealTokenizerLlama]:
    """The model for a llama.cpp vocabulary such as `llama-spm` or `qwen2`."""

    def build(vocab: str) -> RealTokenizerLlama:
        return cached_real_tokenizer_llama(
            f"{vocab}-llama", vocab, lambda folder: build_real_tokenizer_llama(vocab, folder)
        )

    return build
