"""Fixtures for the model builders: one tiny model set per session, loaded once per backend."""

from __future__ import annotations

from pathlib import Path

import llama_cpp
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from llm_compare.modelbuild.tiny import TinyModels, build_tiny_models


@pytest.fixture(scope="session")
def built_tiny(tmp_path_factory) -> TinyModels:
    return build_tiny_models(tmp_path_factory.mktemp("modelbuild-tiny"))


@pytest.fixture(scope="session")
def hf_tokenizer(built_tiny):
    return AutoTokenizer.from_pretrained(built_tiny.hf_dir)


@pytest.fixture(scope="session")
def hf_model(built_tiny):
    return AutoModelForCausalLM.from_pretrained(built_tiny.hf_dir, dtype=torch.float32).eval()


@pytest.fixture(scope="session")
def open_gguf():
    """Opens a GGUF with llama.cpp: quiet, on this machine's 2 cores, with a fixed seed."""

    def open_(path: Path, vocab_only: bool = False, f32_kv_cache: bool = False) -> llama_cpp.Llama:
        # llama.cpp's default f16 KV cache moves logits by ~1e-4; an f32 cache (~1e-7) isolates the export.
        kv_type = llama_cpp.GGML_TYPE_F32 if f32_kv_cache else llama_cpp.GGML_TYPE_F16
        return llama_cpp.Llama(
            model_path=str(path),
            vocab_only=vocab_only,
            n_ctx=512,
            n_threads=2,
            seed=1234,
            verbose=False,
            type_k=kv_type,
            type_v=kv_type,
        )

    return open_
