"""InferenceEngine: one prompt to several models, streamed back as per-model events.

Each model runs in its own worker process (see worker.py); loaded workers stay warm between
runs within a memory budget, and the least recently used is unloaded to make room."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from time import perf_counter

import psutil

from llm_compare.core.config import ModelConfig
from llm_compare.core.errors import ConfigurationError, InferenceError, OutOfMemoryBudgetError
from llm_compare.core.models import ModelInfo
from llm_compare.core.results import FinishReason, InferenceEvent, InferenceResult, InferenceStats
from llm_compare.core.text import check_unicode
from llm_compare.services.engine import cpu_load, memory
from llm_compare.services.engine.worker import Worker

SCHEDULES = ("sequential", "parallel")
# A worker gets this long to confirm a Stop before it is killed. Cancellation reaches inside
# prompt processing, so a healthy worker confirms within a second even for a 7B model; only a
# hung one waits this long, and killing it throws away a warm model.
CANCEL_GRACE_S = 30.0
# When the consumer closes the event stream mid-run, it waits this long for the workers.
ABORT_WAIT_S = 1.0
POLL_INTERVAL_S = 0.1


def default_threads() -> int:
    """llama.cpp's own default: one thread per physical core (hyper-threads slow it down)."""
    return psutil.cpu_count(logical=False) or psutil.cpu_count() or 1


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
    completion_tokens: int | None = None
    result: InferenceResult | None = None
    cpu_start: cpu_load.CpuSample | None = None
    stopping: bool = False

    @property
    def done(self) -> bool:
        return self.result is not None

    def send_request(self) -> None:
        self.cpu_start = cpu_load.sample(self.worker.pid)
        self.completion_tokens = 0
        self.worker.send_generate(self.prompt, self.system_prompt, self.config, self.threads)


