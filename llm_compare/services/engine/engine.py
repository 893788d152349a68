"""InferenceEngine: one prompt to several models, streamed back as per-model events.

Each model runs in its own worker process (see worker.py); loaded workers stay warm between
runs within a memory budget, and the least recently used is unloaded to make room.

A model generates for one run at a time (its worker answers one request at a time); runs on
different models may go on at once from different threads (`llm-compare serve` does that). The
dashboard and the CLI keep one run at a time for the whole engine (`one_run_at_a_time`)."""

from __future__ import annotations

import functools
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from time import perf_counter

import psutil

from llm_compare.core.config import ModelConfig
from llm_compare.core.errors import ConfigurationError, InferenceError, OutOfMemoryBudgetError
from llm_compare.core.models import ModelInfo
from llm_compare.core.results import FinishReason, InferenceEvent, InferenceResult, InferenceStats
from llm_compare.core.text import check_conversation, check_unicode
from llm_compare.services.endpoints.health import HealthBook
from llm_compare.services.engine import cpu_load, memory
from llm_compare.services.engine.memory import ExternalProcess, MemoryCharge
from llm_compare.services.engine.worker import Worker

SCHEDULES = ("sequential", "parallel")
# A worker gets this long to confirm a Stop before it is killed. Cancellation reaches inside
# prompt processing, so a healthy worker confirms within a second even for a 7B model; only a
# hung one waits this long, and killing it throws away a warm model.
CANCEL_GRACE_S = 30.0
# When the consumer closes the event stream mid-run, it waits this long for the workers.
ABORT_WAIT_S = 1.0
POLL_INTERVAL_S = 0.1


@functools.cache
def default_threads() -> int:
    """llama.cpp's own default: one thread per physical core (hyper-threads slow it down).
    Counted once: psutil would read the topology of every CPU from /sys inside every TTFT."""
    return psutil.cpu_count(logical=False) or psutil.cpu_count() or 1


@dataclass
class _Slot:
    """One model's part in one run."""

    model: ModelInfo
    config: ModelConfig
    prompt: str | list[dict]  # a text, or a conversation (chat mode)
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
        self.cpu_start = cpu_load.sample(self.worker.handle)
        self.completion_tokens = 0
        self.worker.send_generate(self.prompt, self.system_prompt, self.config, self.threads)


