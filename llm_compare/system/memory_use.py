"""This process's resident memory by kind, and a sampler that keeps its split at the highest
reading: the kernel keeps a peak of the total (VmHWM) but none of its parts (docs/metrics.md:
peak_private_bytes, peak_file_bytes). Linux only; elsewhere every reading is None."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Self

STATUS = "/proc/self/status"
# Loading is where the short spikes are (a checkpoint mapped while it is converted), so it is
# sampled often; once loaded, memory moves little and slowly, and a reading every
# IDLE_INTERVAL_S (plus one at the end of every run) keeps the sampler out of generation's way.
LOAD_INTERVAL_S = 0.01
IDLE_INTERVAL_S = 0.25


@dataclass(frozen=True)
class MemoryReading:
    rss_bytes: int  # VmRSS = private_bytes + file_bytes
    private_bytes: int  # RssAnon + RssShmem: memory the process made, backed by no file on disk
    file_bytes: int  # RssFile: pages of mapped files (weights, checkpoints, shared libraries)


def read_memory(path: str = STATUS) -> MemoryReading | None:
    """The resident memory of this process now (of another with /proc/PID/status), or None where
    the file is missing or lacks the fields (not Linux, or a kernel before 4.5)."""
    fields: dict[str, int] = {}
    try:
        with open(path, encoding="ascii") as status:
            for line in status:
                if line.startswith(("RssAnon:", "RssFile:", "RssShmem:")):
                    name, value = line.split(":", 1)
                    fields[name] = int(value.split()[0]) * 1024  # the kernel reports kB
    except (OSError, ValueError):
        return None
    if len(fields) < 3:
        return None
    private = fields["RssAnon"] + fields["RssShmem"]
    return MemoryReading(private + fields["RssFile"], private, fields["RssFile"])


class PeakMemorySampler:
    """Reads the memory every `interval_s` on a daemon thread, and on demand (`sample`); keeps the
    reading with the highest RSS. Reading /proc/self/status takes some tens of microseconds."""

    def __init__(
        self,
        read: Callable[[], MemoryReading | None] = read_memory,
        interval_s: float = LOAD_INTERVAL_S,
    ):
        self._read = read
        self.interval_s = interval_s
        self._peak: MemoryReading | None = None
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        """Take a first reading, and keep sampling on a thread where there is anything to read."""
        if self.sample() is not None:
            self._thread = threading.Thread(target=self._loop, name="memory-sampler", daemon=True)
            self._thread.start()
        return self

    def sample(self) -> MemoryReading | None:
        reading = self._read()
        if reading is not None:
            with self._lock:
                if self._peak is None or reading.rss_bytes > self._peak.rss_bytes:
                    self._peak = reading
        return reading

    @property
    def peak(self) -> MemoryReading | None:
        """The reading with the highest RSS so far, or None where nothing could be read."""
        with self._lock:
            return self._peak

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join()

    def _loop(self) -> None:
        while not self._stopped.wait(self.interval_s):
            self.sample()