class InferenceEngine:
    def __init__(
        self, max_models: int = 4, memory_budget_bytes: int | None = None, cancel_grace_s: float = CANCEL_GRACE_S
    ):
        self.max_models = max_models
        self.cancel_grace_s = cancel_grace_s
        self.memory_budget_bytes = memory_budget_bytes or memory.default_budget_bytes()
        self._workers: dict[str, Worker] = {}  # model id -> its worker
        # The dashboard reads and unloads workers from other threads (sidebar, other tabs) while
        # a run's thread starts and discards them.
        self._workers_lock = threading.RLock()
        self._run_lock = threading.Lock()
        self._in_use: set[str] = set()  # model ids of the run in progress
        # One token per run, made when the run is asked for: a Stop before the run's first step
        # is not lost, and a Stop never leaks into the next run.
        self._cancel_tokens: set[threading.Event] = set()

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
        self._validate(prompt, system_prompt, models, schedule)
        configs = configs or {}
        # Models generating at the same time share the cores instead of fighting over them.
        concurrent = len(models) if schedule == "parallel" else 1
        threads = max(1, default_threads() // concurrent)
        slots = []
        for model in models:
            config = configs.get(model.id) or ModelConfig()
            slots.append(_Slot(model, config, prompt, system_prompt, config.n_threads or threads))
        token = threading.Event()
        self._cancel_tokens.add(token)
        return self._events(slots, schedule, token)

    @property
    def busy(self) -> bool:
        """True while a run is in progress (in any thread)."""
        return self._run_lock.locked()

    def cancel(self) -> None:
        """Stop the current run; partial text is kept. Returns at once; thread-safe."""
        for token in list(self._cancel_tokens):
            token.set()
        for worker in self._worker_list():
            worker.cancel_flag.set()

    def evaluate(self, model: ModelInfo, config: ModelConfig, request: dict, threads: int | None = None) -> Iterator[tuple]:
        """Send one evaluation request (likelihood scoring, see worker_main) to the model's worker,
        loading the model first if needed. Yields ("loading",) while it loads, then the worker's
        messages up to and including the one that ends the request: ("evaluated", figures),
        ("evaluate_cancelled",) or ("evaluate_failed", reason). cancel() stops it like a run;
        it holds the run lock, so it never shares the cores with a comparison."""
        if model.error:
            raise ConfigurationError(model.unusable_reason)
        token = threading.Event()
        self._cancel_tokens.add(token)
        if not self._run_lock.acquire(blocking=False):
            self._cancel_tokens.discard(token)
            raise InferenceError("another comparison or scoring is still running: wait for it to finish or stop it")
        worker = None
        finished = False
        try:
            self._in_use = {model.id}
            for other in self._worker_list():
                other.cancel_flag.clear()
            try:
                worker, loaded = self._worker_for(model, config, protected=set())
            except (OutOfMemoryBudgetError, OSError) as exc:
                finished = True
                yield ("evaluate_failed", str(exc))
                return
            asked = ("evaluate", request, config.n_threads or threads or default_threads())
            # Counted as a use: the next generation on this worker reports it warm, not its load time.
            worker.runs += 1
            worker.last_used = perf_counter()
            if loaded:
                worker.conn.send(asked)
            else:
                yield ("loading",)
            deadline = None
            while True:
                if token.is_set():
                    if not worker.ready:  # loading cannot be interrupted: drop it
                        self._discard(model.id)
                        finished = True
                        yield ("evaluate_cancelled",)
                        return
                    worker.cancel_flag.set()
                    deadline = deadline or perf_counter() + self.cancel_grace_s
                    if perf_counter() > deadline:
                        self._discard(model.id)
                        finished = True
                        yield ("evaluate_failed", f"the worker did not confirm Stop within {self.cancel_grace_s:.0f} s and was killed")
                        return
                if not wait([worker.conn], timeout=POLL_INTERVAL_S):
                    worker.sample_rss()
                    continue
                try:
                    message = worker.conn.recv()
                except (EOFError, OSError):
                    reason = worker.exit_reason()
                    self._discard(model.id)
                    finished = True
                    yield ("evaluate_cancelled",) if token.is_set() else ("evaluate_failed", reason)
                    return
                if message[0] == "loaded":
                    worker.mark_loaded(*message[1:])
                    worker.conn.send(asked)
                    continue
                if message[0] == "load_failed":
                    self._discard(model.id)
                    finished = True
                    yield ("evaluate_failed", message[1])
                    return
                finished = message[0] in ("evaluated", "evaluate_cancelled", "evaluate_failed")
                yield message
                if finished:
                    return
        finally:
            if worker is not None and not finished:
                self._discard(model.id)  # the consumer went away mid-request: its answer would be stale
            self._in_use = set()
            self._cancel_tokens.discard(token)
            self._run_lock.release()

    def loaded_models(self) -> list[dict]:
        return [
            {"model_id": w.model.id, "name": w.model.name, "rss_bytes": w.rss_bytes(), "runs": w.runs, "load_s": w.load_s}
            for w in self._worker_list()
            if w.alive
        ]

    def unload(self, model_id: str) -> None:
        with self._workers_lock:
            worker = self._workers.pop(model_id, None)
        if worker:
            worker.stop()

    def unload_idle(self) -> list[str]:
        """Unload every model that the run in progress is not using; return the names kept."""
        with self._workers_lock:
            idle = [mid for mid in self._workers if mid not in self._in_use]
            kept = [w.model.name for mid, w in self._workers.items() if mid in self._in_use]
        for model_id in idle:
            self.unload(model_id)
        return kept

    def shutdown(self) -> None:
        with self._workers_lock:
            model_ids = list(self._workers)
        for model_id in model_ids:
            self.unload(model_id)

    def _worker_list(self) -> list[Worker]:
        with self._workers_lock:
            return list(self._workers.values())

    # --- the run loop ---------------------------------------------------------------------

    def _validate(self, prompt: str, system_prompt: str | None, models: list[ModelInfo], schedule: str) -> None:
        if not prompt or not prompt.strip():
            raise ConfigurationError("the prompt is empty: type some text to send")
        # Refused here, for every caller: no backend can tokenize it, and a stored run holding
        # it would break every page that reads the store.
        check_unicode(prompt, "prompt")
        check_unicode(system_prompt or "", "system prompt")
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
                raise ConfigurationError(model.unusable_reason)

    def _events(self, slots: list[_Slot], schedule: str, cancel: threading.Event) -> Iterator[InferenceEvent]:
        if not self._run_lock.acquire(blocking=False):
            self._cancel_tokens.discard(cancel)
            raise InferenceError("another comparison is still running: wait for it to finish or stop it")
        self._in_use = {slot.model.id for slot in slots}
        running: list[_Slot] = []
        try:
            # Flags are cleared here, before the token is first read: a Stop from now on is
            # seen either through the token or through the flag it sets.
            for worker in self._worker_list():
                worker.cancel_flag.clear()
            for slot in slots:
                yield InferenceEvent(slot.model.id, "queued")
            waiting = deque(slots)
            kill_deadline = None
            while waiting or running:
                if cancel.is_set():
                    while waiting:
                        yield self._finish(waiting.popleft(), FinishReason.CANCELLED)
                    yield from self._stop_running(running)
                    kill_deadline = kill_deadline or perf_counter() + self.cancel_grace_s
                    if perf_counter() > kill_deadline:
                        for slot in running:
                            self._discard(slot.model.id)
                            yield self._finish(
                                slot,
                                FinishReason.CANCELLED,
                                f"the worker did not confirm Stop within {self.cancel_grace_s:.0f} s and was killed",
                            )
                        running.clear()
                        break
                while waiting and not cancel.is_set() and (schedule == "parallel" or not running):
                    slot = waiting.popleft()
                    yield self._start(slot, protected={s.model.id for s in running})
                    if not slot.done:
                        running.append(slot)
                by_conn = {slot.worker.conn: slot for slot in running}
                for conn in wait(list(by_conn), timeout=POLL_INTERVAL_S):
                    slot = by_conn[conn]
                    yield from self._receive(slot, cancel)
                    if slot.done:
                        running.remove(slot)
                for slot in running:
                    slot.worker.sample_rss()
        finally:
            self._abort([slot for slot in running if not slot.done])
            self._in_use = set()
            self._cancel_tokens.discard(cancel)
            self._run_lock.release()

    def _stop_running(self, running: list[_Slot]) -> Iterator[InferenceEvent]:
        """After Stop: a loading model is dropped at once (nothing to keep, and loading cannot be
        interrupted); a generating one is told to stop and shows 'stopping' until it confirms."""
        for slot in list(running):
            if not slot.worker.ready:
                self._discard(slot.model.id)
                running.remove(slot)
                yield self._finish(slot, FinishReason.CANCELLED)
            elif not slot.stopping:
                slot.stopping = True
                slot.worker.cancel_flag.set()
                yield InferenceEvent(slot.model.id, "stopping")

    def _start(self, slot: _Slot, protected: set[str]) -> InferenceEvent:
        model = slot.model
        try:
            worker, loaded = self._worker_for(model, slot.config, protected)
        except (OutOfMemoryBudgetError, OSError) as exc:
            return self._finish(slot, FinishReason.ERROR, str(exc))
        slot.worker = worker
        if loaded:
            slot.send_request()
            return InferenceEvent(model.id, "generating")
        return InferenceEvent(model.id, "loading")

    def _worker_for(self, model: ModelInfo, config: ModelConfig, protected: set[str]) -> tuple[Worker, bool]:
        """The model's worker: the warm one when its load settings match (True), else a new one
        still loading (False), made room for by unloading others."""
        with self._workers_lock:
            worker = self._workers.get(model.id)
        if worker and (worker.load_key != config.load_key() or not worker.alive):
            self.unload(model.id)  # loaded with other settings, or dead: start afresh
            worker = None
        if worker:
            return worker, True
        need = memory.estimate_model_bytes(model, config)
        self._make_room(model, need, protected)
        worker = Worker(model, config, estimate_bytes=need)
        with self._workers_lock:
            self._workers[model.id] = worker
        return worker, False

    def _receive(self, slot: _Slot, cancel: threading.Event) -> Iterator[InferenceEvent]:
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
                if cancel.is_set():  # it went after Stop (SIGTERM to the whole group stops both)
                    yield self._finish(slot, FinishReason.CANCELLED)
                else:
                    yield self._finish(slot, FinishReason.ERROR, reason)
                return
            kind = message[0]
            if kind == "text":
                _, text, slot.completion_tokens = message
                slot.parts.append(text)
                yield InferenceEvent(slot.model.id, "text", text, slot.completion_tokens)
            elif kind == "done":
                slot.result = self._completed(slot, InferenceResult.from_dict(message[1]))
                yield InferenceEvent(slot.model.id, "done", result=slot.result)
            elif kind == "loaded":
                _, t_ready, versions, ignored, runtime = message
                worker.mark_loaded(t_ready, versions, ignored, runtime)
                if cancel.is_set():  # stays loaded, but this run is over
                    yield self._finish(slot, FinishReason.CANCELLED)
                    return
                slot.send_request()
                yield InferenceEvent(slot.model.id, "generating")
            elif kind == "load_failed":
                self._discard(slot.model.id)
                yield self._finish(slot, FinishReason.ERROR, message[1])

    def _completed(self, slot: _Slot, result: InferenceResult) -> InferenceResult:
        """Add what only the parent knows: the load on the machine, how the model ran."""
        worker = slot.worker
        result.ignored_settings, result.backend_versions = worker.ignored, worker.versions
        result.runtime = {**worker.runtime, "n_threads": str(slot.threads)}
        if result.stats.peak_rss_bytes is None:  # the platform gave no peak from inside
            result.stats.peak_rss_bytes = worker.peak_rss_sampled or None
        self._add_cpu_load(slot, result.stats)
        return result

    def _add_cpu_load(self, slot: _Slot, stats: InferenceStats) -> None:
        if slot.cpu_start is not None and slot.worker is not None:
            stats.other_cpu_share = cpu_load.other_cpu_share(slot.cpu_start, cpu_load.sample(slot.worker.pid))
            stats.busy = cpu_load.is_busy(stats.other_cpu_share)

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
        self._add_cpu_load(slot, stats)
        slot.result = InferenceResult(slot.model.id, "".join(slot.parts), reason, error, stats)
        return InferenceEvent(slot.model.id, "done", result=slot.result)

    def _abort(self, slots: list[_Slot]) -> None:
        """The consumer went away mid-run: stop its workers. This runs where the consumer
        closed the stream (a page script, a CLI's finally), so it waits a second at most; a
        worker that has not confirmed by then is killed."""
        if not slots:
            return
        for slot in slots:
            slot.worker.cancel_flag.set()
        deadline = perf_counter() + ABORT_WAIT_S
        pending = [s for s in slots if s.worker.ready]
        for slot in slots:
            if not slot.worker.ready:
                self._discard(slot.model.id)  # still loading: nothing to keep
        cancelled = threading.Event()
        cancelled.set()
        while pending and perf_counter() < deadline:
            for conn in wait([s.worker.conn for s in pending], timeout=deadline - perf_counter()):
                slot = next(s for s in pending if s.worker.conn is conn)
                for _ in self._receive(slot, cancelled):
                    pass
            pending = [s for s in pending if not s.done]
        for slot in pending:
            self._discard(slot.model.id)

    def _discard(self, model_id: str) -> None:
        with self._workers_lock:
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
            workers = self._worker_list()
            counted = {w: (w.memory_bytes(), w.rss_bytes()) for w in workers}
            in_use = sum(charged for charged, _ in counted.values())
            # A loading worker will still take what its estimate says beyond its RSS so far.
            available = memory.available_bytes() - sum(charged - rss for charged, rss in counted.values())
            if in_use + need <= budget and need <= available:
                return
            idle = [(w.last_used, w.model.id) for w in workers if w.model.id not in protected]
            if not idle:
                raise OutOfMemoryBudgetError(
                    f"{model.name} needs about {memory.gib(need)} but only {memory.gib(min(available, budget - in_use))} "
                    "is free: close other programs, compare fewer models at once, or run them sequentially"
                )
            self.unload(min(idle)[1])