class InferenceEngine:
    def __init__(
        self,
        max_models: int = 4,
        memory_budget_bytes: int | None = None,
        cancel_grace_s: float = CANCEL_GRACE_S,
        one_run_at_a_time: bool = True,
    ):
        self.max_models = max_models
        self.one_run_at_a_time = one_run_at_a_time
        self.cancel_grace_s = cancel_grace_s
        self.memory_budget_bytes = memory_budget_bytes or memory.default_budget_bytes()
        self._workers: dict[str, Worker] = {}  # model id -> its worker
        # The dashboard reads and unloads workers from other threads (sidebar, other tabs) while
        # a run's thread starts and discards them.
        self._workers_lock = threading.RLock()
        self._run_lock = threading.Lock()  # held by the run in progress when one_run_at_a_time
        self._model_locks: dict[str, threading.Lock] = {}  # held by the run generating on that model
        # Making room and starting a worker happen one model at a time: two runs starting models
        # together must not both count the same free memory.
        self._load_lock = threading.Lock()
        self._in_use: dict[threading.Event, set[str]] = {}  # model ids of each run in progress, by its token
        # One token per run, made when the run is asked for: a Stop before the run's first step
        # is not lost, and a Stop never leaks into the next run.
        self._cancel_tokens: set[threading.Event] = set()
        # Who else spends this budget (the dashboard's served models): asked afresh at every count.
        self._external_sources: list[Callable[[], Iterable[ExternalProcess]]] = []

    # --- public API ---------------------------------------------------------------------

    def run(
        self,
        prompt: str | list[dict],
        models: list[ModelInfo],
        configs: dict[str, ModelConfig] | None = None,
        *,
        schedule: str = "sequential",
        system_prompt: str | None = None,
        cancel: threading.Event | None = None,
    ) -> Iterator[InferenceEvent]:
        """Send `prompt` to every model; iterate the result for events. Closing the iterator
        early cancels the run, and so does setting `cancel` (from any thread; `cancel()` stops
        every run). `prompt` is a text, or in chat mode the conversation: a list of
        {"role", "content"} messages ending with the user's. Raises ConfigurationError at once
        on bad input."""
        self._validate(prompt, system_prompt, models, schedule)
        configs = configs or {}
        # Models generating at the same time share the cores instead of fighting over them.
        concurrent = len(models) if schedule == "parallel" else 1
        threads = max(1, default_threads() // concurrent)
        slots = []
        for model in models:
            config = configs.get(model.id) or ModelConfig()
            slots.append(_Slot(model, config, prompt, system_prompt, config.n_threads or threads))
        token = cancel or threading.Event()
        self._cancel_tokens.add(token)
        return self._events(slots, schedule, token)

    @property
    def busy(self) -> bool:
        """True while a run is in progress (in any thread)."""
        return bool(self._in_use)

    def cancel(self) -> None:
        """Stop the current run; partial text is kept. Returns at once; thread-safe."""
        for token in list(self._cancel_tokens):
            token.set()
        for worker in self._worker_list():
            worker.cancel_flag.set()

    def evaluate(
        self, model: ModelInfo, config: ModelConfig, request: dict, threads: int | None = None
    ) -> Iterator[tuple]:
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
            raise InferenceError(
                "another comparison or scoring is still running: wait for it to finish or stop it"
            )
        worker = None
        finished = False
        try:
            with self._workers_lock:
                self._in_use[token] = {model.id}
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
                        yield (
                            "evaluate_failed",
                            f"the worker did not confirm Stop within {self.cancel_grace_s:.0f} s and was killed",
                        )
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
            with self._workers_lock:
                self._in_use.pop(token, None)
            self._cancel_tokens.discard(token)
            self._run_lock.release()

    def count_external(self, source: Callable[[], Iterable[ExternalProcess]]) -> None:
        """Count the processes `source()` lists against the memory budget from now on: their RSS
        (with their children's), at least what each reserved. They are never unloaded to make room."""
        self._external_sources.append(source)

    def memory_in_use(self) -> list[MemoryCharge]:
        """What the memory budget counts now, process by process."""
        charges = [
            MemoryCharge(w.model.name, w.pid, rss, w.memory_bytes(), external=False)
            for w in self._worker_list()
            for rss in [w.rss_bytes()]
        ]
        for source in self._external_sources:
            for process in source():
                rss = memory.process_tree_rss_bytes(process.pid)
                charges.append(
                    MemoryCharge(
                        process.label, process.pid, rss, max(rss, process.reserved_bytes), external=True
                    )
                )
        return charges

    def check_room(self, name: str, need: int) -> None:
        """Raise OutOfMemoryBudgetError unless `need` bytes fit beside everything loaded now,
        without unloading anything (for a model that another process will hold)."""
        with self._load_lock:
            self._make_room(name, need, protected={w.model.id for w in self._worker_list()})

    def loaded_models(self) -> list[dict]:
        return [
            {
                "model_id": w.model.id,
                "name": w.model.name,
                "rss_bytes": w.rss_bytes(),
                "runs": w.runs,
                "load_s": w.load_s,
            }
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
        in_use = self._models_in_use()
        with self._workers_lock:
            idle = [mid for mid in self._workers if mid not in in_use]
            kept = [w.model.name for mid, w in self._workers.items() if mid in in_use]
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

    def _models_in_use(self, besides: threading.Event | None = None) -> set[str]:
        """Model ids of every run in progress (but the one of `besides`)."""
        with self._workers_lock:
            return set().union(*(ids for token, ids in self._in_use.items() if token is not besides))

    # --- the run loop ---------------------------------------------------------------------

    def _validate(
        self, prompt: str | list[dict], system_prompt: str | None, models: list[ModelInfo], schedule: str
    ) -> None:
        if isinstance(prompt, list):
            check_conversation(prompt)
        elif not prompt or not prompt.strip():
            raise ConfigurationError("the prompt is empty: type some text to send")
        else:
            # Refused here, for every caller: no backend can tokenize it, and a stored run holding
            # it would break every page that reads the store.
            check_unicode(prompt, "prompt")
        check_unicode(system_prompt or "", "system prompt")
        if not models:
            raise ConfigurationError("no model selected: choose at least one")
        if len(models) > self.max_models:
            raise ConfigurationError(
                f"{len(models)} models selected but the limit is {self.max_models}: select fewer"
            )
        if len({m.id for m in models}) != len(models):
            raise ConfigurationError("a model is selected twice: select each model once")
        if schedule not in SCHEDULES:
            raise ConfigurationError(f"unknown schedule {schedule!r}: use sequential or parallel")
        for model in models:
            if model.error:
                raise ConfigurationError(model.unusable_reason)

    def _events(self, slots: list[_Slot], schedule: str, cancel: threading.Event) -> Iterator[InferenceEvent]:
        locks = self._claim([slot.model for slot in slots], cancel)
        running: list[_Slot] = []
        try:
            # Flags are cleared here, before the token is first read: a Stop from now on is
            # seen either through the token or through the flag it sets. Only this run's: another
            # run's model may be stopping.
            for slot in slots:
                with self._workers_lock:
                    worker = self._workers.get(slot.model.id)
                if worker:
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
                    yield self._start(
                        slot, protected={s.model.id for s in running} | self._models_in_use(besides=cancel)
                    )
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
            self._release(locks, cancel)

    def _claim(self, models: list[ModelInfo], cancel: threading.Event) -> list[threading.Lock]:
        """Take the run's locks (the engine's when one_run_at_a_time, then each model's), or
        raise InferenceError at once, holding none."""
        taken: list[threading.Lock] = []
        try:
            if self.one_run_at_a_time:
                if not self._run_lock.acquire(blocking=False):
                    raise InferenceError(
                        "another comparison is still running: wait for it to finish or stop it"
                    )
                taken.append(self._run_lock)
            for model in models:
                with self._workers_lock:
                    lock = self._model_locks.setdefault(model.id, threading.Lock())
                if not lock.acquire(blocking=False):
                    raise InferenceError(f"{model.name} is generating for another run: wait for it to finish")
                taken.append(lock)
        except InferenceError:
            self._release(taken, cancel)
            raise
        with self._workers_lock:
            self._in_use[cancel] = {model.id for model in models}
        return taken

    def _release(self, locks: list[threading.Lock], cancel: threading.Event) -> None:
        with self._workers_lock:
            self._in_use.pop(cancel, None)
        self._cancel_tokens.discard(cancel)
        for lock in reversed(locks):
            lock.release()

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
        if model.is_endpoint:  # its circuit breaker is open: refuse at once, not after a timeout
            refusal = HealthBook().refusal(model.metadata.endpoint.base_url, model.metadata.endpoint.name)
            if refusal:
                return self._finish(slot, FinishReason.ERROR, refusal)
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
        with self._load_lock:  # two runs starting at once must not both count the same free memory
            self._make_room(model.name, need, protected)
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
        _record_endpoint_health(slot.model, result)
        if slot.model.is_endpoint:  # the model's memory and CPU are the server's: unknown here
            return result
        if result.stats.peak_rss_bytes is None:  # the platform gave no peak from inside
            result.stats.peak_rss_bytes = worker.peak_rss_sampled or None
        self._add_cpu_load(slot, result.stats)
        return result

    def _add_cpu_load(self, slot: _Slot, stats: InferenceStats) -> None:
        if slot.cpu_start is not None and slot.worker is not None and not slot.model.is_endpoint:
            stats.other_cpu_share = cpu_load.other_cpu_share(
                slot.cpu_start, cpu_load.sample(slot.worker.handle)
            )
            stats.busy = cpu_load.is_busy(stats.other_cpu_share)

    def _finish(self, slot: _Slot, reason: FinishReason, error: str | None = None) -> InferenceEvent:
        """End a slot from the parent's side, keeping whatever text arrived."""
        worker = slot.worker
        loaded = worker is not None and worker.ready
        warm = loaded and worker.runs > 1
        stats = InferenceStats(
            completion_tokens=None
            if slot.model.is_endpoint
            else slot.completion_tokens,  # endpoints: from usage only
            finish_reason=reason,
            load_s=(0.0 if warm else worker.load_s) if loaded else None,
            warm=warm,
        )
        self._add_cpu_load(slot, stats)
        slot.result = InferenceResult(slot.model.id, "".join(slot.parts), reason, error, stats)
        if worker is not None:  # a refusal before any worker (the breaker's own) is not a new failure
            _record_endpoint_health(slot.model, slot.result)
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

    def _make_room(self, name: str, need: int, protected: set[str]) -> None:
        """Unload least recently used models until `need` bytes fit, or refuse."""
        budget = self.memory_budget_bytes
        if need > budget:
            raise OutOfMemoryBudgetError(
                f"{name} needs about {memory.gib(need)} but the memory budget is {memory.gib(budget)}: "
                "choose a smaller model or quantization"
            )
        while True:
            charges = self.memory_in_use()
            in_use = sum(c.counted_bytes for c in charges)
            # A loading worker (or a server yet to load its model) will still take what its
            # estimate says beyond its RSS so far.
            available = memory.available_bytes() - sum(c.counted_bytes - c.rss_bytes for c in charges)
            if in_use + need <= budget and need <= available:
                return
            workers = self._worker_list()
            idle = [(w.last_used, w.model.id) for w in workers if w.model.id not in protected]
            if not idle:
                served = [
                    f"{c.label}{f' (pid {c.pid})' if c.pid else ''} takes {memory.gib(c.counted_bytes)}"
                    for c in charges
                    if c.external
                ]
                free = memory.gib(max(0, min(available, budget - in_use)))
                raise OutOfMemoryBudgetError(
                    f"{name} needs about {memory.gib(need)} but only {free} is free"
                    + (f" ({'; '.join(served)}): stop serving a model, close" if served else ": close")
                    + " other programs, compare fewer models at once, or run them sequentially"
                )
            self.unload(min(idle)[1])


def _record_endpoint_health(model: ModelInfo, result: InferenceResult) -> None:
    """Feed an endpoint's circuit breaker: failures in a row open it; cancelled runs say nothing."""
    if model.is_endpoint and result.finish_reason != FinishReason.CANCELLED:
        error = result.error if result.finish_reason == FinishReason.ERROR else None
        HealthBook().record_run(model.metadata.endpoint.base_url, error)
