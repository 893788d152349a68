"""The lifecycle every long job of the dashboard shares (a comparison, a benchmark, a scoring):
started on a daemon thread, stopped from anywhere, waited for, and how it ended.

The thread lives in the process that started it, not in a page script, so a job keeps running
when the user switches pages or closes the tab; the page only reads its state. The CLI runs the
same job in its own thread with `run()`."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Self

from llm_compare.core.errors import LLMCompareError, one_line

log = logging.getLogger(__name__)


class BackgroundJob:
    """A subclass does its work in `_work()`, checking `stop_requested` between steps, and may
    finish up in `_wrap_up()`. `interrupt` stops the step in flight (e.g. the engine's cancel)."""

    def __init__(self, name: str, interrupt: Callable[[], None]):
        self._name = name  # "comparison": names the thread, the log line and the error message
        self.error: str | None = None  # what ended the job early, one line
        self._interrupt = interrupt
        self._stop = threading.Event()
        self._finished = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)  # starts once only

    def start(self) -> Self:
        """Run the job on a daemon thread and return at once."""
        self._thread.start()
        return self

    def run(self) -> Self:
        """Run the job in the calling thread; return when it is over."""
        self._run()
        return self

    @property
    def finished(self) -> bool:
        return self._finished.is_set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until the job is over (or `timeout_s` passed); True when it is over."""
        return self._finished.wait(timeout_s)

    def cancel(self) -> None:
        """Ask the job to stop and interrupt its step in flight. Once the job is over this does
        nothing: the engine it shares may already be running someone else's work."""
        if not self.finished:
            self._stop.set()
            self._interrupt()

    def _work(self) -> None:
        raise NotImplementedError

    def _wrap_up(self) -> None:
        """Runs however the work ended, before `finished` is set: a caller that leaves once the
        job is finished must not cut it short."""

    def _run(self) -> None:
        try:
            self._work()
        except LLMCompareError as exc:
            self.error = str(exc)
        except Exception as exc:  # shown in one line; the thread must not die silently
            log.exception("the %s failed", self._name)
            self.error = f"the {self._name} failed unexpectedly: {one_line(exc)} (the log has the details)"
        finally:
            try:
                self._wrap_up()
            finally:
                self._finished.set()
