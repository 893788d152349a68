"""Text from users, files and models: checked to be real Unicode, and made safe for a terminal."""

from __future__ import annotations

import re

from llm_compare.core.errors import ConfigurationError

# Lone surrogates are what Python makes of bytes that are not UTF-8 (argv and file names on
# Linux arrive through `surrogateescape`): no tokenizer, database or page can handle them.
_SURROGATE = re.compile("[\ud800-\udfff]")
# What a terminal acts on instead of showing: C0 and C1 controls (ESC starts colour, cursor and
# title sequences; CR overwrites the line), DEL, bidirectional overrides that reorder what is
# shown (as in "Trojan Source"), and lone surrogates, which cannot be written at all.
_HIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def check_unicode(text: str, what: str) -> str:
    """Return `text`, or raise ConfigurationError saying where it holds bytes that are not UTF-8."""
    found = _SURROGATE.search(text)
    if found is None:
        return text
    code = ord(found.group())
    # surrogateescape maps byte 0xNN (0x80-0xff) to U+DCNN.
    byte = f"byte 0x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"U+{code:04X}"
    raise ConfigurationError(
        f"the {what} is not valid UTF-8 text ({byte} at character {found.start() + 1}): "
        "convert it to UTF-8 (for example with iconv) and try again"
    )


CHAT_ROLES = ("system", "user", "assistant")


def check_conversation(messages: list[dict]) -> list[dict]:
    """Return `messages` (a chat: {"role", "content"} dicts, the last one the user's), or raise
    ConfigurationError saying what is wrong with it."""
    if not messages:
        raise ConfigurationError("the conversation is empty: send at least one user message")
    for number, message in enumerate(messages, 1):
        role, content = message.get("role"), message.get("content")
        if role not in CHAT_ROLES:
            raise ConfigurationError(
                f"message {number} has role {role!r}: use one of {', '.join(CHAT_ROLES)}"
            )
        if not isinstance(content, str):
            raise ConfigurationError(f"message {number} has no text content: give its content as text")
        check_unicode(content, f"message {number}")
    if messages[-1]["role"] != "user" or not messages[-1]["content"].strip():
        raise ConfigurationError("the conversation must end with a user message holding some text")
    return messages


def terminal_safe(text: str, keep: str = "") -> str:
    """`text` with every character a terminal would act on shown as its Python escape (ESC as
    \\x1b, a newline as \\n), except those in `keep` (an answer keeps its newlines and tabs)."""
    return _HIDDEN.sub(lambda m: m.group() if m.group() in keep else repr(m.group())[1:-1], text)
