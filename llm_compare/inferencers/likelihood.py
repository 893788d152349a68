"""Likelihood of a text under a loaded model, chunked exactly as llama.cpp's `llama-perplexity`
does, and its divergence from a reference model's saved log-probabilities (what
`llama-perplexity --kl-divergence-base` saves). Runs in the model's worker process: only per-token
figures leave it, never the logits."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from time import perf_counter
from typing import TYPE_CHECKING, Any

from llm_compare.core.errors import ConfigurationError
from llm_compare.core.vocabulary import same_vocabulary

if TYPE_CHECKING:
    import numpy as np

    from llm_compare.inferencers.base import LocalInferencer

# A reference saved for divergence: its token ids, its log-probabilities at every scored position
# (float32, one row per position over the whole vocabulary) and what they were made with.
REFERENCE_IDS, REFERENCE_LOG_PROBS, REFERENCE_INFO = "ids.npy", "log_probs.npy", "info.json"


def score_text(
    inferencer: LocalInferencer,
    request: dict[str, Any],
    fingerprint: str | None,
    cancelled: Callable[[], bool],
    progress: Callable[[int, int], None],
) -> dict[str, Any] | None:
    """Score request["text"] in chunks of request["n_ctx"] tokens. With request["save_reference"]
    (a folder), keep this model's log-probabilities there for others; with request["reference"]
    (such a folder), also measure the divergence from it when the vocabularies match. Returns the
    per-token figures, or None when `cancelled()` stopped it."""
    import numpy as np

    n_ctx = request["n_ctx"]
    ids = np.asarray(inferencer.encode_prompt(request["text"], "", chat=False), dtype=np.int32)
    n_chunks = len(ids) // n_ctx  # a partial last chunk is dropped
    if n_chunks < 2:
        raise ConfigurationError(
            f"the text is {len(ids)} tokens for {inferencer.model.name}, and scoring with a context of "
            f"{n_ctx} needs at least {2 * n_ctx} (2 chunks): give a longer text or a smaller context"
        )
    ids = ids[: n_chunks * n_ctx]
    first = n_ctx // 2  # only the second half of each chunk is scored
    bos = inferencer.chunk_bos()
    reference, divergence_note = _open_reference(request.get("reference"), fingerprint, ids)
    saved = None
    nll_parts, kl_parts, top1_parts, delta_p_parts = [], [], [], []
    started = perf_counter()
    for chunk_index in range(n_chunks):
        if cancelled():
            return None
        chunk = ids[chunk_index * n_ctx : (chunk_index + 1) * n_ctx].copy()
        if bos is not None:
            chunk[0] = bos  # as llama-perplexity: every chunk starts as a text does
        logits = inferencer.evaluate(chunk.tolist(), first_output=first, cancelled=cancelled)
        if logits is None:
            return None
        log_probs = log_softmax(logits[:-1])  # the last row predicts past the chunk
        targets = chunk[first + 1 :]
        rows = np.arange(len(targets))
        nll_parts.append(-log_probs[rows, targets].astype(np.float64))
        if request.get("save_reference"):
            saved = (
                saved
                if saved is not None
                else _new_reference(request["save_reference"], ids, n_chunks, log_probs, fingerprint)
            )
            scored = len(targets)
            saved[chunk_index * scored : (chunk_index + 1) * scored] = log_probs
        if reference is not None:
            scored = len(targets)
            base = np.asarray(reference[chunk_index * scored : (chunk_index + 1) * scored])
            if base.shape != log_probs.shape:
                raise ConfigurationError(
                    f"{inferencer.model.name} has {log_probs.shape[1]} logits per token and the reference "
                    f"{base.shape[1]}: the two vocabularies differ, so only bits per byte compare them"
                )
            kl, top1, delta_p = divergence(base, log_probs)
            kl_parts.append(kl)
            top1_parts.append(top1)
            delta_p_parts.append(delta_p)
        progress(chunk_index + 1, n_chunks)
    seconds = perf_counter() - started
    if saved is not None:
        saved.flush()
    spans = [(c * n_ctx + first + 1, (c + 1) * n_ctx) for c in range(n_chunks)]
    id_list = ids.tolist()
    result: dict[str, Any] = {
        "n_ctx": n_ctx,
        "chunks": n_chunks,
        "text_tokens": len(ids),
        "scored_bytes": sum(inferencer.text_bytes(id_list, start, end) for start, end in spans),
        "seconds": seconds,
        "vocab_fingerprint": fingerprint,
        "nll": np.concatenate(nll_parts).tolist(),
        "divergence_note": divergence_note,
    }
    if reference is not None:
        result["kl"] = np.concatenate(kl_parts).tolist()
        result["top1"] = np.concatenate(top1_parts).astype(bool).tolist()
        result["delta_p"] = np.concatenate(delta_p_parts).tolist()
    return result


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-probabilities, float32, the normalising sum taken in float64."""
    import numpy as np

    shifted = logits - logits.max(axis=1, keepdims=True)
    log_sum = np.log(np.exp(shifted).sum(axis=1, dtype=np.float64, keepdims=True))
    return (shifted - log_sum).astype(np.float32)


def divergence(base: np.ndarray, log_probs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per position: KL(base ‖ model) in nats over the whole vocabulary, whether both rank the same
    token first, and the model's minus the base's probability of the base's first token."""
    import numpy as np

    base_probs = np.exp(base.astype(np.float64))
    kl = (base_probs * (base - log_probs)).sum(axis=1)
    base_top = base.argmax(axis=1)
    rows = np.arange(len(base))
    delta_p = np.exp(log_probs[rows, base_top].astype(np.float64)) - base_probs[rows, base_top]
    return kl, base_top == log_probs.argmax(axis=1), delta_p


def _new_reference(
    folder: str, ids: np.ndarray, n_chunks: int, log_probs: np.ndarray, fingerprint: str | None
):
    import numpy as np

    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    np.save(path / REFERENCE_IDS, ids)
    (path / REFERENCE_INFO).write_text(json.dumps({"vocab_fingerprint": fingerprint}))
    shape = (n_chunks * log_probs.shape[0], log_probs.shape[1])
    return np.lib.format.open_memmap(path / REFERENCE_LOG_PROBS, mode="w+", dtype=np.float32, shape=shape)


def _open_reference(folder: str | None, fingerprint: str | None, ids: np.ndarray):
    """The reference's log-probabilities (memory-mapped), or None with the reason they cannot be
    compared with this model's."""
    import numpy as np

    if not folder:
        return None, None
    path = Path(folder)
    info = json.loads((path / REFERENCE_INFO).read_text())
    if not same_vocabulary(fingerprint, info.get("vocab_fingerprint")):
        return None, "other vocabulary than the reference: bits per byte only"
    if not np.array_equal(np.load(path / REFERENCE_IDS), ids):
        return (
            None,
            "same vocabulary, but the text tokenizes differently than for the reference: bits per byte only",
        )
    return np.load(path / REFERENCE_LOG_PROBS, mmap_mode="r"), None
