"""A one-byte flag shared by the parent and a worker process: the cancel signal.

It lives in a memory mapping of an unlinked file, so reading it costs nanoseconds. That matters
because llama.cpp asks "abort?" between every step of its compute graph, from its own threads, and
a signal handler could not answer there: Python runs handlers only in the main thread, which is
blocked inside the C call."""

from __future__ import annotations

import mmap
import os
import tempfile


class SharedFlag:
    def __init__(self, fd: int | None = None):
        """A new flag, or (with `fd`) the worker's view of the parent's flag."""
        if fd is None:
            shm = "/dev/shm" if os.path.isdir("/dev/shm") else None
            fd, path = tempfile.mkstemp(prefix="llm-compare-flag-", dir=shm)
            os.unlink(path)  # nothing to clean up later: the mapping keeps it alive
            os.ftruncate(fd, mmap.PAGESIZE)
        self.fd = fd
        self._map = mmap.mmap(fd, mmap.PAGESIZE)

    def set(self) -> None:
        self._write(1)

    def clear(self) -> None:
        self._write(0)

    def is_set(self) -> bool:
        return self._map[0] == 1

    def _write(self, value: int) -> None:
        try:
            self._map[0] = value
        except ValueError:  # closed: the worker is gone and needs no signal
            pass

    def close(self) -> None:
        if not self._map.closed:
            self._map.close()
            os.close(self.fd)
