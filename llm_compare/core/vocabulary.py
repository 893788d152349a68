"""Whether two models share a vocabulary: a fingerprint of their tokenizers' id -> token lists.

Names say nothing (a fine-tune may extend its base's vocabulary, and two families may call their
tokenizers alike); the token list decides whether token ids, and so tokens/s, perplexity and
per-token divergence, mean the same thing for two models."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

# llama.cpp's converter pads a vocabulary up to the model's embedding rows with "[PAD<i>]" tokens
# that no tokenizer produces; a GGUF file and its own HF folder still share their vocabulary.
_PADDING = re.compile(r"\[PAD\d+\]")


def vocabulary_fingerprint(tokens: Sequence[str]) -> str:
    """A short hash of the token list, token i at place i, without trailing padding tokens."""
    end = len(tokens)
    while end and _PADDING.fullmatch(tokens[end - 1]):
        end -= 1
    digest = hashlib.sha256()
    for token in tokens[:end]:
        data = token.encode("utf-8", "surrogatepass")
        digest.update(len(data).to_bytes(4, "little") + data)  # length-prefixed: no separator can be faked
    return f"{end}:{digest.hexdigest()[:24]}"


def same_vocabulary(a: str | None, b: str | None) -> bool:
    """True only when both fingerprints are known and equal."""
    return a is not None and a == b
