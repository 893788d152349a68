"""User and model text inside Streamlit Markdown, shown as typed.

Nearly every Streamlit element renders Markdown: captions, errors, labels, tab names, help. A
prompt `def __init__(self, path):` would show as "def **init**(self, path):", and a model name
or an error text from a file could draw links, images, colours or icons. Every piece of text that
comes from a user, a model file or an exception goes through `literal` (or `code`) on its way
into Markdown. Imports no streamlit: tables and services-side glue can use it too."""

from __future__ import annotations

import re

# Characters that open Markdown anywhere in a line: CommonMark's emphasis, code, links, HTML and
# entities; GFM's strikethrough and tables; Streamlit's math ($). A backslash before ASCII
# punctuation is a literal.
_INLINE = re.compile(r"([\\`*_\[\]<>~$|&#])")
# Streamlit turns :smile: into an emoji and :material/home: into an icon after parsing, so a
# backslash does not stop them; an invisible word joiner after the colon does (and stops
# :red[...] directives too). "reason: text" has no word after its colon and stays as it is.
_SHORTCODE = re.compile(r":(?=\S)")
WORD_JOINER = "\u2060"
# What opens a block only at the start of a line: lists (-, +, 1. or 1)) and setext underlines (=).
_LINE_START = re.compile(r"^([ \t]*)(?:([-+=])|(\d+)([.)]))", re.MULTILINE)


def literal(text: object) -> str:
    """Markdown that renders as exactly `text`, line breaks kept (plus an invisible word joiner
    after a colon that comes right before a word)."""
    escaped = _INLINE.sub(r"\\\1", str(text).rstrip("\n"))
    escaped = _SHORTCODE.sub(":" + WORD_JOINER, escaped)
    escaped = _LINE_START.sub(_escape_line_start, escaped)
    return escaped.replace("\n", "\\\n")  # a backslash before a newline is a hard line break


def _escape_line_start(match: re.Match) -> str:
    indent, marker, digits, delimiter = match.groups()
    return f"{indent}\\{marker}" if marker else f"{indent}{digits}\\{delimiter}"


def code(text: object) -> str:
    """`text` as inline code: monospace, and nothing inside is Markdown. The fence is one backtick
    longer than any run of backticks in the text, as CommonMark allows."""
    text = str(text).replace("\n", " ")
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    padded = f" {text} " if text.startswith("`") or text.endswith("`") else text
    return f"{fence}{padded}{fence}"
