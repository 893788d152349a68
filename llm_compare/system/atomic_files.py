"""Small files in the data directory that several processes (the dashboard, the CLI, `serve`)
read and write: each is replaced whole, and a read-change-write holds the file's lock."""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def replace_text(path: Path, text: str) -> None:
    """Write `path` anew: a reader (or a crash) sees the old file or the new one, never half. The
    temporary file's name is unique, so concurrent writers never write into one another's."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold `path`'s lock against every other process and thread (flock on `path`.lock beside it:
    the file itself is replaced, the lock file never is). The kernel drops it when its holder dies."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
