"""Turns generated ids into text as they stream, by one rule for every backend."""

from __future__ import annotations

from collections.abc import Callable

# Prompt ids the window starts with, as TGI and vLLM seed theirs: enough context for a tokenizer
# whose decoding depends on the previous token (SentencePiece drops the space of a first "▁word").
_PROMPT_CONTEXT_IDS = 5


def streaming_decoder(
    decode_ids: Callable[[list[int]], str], prompt_ids: list[int]
) -> Callable[[int | None], str]:
    """A function that takes the next generated id and returns the text it adds after the prompt;
    called with None at the end, it returns whatever it still holds back.

    `decode_ids` is the backend's own whole-sequence decoding (special tokens not shown). Each new
    id's text is the difference between decoding a short window with and without it, so the
    answer is exactly what decoding prompt and answer at once adds to the prompt: a SentencePiece
    leading space is kept, and byte-fallback or byte-level pieces ending inside a UTF-8 character
    are held back until it is complete.
    """
    ids = list(prompt_ids[-_PROMPT_CONTEXT_IDS:])
    offsets = [0, len(ids)]  # window start, end of the text already returned

    def decode(token_id: int | None) -> str:
        if token_id is not None:
            ids.append(token_id)
        start, read = offsets
        before = decode_ids(ids[start:read])
        after = decode_ids(ids[start:])
        if len(after) > len(before) and (token_id is None or not after.endswith("\ufffd")):
            offsets[:] = [read, len(ids)]
            return after[len(before) :]
        return ""

    return decode
