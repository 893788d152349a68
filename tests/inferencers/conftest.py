"""Tiny random LLaMAs that use real tokenizers (llama.cpp's vocabulary files), built once per session."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from llm_compare.modelbuild.real_tokenizer import RealTokenizerLlama, build_real_tokenizer_llama


@pytest.fixture(scope="session")
def real_tokenizer_llama(tmp_path_factory, llama_cpp_vocab_dir) -> Callable[[str], RealTokenizerLlama]:
    """Builds (on first use) the model for a llama.cpp vocabulary such as `llama-spm` or `qwen2`."""
    root = tmp_path_factory.mktemp("real-tokenizers")
    built: dict[str, RealTokenizerLlama] = {}

    def build(vocab: str) -> RealTokenizerLlama:
        if vocab not in built:
            built[vocab] = build_real_tokenizer_llama(vocab, root)
        return built[vocab]

    return build
