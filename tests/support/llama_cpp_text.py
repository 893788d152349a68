"""llama.cpp's own whole-sequence detokenizer, called as its /detokenize endpoint and its tools'
common_detokenize call it, for tests that compare a model's text with it."""

from __future__ import annotations

import ctypes

import llama_cpp


def llama_detokenize(llm: llama_cpp.Llama, ids: list[int]) -> str:
    """The text of `ids` by llama_detokenize: special tokens left out, and spaces tidied when the
    vocabulary's clean_spaces is on (GPT-2's, Llama 3's). Not llama-cpp-python's
    `Llama.detokenize`, which joins the tokens' pieces."""
    size = 64
    while True:
        text = ctypes.create_string_buffer(size)
        n = llama_cpp.llama_detokenize(
            llm._model.vocab, (llama_cpp.llama_token * len(ids))(*ids), len(ids), text, size, True, False
        )
        if n >= 0:
            return text.raw[:n].decode("utf-8", errors="replace")
        size = -n
