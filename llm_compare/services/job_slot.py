"""One job of a kind at a time in a process: the current one (running or last finished), and the
one refusal of a second. The dashboard keeps one slot per kind for all its tabs; the CLI, one for
its process."""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

from llm_compare.core.errors import ConfigurationError
from llm_compare.services.background import BackgroundJob

Job = TypeVar("Job", bound=BackgroundJob)


class JobSlot(Generic[Job]):
    def __init__(self, kind: str):
        self.kind = kind  # "benchmark": names the job in the refusal
        self._current: Job | None = None
        self._lock = threading.Lock()

    @property
    def current(self) -> Job | None:
        """The job running now, or the last one this slot ran (None before the first)."""
        return self._current

    def check_free(self) -> None:
        """Refuse, in one line, while a job of this kind is running."""
        current = self._current
        if current is not None and not current.finished:
            raise ConfigurationError(f"a {self.kind} is already running: wait for it to finish or stop it")

    def start(self, job: Job, **start_args) -> Job:
        """Start `job` (its `start(**start_args)`) as the current one, unless another is running."""
        with self._lock:  # two tabs clicking at once: one starts, the other is told why not
            self.check_free()
            self._current = job.start(**start_args)
        return job
