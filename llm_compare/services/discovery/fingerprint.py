"""What tells a model's files from changed ones: each file's size, modification time and first bytes.

A benchmark keeps its models' fingerprints when it starts, so that a resume never mixes runs of
one file with runs of another that took its place."""

from __future__ import annotations

import hashlib
from pathlib import Path

from llm_compare.core.models import ModelInfo

HEAD_BYTES = 64 * 1024  # a GGUF header's start, a config.json whole: enough to tell a rewrite


def model_fingerprint(model: ModelInfo) -> dict[str, list] | None:
    """{file name: [size_bytes, mtime_ns, sha1 of its first HEAD_BYTES]} for each file the model
    is made of (a GGUF file and its shards, or a model folder's files); None for an endpoint."""
    if model.is_endpoint or not model.path:
        return None
    folder, names = _files_of(model)
    return {name: _file_fingerprint(folder / name) for name in names}


def why_changed(model: ModelInfo, fingerprint: dict[str, list]) -> str | None:
    """How the model's files differ from `fingerprint`, in one line; None when none changed."""
    folder, names = _files_of(model)
    for name in sorted(set(fingerprint) | set(names)):
        if name not in fingerprint:
            return f"{name} was added"
        then = fingerprint[name]
        now = _file_fingerprint(folder / name) if name in names else None
        if now is None:
            return f"{name} is gone or cannot be read"
        if not isinstance(then, list) or len(then) != 3:
            return f"{name} was not readable then"
        (size, mtime_ns, head), (new_size, new_mtime_ns, new_head) = then, now
        if new_size != size:
            return f"{name} is now {new_size:,} bytes, not {size:,}"
        if new_head != head:
            return f"{name} has another header"
        if new_mtime_ns != mtime_ns:
            return f"{name} was modified (same size and header)"
    return None


def _files_of(model: ModelInfo) -> tuple[Path, list[str]]:
    path = Path(model.path)
    folder = path if path.is_dir() else path.parent
    names = model.metadata.files or ([] if path.is_dir() else [path.name])
    return folder, sorted(n for n in names if isinstance(n, str))


def _file_fingerprint(path: Path) -> list | None:
    try:
        with path.open("rb") as file:
            status = path.stat()
            head = hashlib.sha1(file.read(HEAD_BYTES)).hexdigest()
    except OSError:
        return None
    return [status.st_size, status.st_mtime_ns, head]
