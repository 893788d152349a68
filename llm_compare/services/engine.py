"""InferenceEngine: one prompt to several models, streamed back as per-model events.

Each model runs in its own worker process (see worker.py); loaded workers stay warm between
runs within a memory budget, and the least recently used is unloaded to make room."""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from time import perf_counter

from llm_compare.core.config import ModelConfig
from llm_compare.core.errors import ConfigurationError, InferenceError, OutOfMemoryBudgetError
from llm_compare.core.models import ModelInfo
from llm_compare.core.results import FinishReason, InferenceEvent, InferenceResult, InferenceStats
from llm_compare.services import memory
from llm_compare.services.worker import Worker

SCHEDULES = ("sequential", "parallel")
CANCEL_GRACE_S = 1.0  # a worker that has not stopped by then is killed


@dataclass
class _Slot:
    """One model's part in one run."""

    model: ModelInfo
    config: ModelConfig
    prompt: str
    system_prompt: str | None
    threads: int
    worker: Worker | None = None
    parts: list[str] = field(default_factory=list)
    completion_tokens: int = 0
    result: InferenceResult | None = None

    @property
    def done(self) -> bool:
        return self.result is not None

    def send_request(self) -> None:
        self.worker.send_generate(self.prompt, self.system_prompt, self.config, self.threads)


