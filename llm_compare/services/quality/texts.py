"""The texts models are scored on: the built-in samples shipped in the package, or a user's file."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from llm_compare.core.errors import ConfigurationError
from llm_compare.core.text import check_unicode

# Written for this project (so no demo model has seen them: those learn from the Python standard
# library's source), each over 8 chunks of 512 tokens for the demo tokenizer.
BUILTIN_TEXTS = {"prose": "prose.txt", "code": "code.py.txt"}
BUILTIN_PREFIX = "builtin:"


@dataclass(frozen=True)
class ScoringText:
    name: str  # "builtin:prose", or the file's name
    text: str


def builtin_text(name: str) -> ScoringText:
    if name not in BUILTIN_TEXTS:
        raise ConfigurationError(
            f"no built-in text {name!r}: use one of {', '.join(BUILTIN_PREFIX + n for n in BUILTIN_TEXTS)}"
        )
    data = files("llm_compare.services.quality").joinpath("samples", BUILTIN_TEXTS[name]).read_bytes()
    return text_from_bytes(BUILTIN_PREFIX + name, data)


def text_from_spec(spec: str) -> ScoringText:
    """`builtin:prose`, `builtin:code`, or the path of a UTF-8 text file."""
    if spec.startswith(BUILTIN_PREFIX):
        return builtin_text(spec.removeprefix(BUILTIN_PREFIX))
    path = Path(spec).expanduser()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"cannot read the text file {spec}: {exc.strerror or exc}") from exc
    return text_from_bytes(path.name, data)


def text_from_bytes(name: str, data: bytes) -> ScoringText:
    """A text from a file's bytes; refused with a one-line reason when it is not usable text."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigurationError(
            f"{name} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}): convert it to "
            "UTF-8 and try again"
        ) from exc
    check_unicode(text, f"text {name}")
    if "\x00" in text:
        raise ConfigurationError(f"{name} holds NUL bytes, so it is not a text file: give a plain text file")
    if not text.strip():
        raise ConfigurationError(
            f"{name} is empty: give a text of at least 2 chunks of the context (about 1,000 tokens for 512)"
        )
    return ScoringText(name, text)
