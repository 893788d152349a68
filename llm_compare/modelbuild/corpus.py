"""Training text every machine has: the Python standard library's own source, read deterministically."""

from __future__ import annotations

import sysconfig
from dataclasses import dataclass
from pathlib import Path

# Directories whose files are not ordinary Python code, or differ from machine to machine:
# test suites, third-party packages, codec tables (huge generated dicts), pydoc's help text
# (one 750 kB string literal) and the build configuration.
_SKIPPED_DIR_NAMES = frozenset(
    {"test", "tests", "idle_test", "site-packages", "dist-packages", "__pycache__", "encodings", "pydoc_data"}
)
_SKIPPED_FILE_PREFIXES = ("_sysconfigdata",)


@dataclass(frozen=True)
class Document:
    """One source file: its path relative to the standard library root, and its text."""

    name: str
    text: str


def stdlib_root() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def stdlib_source_files(root: Path | None = None) -> list[Path]:
    """The standard library's `.py` files worth learning from, in sorted (reproducible) order."""
    root = root or stdlib_root()
    files = []
    for path in root.rglob("*.py"):
        relative_parts = path.relative_to(root).parts
        if any(part in _SKIPPED_DIR_NAMES or part.startswith("config-") for part in relative_parts[:-1]):
            continue
        if path.name.startswith(_SKIPPED_FILE_PREFIXES):
            continue
        files.append(path)
    # Sort on the relative path as a string: rglob's order depends on the file system.
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def load_stdlib_documents(max_bytes: int | None = None, root: Path | None = None) -> list[Document]:
    """Read standard-library files in sorted order until `max_bytes` of UTF-8 text (None: all)."""
    root = root or stdlib_root()
    documents: list[Document] = []
    total_bytes = 0
    for path in stdlib_source_files(root):
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # a few files may be unreadable or not UTF-8 on some systems
        # Normalise line endings so the same library gives the same text on every OS.
        text = text.replace("\r\n", "\n")
        if not text.strip():
            continue
        size = len(text.encode("utf-8"))
        if max_bytes is not None and total_bytes + size > max_bytes:
            if documents:
                break
            text = text.encode("utf-8")[:max_bytes].decode("utf-8", errors="ignore")
            size = len(text.encode("utf-8"))
        documents.append(Document(path.relative_to(root).as_posix(), text))
        total_bytes += size
    return documents


def split_train_heldout(
    documents: list[Document], heldout_every: int = 20
) -> tuple[list[Document], list[Document]]:
    """Every `heldout_every`-th document is held out; whole files, so no text leaks between the two."""
    if heldout_every < 2:
        raise ValueError("heldout_every must be at least 2")
    train = [d for i, d in enumerate(documents) if i % heldout_every != heldout_every - 1]
    heldout = [d for i, d in enumerate(documents) if i % heldout_every == heldout_every - 1]
    return train, heldout


def utf8_bytes(documents: list[Document]) -> int:
    """Total UTF-8 size of the documents' text: the denominator of bits per byte."""
    return sum(len(d.text.encode("utf-8")) for d in documents)
