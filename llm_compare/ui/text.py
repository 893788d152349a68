"""User and model text inside Streamlit Markdown, shown as typed.

Nearly every Streamlit element renders Markdown: captions, errors, labels, tab names, help. A
prompt `def __init__(self, path):` would show as "def **init**(self, path):", and a model name
or an error text from a file could draw links, images, colours or icons. Every piece of text that
comes from a user, a model file or an exception goes through `literal` (or `code`) on its way
into Markdown. Imports no streamlit: tables and services-side glue can use it too."""

from __future__ import annotations

import re
from dataclasses import dataclass

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


NBSP = "\u00a0"
# Indentation and runs of spaces, which Markdown and HTML would collapse to one space or none.
_SPACES = re.compile(r"^[ \t]+| {2,}|\t", re.MULTILINE)


def preformatted(text: object) -> str:
    """Like `literal`, and the indentation and runs of spaces are kept too (as no-break
    spaces, a tab as four): a prompt with code in it keeps its shape."""
    return _SPACES.sub(lambda m: m.group().replace("\t", "    ").replace(" ", NBSP), literal(text))


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


@dataclass(frozen=True)
class Block:
    """A stretch of a model's answer: plain text, or code between ``` fences (`language` is the
    word after the opening fence, if any)."""

    text: str
    is_code: bool = False
    language: str | None = None


# A fence opens or closes a code block only at the start of a line (up to 3 spaces in, as in
# CommonMark); its run of backticks (or tildes) closes it again.
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})[ \t]*([^`\s]*)[^\n]*$")


def blocks(text: str) -> list[Block]:
    """`text` split into plain text and fenced code. A fence still open at the end (an answer
    being streamed, or cut off by its length limit) runs to the end."""
    result: list[Block] = []
    lines: list[str] = []
    fence: str | None = None
    language: str | None = None

    def flush(is_code: bool) -> None:
        if lines and (is_code or "".join(lines).strip()):
            joined = "\n".join(lines)
            result.append(Block(joined, True, language) if is_code else Block(joined.strip("\n")))
        lines.clear()

    for line in text.split("\n"):
        match = _FENCE.match(line)
        if fence is None and match:
            flush(False)
            fence, language = match.group(1), match.group(2) or None
        elif fence is not None and match and _closes(match, fence):
            flush(True)
            fence = language = None
        else:
            lines.append(line)
    flush(fence is not None)
    return result


def _closes(match: re.Match, fence: str) -> bool:
    """A closing fence: the same character, at least as many, and no word after it."""
    run = match.group(1)
    return run[0] == fence[0] and len(run) >= len(fence) and not match.group(2)
