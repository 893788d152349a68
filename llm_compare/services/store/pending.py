"""The pending file: runs (and benchmark events) the database could not take, one JSON line each,
waiting to be stored the next time the store opens. Several processes append and import at
once: every change happens under the file's lock."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

PENDING_FILE_NAME = "pending-runs.jsonl"


def has_content(path: Path) -> bool:
    try:
        return path.stat().st_size > 0
    except OSError:
        return False


def append_line(path: Path, line: str) -> None:
    """Append one line under the file's lock, in one write: lines from several processes never
    interleave, and none lands in a file an import has just replaced."""
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        with locked_pending(path, create=True) as pending:
            if pending is not None:
                fd, size = pending.fileno(), os.fstat(pending.fileno()).st_size
                # After a half-written line (its writer was killed), start a new line: that one
                # stays unreadable (and kept), this one whole.
                start = b"\n" if size and os.pread(fd, 1, size - 1) != b"\n" else b""
                os.write(fd, start + (line + "\n").encode("utf-8"))  # O_APPEND: at the end
                os.fsync(fd)
                return


@contextmanager
def locked_pending(path: Path, create: bool = False) -> Iterator[Any]:
    """The pending file opened for appending and locked (flock) against other processes; None
    when it is gone or was replaced while we waited for the lock (an import rewrote it)."""
    flags = os.O_RDWR | os.O_APPEND | (os.O_CREAT if create else 0)
    try:
        fd = os.open(path, flags, 0o600)
    except FileNotFoundError:
        if create:
            raise
        yield None
        return
    with os.fdopen(fd, "rb+") as pending:
        fcntl.flock(pending.fileno(), fcntl.LOCK_EX)
        try:
            still_there = os.stat(path).st_ino == os.fstat(pending.fileno()).st_ino
        except FileNotFoundError:
            still_there = False
        yield pending if still_there else None


def replace_pending(path: Path, content: bytes) -> None:
    """Rewrite the pending file atomically (while holding its lock): with `content`, or remove it
    when nothing is left. Appenders waiting on the old file see it was replaced and try again."""
    if not content:
        path.unlink()
        return
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(content)
    os.replace(tmp, path)