class InferenceEngine:
    def __init__(self, max_models: int = 4, memory_budget_bytes: int | None = None):
        self.max_models = max_models
        self.memory_budget_bytes = memory_budget_bytes or memory.default_budget_bytes()
        self._workers: dict[str, Worker] = {}  # model id -> its worker
        self._run_lock = threading.Lock()
        self._cancel = threading.Event()

    # --- public API ---------------------------------------------------------------------

    def run(
        self,
        prompt: str,
        models: list[ModelInfo],
        configs: dict[str, ModelConfig] | None = None,
        *,
        schedule: str = "sequential",
        system_prompt: str | None = None,
    ) -> Iterator[InferenceEvent]:
        """Send `prompt` to every model; iterate the result for events. Closing the iterator
        early cancels the run. Raises ConfigurationError at once on bad input."""
        self._validate(prompt, models, schedule)
        configs = configs or {}
        # Models generating at the same time share the cores instead of fighting over them.
        concurrent = len(models) if schedule == "parallel" else 1
        default_threads = max(1, (os.cpu_count() or 1) // concurrent)
        slots = []
        for model in models:
            config = configs.get(model.id) or ModelConfig()
            slots.append(_Slot(model, config, prompt, system_prompt, config.n_threads or default_threads))
        return self._events(slots, schedule)

    @property
    def busy(self) -> bool:
        """True while a run is in progress (in any thread)."""
        return self._run_lock.locked()

    def cancel(self) -> None:
        """Stop the current run within about a second; partial text is kept. Thread-safe."""
        self._cancel.set()
        for worker in list(self._workers.values()):
            worker.cancel_event.set()

    def loaded_models(self) -> list[dict]:
        return [
            {"model_id": mid, "name": w.model.name, "rss_bytes": w.rss_bytes(), "runs": w.runs, "load_s": w.load_s}
            for mid, w in self._workers.items()
            if w.alive
        ]

    def unload(self, model_id: str) -> None:
        worker = self._workers.pop(model_id, None)
        if worker:
            worker.stop()

    def shutdown(self) -> None:
        for model_id in list(self._workers):
            self.unload(model_id)

    # --- the run loop ---------------------------------------------------------------------

    def _validate(self, prompt: str, models: list[ModelInfo], schedule: str) -> None:
        if not prompt or not prompt.strip():
            raise ConfigurationError("the prompt is empty: type some text to send")
        if not models:
            raise ConfigurationError("no model selected: choose at least one")
        if len(models) > self.max_models:
            raise ConfigurationError(f"{len(models)} models selected but the limit is {self.max_models}: select fewer")
        if len({m.id for m in models}) != len(models):
            raise ConfigurationError("a model is selected twice: select each model once")
        if schedule not in SCHEDULES:
            raise ConfigurationError(f"unknown schedule {schedule!r}: use sequential or parallel")
        for model in models:
            if model.error:
                raise ConfigurationError(f"{model.name} cannot be used: {model.error}")

    def _events(self, slots: list[_Slot], schedule: str) -> Iterator[InferenceEvent]:
        if not self._run_lock.acquire(blocking=False):
            raise InferenceError("another comparison is still running: wait for it to finish or stop it")
        self._cancel.clear()
        running: list[_Slot] = []
        try:
            for slot in slots:
                yield InferenceEvent(slot.model.id, "queued")
            waiting = deque(slots)
            cancel_deadline = None
            while waiting or running:
                if self._cancel.is_set():
                    while waiting:
                        yield self._finish(waiting.popleft(), FinishReason.CANCELLED)
                    cancel_deadline = cancel_deadline or perf_counter() + CANCEL_GRACE_S
                    if perf_counter() > cancel_deadline:
                        for slot in running:
                            self._discard(slot.model.id)
                            yield self._finish(slot, FinishReason.CANCELLED)
                        running.clear()
                        break
                while waiting and (schedule == "parallel" or not running):
                    slot = waiting.popleft()
                    yield self._start(slot, protected={s.model.id for s in running})
                    if not slot.done:
                        running.append(slot)
                by_conn = {slot.worker.conn: slot for slot in running}
                for conn in wait(list(by_conn), timeout=0.1):
                    slot = by_conn[conn]
                    yield from self._receive(slot)
                    if slot.done:
                        running.remove(slot)
        finally:
            self._abort([slot for slot in running if not slot.done])
            self._run_lock.release()

    def _start(self, slot: _Slot, protected: set[str]) -> InferenceEvent:
        model, config = slot.model, slot.config
        worker = self._workers.get(model.id)
        if worker and (worker.load_key != config.load_key() or not worker.alive):
            self.unload(model.id)  # loaded with other settings, or dead: start afresh
            worker = None
        if worker:
            slot.worker = worker
            slot.send_request()
            return InferenceEvent(model.id, "generating")
        try:
            self._make_room(model, memory.estimate_model_bytes(model, config), protected)
            slot.worker = self._workers[model.id] = Worker(model, config)
        except (OutOfMemoryBudgetError, OSError) as exc:
            return self._finish(slot, FinishReason.ERROR, str(exc))
        return InferenceEvent(model.id, "loading")

    def _receive(self, slot: _Slot) -> Iterator[InferenceEvent]:
        """Handle every message the slot's worker has sent so far."""
        worker = slot.worker
        while not slot.done:
            try:
                if not worker.conn.poll():
                    return
                message = worker.conn.recv()
            except (EOFError, OSError):
                reason = worker.exit_reason()
                self._discard(slot.model.id)
                yield self._finish(slot, FinishReason.ERROR, reason)
                return
            kind = message[0]
            if kind == "text":
                _, text, slot.completion_tokens = message
                slot.parts.append(text)
                yield InferenceEvent(slot.model.id, "text", text, slot.completion_tokens)
            elif kind == "done":
                slot.result = InferenceResult.from_dict(message[1])
                slot.result.ignored_settings, slot.result.backend_versions = worker.ignored, worker.versions
                yield InferenceEvent(slot.model.id, "done", result=slot.result)
            elif kind == "loaded":
                _, t_ready, versions, ignored = message
                worker.mark_loaded(t_ready, versions, ignored)
                if self._cancel.is_set():  # stays loaded, but this run is over
                    yield self._finish(slot, FinishReason.CANCELLED)
                    return
                slot.send_request()
                yield InferenceEvent(slot.model.id, "generating")
            elif kind == "load_failed":
                self._discard(slot.model.id)
                yield self._finish(slot, FinishReason.ERROR, message[1])

    def _finish(self, slot: _Slot, reason: FinishReason, error: str | None = None) -> InferenceEvent:
        """End a slot from the parent's side, keeping whatever text arrived."""
        worker = slot.worker
        loaded = worker is not None and worker.ready
        warm = loaded and worker.runs > 1
        stats = InferenceStats(
            completion_tokens=slot.completion_tokens,
            finish_reason=reason,
            load_s=(0.0 if warm else worker.load_s) if loaded else None,
            warm=warm,
        )
        slot.result = InferenceResult(slot.model.id, "".join(slot.parts), reason, error, stats)
        return InferenceEvent(slot.model.id, "done", result=slot.result)

    def _abort(self, slots: list[_Slot]) -> None:
        """The consumer went away mid-run: stop its workers, forcibly after the grace period."""
        if not slots:
            return
        self._cancel.set()
        for slot in slots:
            slot.worker.cancel_event.set()
        deadline = perf_counter() + CANCEL_GRACE_S
        pending = [s for s in slots if s.worker.ready]
        for slot in slots:
            if not slot.worker.ready:
                self._discard(slot.model.id)  # still loading: nothing to keep
        while pending and perf_counter() < deadline:
            for conn in wait([s.worker.conn for s in pending], timeout=deadline - perf_counter()):
                slot = next(s for s in pending if s.worker.conn is conn)
                for _ in self._receive(slot):
                    pass
            pending = [s for s in pending if not s.done]
        for slot in pending:
            self._discard(slot.model.id)

    def _discard(self, model_id: str) -> None:
        worker = self._workers.pop(model_id, None)
        if worker:
            worker.kill()

    def _make_room(self, model: ModelInfo, need: int, protected: set[str]) -> None:
        """Unload least recently used models until `need` bytes fit, or refuse."""
        budget = self.memory_budget_bytes
        if need > budget:
            raise OutOfMemoryBudgetError(
                f"{model.name} needs about {memory.gib(need)} but the memory budget is {memory.gib(budget)}: "
                "choose a smaller model or quantization"
            )
        while True:
            in_use = sum(w.rss_bytes() for w in self._workers.values())
            available = memory.available_bytes()
            if in_use + need <= budget and need <= available:
                return
            idle = [(w.last_used, mid) for mid, w in self._workers.items() if mid not in protected]
            if not idle:
                raise OutOfMemoryBudgetError(
                    f"{model.name} needs about {memory.gib(need)} but only {memory.gib(min(available, budget - in_use))} "
                    "is free: close other programs or compare fewer models at once"
                )
            self.unload(min(idle)[1])
