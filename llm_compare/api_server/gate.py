"""One generation at a time per model, a bounded queue in front of it, and the bridge between
the engine (blocking, on a thread of its own per request) and the asyncio server."""

from __future__ import annotations

import asyncio
import math
import threading
from collections import deque
from time import perf_counter

from fastapi import Request

from llm_compare.core.config import ModelConfig
from llm_compare.core.models import ModelInfo
from llm_compare.core.results import InferenceEvent
from llm_compare.services.engine.engine import InferenceEngine

TURN_POLL_S = 0.1  # how often a queued request checks whether its client is still there
DISCONNECT_POLL_S = 0.25
_END = object()


class ClientGone(Exception):
    """The client closed the connection; its generation has been told to stop."""


class Gate:
    """Admits one generation at a time to a model and holds at most `queue_size` more."""

    def __init__(self, queue_size: int):
        self.capacity = 1 + queue_size
        self._count = 0  # answering plus waiting
        self._count_lock = threading.Lock()
        self.turn = threading.Lock()
        self._durations: deque[float] = deque(maxlen=8)

    def enter(self) -> bool:
        """Take a place (answering or waiting); False when the queue is full."""
        with self._count_lock:
            if self._count >= self.capacity:
                return False
            self._count += 1
            return True

    def leave(self, seconds: float | None = None) -> None:
        with self._count_lock:
            self._count -= 1
            if seconds is not None:
                self._durations.append(seconds)

    def retry_after_s(self) -> int:
        """When a place will likely be free: the recent mean answer time, times the answers ahead."""
        with self._count_lock:
            mean = sum(self._durations) / len(self._durations) if self._durations else 1.0
            return max(1, math.ceil(mean * self._count))


class Generation:
    """One request's run on one model. The engine's events arrive on `next()`; setting `cancel`
    (the client went away) stops the run where it is, queued or generating."""

    def __init__(
        self,
        engine: InferenceEngine,
        gate: Gate,
        model: ModelInfo,
        config: ModelConfig,
        prompt: str | list[dict],
        loop: asyncio.AbstractEventLoop,
    ):
        self.engine, self.gate, self.model, self.config, self.prompt = engine, gate, model, config, prompt
        self.loop = loop
        self.cancel = threading.Event()
        self._events: asyncio.Queue = asyncio.Queue()
        self._thread = threading.Thread(target=self._run, name=f"serve {model.name}", daemon=True)

    def start(self) -> Generation:
        self._thread.start()
        return self

    def _run(self) -> None:
        started = None
        try:
            while not self.gate.turn.acquire(timeout=TURN_POLL_S):
                if self.cancel.is_set():
                    return
            started = perf_counter()
            try:
                events = self.engine.run(
                    self.prompt, [self.model], {self.model.id: self.config}, cancel=self.cancel
                )
                for event in events:
                    self._put(event)
            finally:
                self.gate.turn.release()
        except Exception as exc:  # noqa: BLE001 (ConfigurationError for a prompt the engine refuses, and the unforeseen: the client is told)
            self._put(exc)
        finally:
            self.gate.leave(perf_counter() - started if started is not None else None)
            self._put(_END)

    def _put(self, item: object) -> None:
        try:
            self.loop.call_soon_threadsafe(self._events.put_nowait, item)
        except RuntimeError:  # the server's loop is closed: nobody is listening any more
            self.cancel.set()

    async def next(self, request: Request | None = None) -> InferenceEvent | Exception:
        """The next event (or the exception that ended the run). With `request`, watch the
        client meanwhile and raise ClientGone when it has gone (a streamed response is told by
        its own cancellation instead)."""
        # One get() kept across the polls: cancelling a get() on a timeout could lose an item.
        getting = asyncio.ensure_future(self._events.get())
        try:
            while not getting.done():
                if request is None:
                    await asyncio.wait({getting})
                elif (
                    not (await asyncio.wait({getting}, timeout=DISCONNECT_POLL_S))[0]
                    and await request.is_disconnected()
                ):
                    self.cancel.set()
                    raise ClientGone()
        finally:
            if not getting.done():
                getting.cancel()
        item = getting.result()
        return RuntimeError("the run ended without a result") if item is _END else item
