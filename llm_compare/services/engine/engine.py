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
from llm_compare.services.engine.memory import ExternalProcess, MemoryCharge, MemoryEstimate
from llm_compare.services.engine.messages import (
    Done,
    EvaluateCancelled,
    EvaluateEnd,
    EvaluateEvent,
    EvaluateFailed,
    Loaded,
    LoadFailed,
    Loading,
    Progress,
    Text,
)
from llm_compare.services.engine.worker import Worker
from llm_compare.system import gpus

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
class _Job:
    """One model's part in a run or in an evaluation: what the one loop reading the workers'
    messages (InferenceEngine._drive) asks of either. The loop owns the worker (loading, Stop,
    grace then kill, death, load failure); the job owns its request, its messages and its events."""

    model: ModelInfo
    config: ModelConfig
    threads: int
    worker: Worker | None = None
    stopping: bool = False

    @property
    def done(self) -> bool:
        raise NotImplementedError

    def loading(self) -> _Event:
        """The event for a model whose worker starts loading."""
        raise NotImplementedError

    def send_request(self) -> _Event | None:
        """Send the request to the ready worker; the event saying so, if any."""
        raise NotImplementedError

    def stopping_event(self) -> _Event | None:
        """The event for a Stop sent, still to be confirmed, if any."""
        return None

    def receive(self, message: object) -> Iterator[_Event]:
        """Handle one message of the request (not Loaded or LoadFailed: the loop's)."""
        raise NotImplementedError

    def finish(self, reason: FinishReason, error: str | None = None) -> _Event:
        """End from the parent's side (Stop, no worker, a dead or failed one); the event saying so."""
        raise NotImplementedError


@dataclass(kw_only=True)
class _Slot(_Job):
    """One model's part in a run."""

    prompt: str | list[dict]  # a text, or a conversation (chat mode)
    system_prompt: str | None
    parts: list[str] = field(default_factory=list)
    completion_tokens: int | None = None
    result: InferenceResult | None = None
    cpu_start: cpu_load.CpuSample | None = None

    @property
    def done(self) -> bool:
        return self.result is not None

    def loading(self) -> InferenceEvent:
        return InferenceEvent(self.model.id, "loading")

    def send_request(self) -> InferenceEvent:
        self.cpu_start = cpu_load.sample(self.worker.handle)
        self.completion_tokens = 0
        self.worker.send_generate(self.prompt, self.system_prompt, self.config, self.threads)
        return InferenceEvent(self.model.id, "generating")

    def stopping_event(self) -> InferenceEvent:
        return InferenceEvent(self.model.id, "stopping")

    def receive(self, message: object) -> Iterator[InferenceEvent]:
        if isinstance(message, Text):
            self.parts.append(message.text)
            self.completion_tokens = message.completion_tokens
            yield InferenceEvent(self.model.id, "text", message.text, message.completion_tokens)
        elif isinstance(message, Done):
            self.result = self._completed(InferenceResult.from_dict(message.result))
            yield InferenceEvent(self.model.id, "done", result=self.result)

    def finish(self, reason: FinishReason, error: str | None = None) -> InferenceEvent:
        """Keep whatever text arrived."""
        worker = self.worker
        loaded = worker is not None and worker.ready
        warm = loaded and worker.runs > 1
        stats = InferenceStats(
            completion_tokens=None
            if self.model.is_endpoint
            else self.completion_tokens,  # endpoints: from usage only
            finish_reason=reason,
            load_s=(0.0 if warm else worker.load_s) if loaded else None,
            warm=warm,
        )
        self._add_cpu_load(stats)
        self.result = InferenceResult(self.model.id, "".join(self.parts), reason, error, stats)
        if worker is not None:  # a refusal before any worker (the breaker's own) is not a new failure
            _record_endpoint_health(self.model, self.result)
        return InferenceEvent(self.model.id, "done", result=self.result)

    def _completed(self, result: InferenceResult) -> InferenceResult:
        """Add what only the parent knows: the load on the machine, how the model ran."""
        worker = self.worker
        result.ignored_settings, result.backend_versions = worker.ignored, worker.versions
        # The worker's load-time facts, then what the run itself reported (Placement.resolved).
        result.runtime = {**worker.runtime, **result.runtime, "n_threads": str(self.threads)}
        _record_endpoint_health(self.model, result)
        if self.model.is_endpoint:  # the model's memory and CPU are the server's: unknown here
            return result
        if result.stats.peak_rss_bytes is None:  # the platform gave no peak from inside
            result.stats.peak_rss_bytes = worker.peak_rss_sampled or None
        self._add_cpu_load(result.stats)
        return result

    def _add_cpu_load(self, stats: InferenceStats) -> None:
        if self.cpu_start is not None and self.worker is not None and not self.model.is_endpoint:
            stats.other_cpu_share = cpu_load.other_cpu_share(
                self.cpu_start, cpu_load.sample(self.worker.handle)
            )
            stats.busy = cpu_load.is_busy(stats.other_cpu_share)


@dataclass(kw_only=True)
class _Evaluation(_Job):
    """One model's evaluation request (likelihood scoring, see worker_main)."""

    request: dict
    end: EvaluateEnd | None = None

    @property
    def done(self) -> bool:
        return self.end is not None

    def loading(self) -> Loading:
        return Loading()

    def send_request(self) -> None:
        self.worker.send_evaluate(self.request, self.threads)

    def receive(self, message: object) -> Iterator[EvaluateEvent]:
        if isinstance(message, Progress):
            yield message
        elif isinstance(message, EvaluateEnd):
            self.end = message
            yield message

    def finish(self, reason: FinishReason, error: str | None = None) -> EvaluateEnd:
        # With a reason, even after Stop (a worker killed for not confirming it), it failed: no figures.
        self.end = EvaluateFailed(error) if error else EvaluateCancelled()
        return self.end


_Event = InferenceEvent | EvaluateEvent


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
            slots.append(
                _Slot(model, config, config.n_threads or threads, prompt=prompt, system_prompt=system_prompt)
            )
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
    ) -> Iterator[EvaluateEvent]:
        """Send one evaluation request (likelihood scoring, see worker_main) to the model's worker,
        loading the model first if needed. Yields Loading() while it loads, then the worker's
        Progress messages, and last what ends the request: Evaluated, EvaluateCancelled or
        EvaluateFailed (also for a model that cannot load or a worker that died or was killed).
        cancel() stops it like a run; it holds the run lock, so it never shares the cores with a
        comparison."""
        if model.error:
            raise ConfigurationError(model.unusable_reason)
        token = threading.Event()
        self._cancel_tokens.add(token)
        if not self._run_lock.acquire(blocking=False):
            self._cancel_tokens.discard(token)
            raise InferenceError(
                "another comparison or scoring is still running: wait for it to finish or stop it"
            )
        job = _Evaluation(model, config, config.n_threads or threads or default_threads(), request=request)
        try:
            with self._workers_lock:
                self._in_use[token] = {model.id}
            self._clear_cancel_flags([model])
            yield from self._drive([job], "sequential", token)
        finally:
            self._release([self._run_lock], token)

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

    def check_room(self, name: str, need: int | MemoryEstimate, model: ModelInfo | None = None) -> None:
        """Raise OutOfMemoryBudgetError unless `need` (bytes of RAM, or an estimate with its GPU
        memory) fits beside everything loaded now, without unloading anything (for a model that
        another process will hold)."""
        estimate = need if isinstance(need, MemoryEstimate) else MemoryEstimate(need)
        with self._load_lock:
            self._make_room(name, estimate, protected={w.model.id for w in self._worker_list()}, model=model)

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
        try:
            # Flags are cleared here, before the token is first read: a Stop from now on is
            # seen either through the token or through the flag it sets. Only this run's: another
            # run's model may be stopping.
            self._clear_cancel_flags([slot.model for slot in slots])
            for slot in slots:
                yield InferenceEvent(slot.model.id, "queued")
            yield from self._drive(slots, schedule, cancel)
        finally:
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

    def _clear_cancel_flags(self, models: list[ModelInfo]) -> None:
        for model in models:
            with self._workers_lock:
                worker = self._workers.get(model.id)
            if worker:
                worker.cancel_flag.clear()

    def _drive(self, jobs: list[_Job], schedule: str, cancel: threading.Event) -> Iterator[_Event]:
        """The one loop over the workers of a run or an evaluation: start each job's worker (as the
        schedule allows), read what the workers send, and on Stop drop the loading ones and give
        the generating ones `cancel_grace_s` to confirm before killing them. Closing it early
        stops the jobs still going (see _abort)."""
        running: list[_Job] = []
        try:
            waiting = deque(jobs)
            kill_deadline = None
            while waiting or running:
                if cancel.is_set():
                    while waiting:
                        yield waiting.popleft().finish(FinishReason.CANCELLED)
                    yield from self._stop_running(running)
                    kill_deadline = kill_deadline or perf_counter() + self.cancel_grace_s
                    if perf_counter() > kill_deadline:
                        for job in running:
                            self._discard(job.model.id)
                            yield job.finish(
                                FinishReason.CANCELLED,
                                f"the worker did not confirm Stop within {self.cancel_grace_s:.0f} s "
                                "and was killed",
                            )
                        running.clear()
                        break
                while waiting and not cancel.is_set() and (schedule == "parallel" or not running):
                    job = waiting.popleft()
                    event = self._start(
                        job, protected={j.model.id for j in running} | self._models_in_use(besides=cancel)
                    )
                    if event is not None:
                        yield event
                    if not job.done:
                        running.append(job)
                by_conn = {job.worker.conn: job for job in running}
                for conn in wait(list(by_conn), timeout=POLL_INTERVAL_S):
                    job = by_conn[conn]
                    yield from self._receive(job, cancel)
                    if job.done:
                        running.remove(job)
                for job in running:
                    job.worker.sample_rss()
        finally:
            self._abort([job for job in running if not job.done])

    def _stop_running(self, running: list[_Job]) -> Iterator[_Event]:
        """After Stop: a loading model is dropped at once (nothing to keep, and loading cannot be
        interrupted); a working one is told to stop and is 'stopping' until it confirms."""
        for job in list(running):
            if not job.worker.ready:
                self._discard(job.model.id)
                running.remove(job)
                yield job.finish(FinishReason.CANCELLED)
            elif not job.stopping:
                job.stopping = True
                job.worker.cancel_flag.set()
                event = job.stopping_event()
                if event is not None:
                    yield event

    def _start(self, job: _Job, protected: set[str]) -> _Event | None:
        model = job.model
        if model.is_endpoint:  # its circuit breaker is open: refuse at once, not after a timeout
            refusal = HealthBook().refusal(model.metadata.endpoint.base_url, model.metadata.endpoint.name)
            if refusal:
                return job.finish(FinishReason.ERROR, refusal)
        try:
            worker, loaded = self._worker_for(model, job.config, protected)
        except (OutOfMemoryBudgetError, OSError) as exc:
            return job.finish(FinishReason.ERROR, str(exc))
        job.worker = worker
        return job.send_request() if loaded else job.loading()

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
        estimate = memory.estimate_model_memory(model, config)
        with self._load_lock:  # two runs starting at once must not both count the same free memory
            self._make_room(model.name, estimate, protected, model=model)
            worker = Worker(
                model, config, estimate_bytes=estimate.ram_bytes, gpu_estimate_bytes=estimate.gpu_bytes
            )
            with self._workers_lock:
                self._workers[model.id] = worker
        return worker, False

    def _receive(self, job: _Job, cancel: threading.Event) -> Iterator[_Event]:
        """Handle every message the job's worker has sent so far."""
        worker = job.worker
        while not job.done:
            try:
                if not worker.conn.poll():
                    return
                message = worker.conn.recv()
            except (EOFError, OSError):
                reason = worker.exit_reason()
                self._discard(job.model.id)
                if cancel.is_set():  # it went after Stop (SIGTERM to the whole group stops both)
                    yield job.finish(FinishReason.CANCELLED)
                else:
                    yield job.finish(FinishReason.ERROR, reason)
                return
            if isinstance(message, Loaded):
                worker.mark_loaded(message)
                if cancel.is_set():  # stays loaded, but this run is over
                    yield job.finish(FinishReason.CANCELLED)
                    return
                event = job.send_request()
                if event is not None:
                    yield event
            elif isinstance(message, LoadFailed):
                self._discard(job.model.id)
                yield job.finish(FinishReason.ERROR, message.reason)
            else:
                yield from job.receive(message)

    def _abort(self, jobs: list[_Job]) -> None:
        """The consumer went away mid-run: stop its workers. This runs where the consumer
        closed the stream (a page script, a CLI's finally), so it waits a second at most; a
        worker that has not confirmed by then is killed, and so is one still loading."""
        if not jobs:
            return
        for job in jobs:
            job.worker.cancel_flag.set()
        deadline = perf_counter() + ABORT_WAIT_S
        pending = [j for j in jobs if j.worker.ready]
        for job in jobs:
            if not job.worker.ready:
                self._discard(job.model.id)  # still loading: nothing to keep
        cancelled = threading.Event()
        cancelled.set()
        while pending and perf_counter() < deadline:
            for conn in wait([j.worker.conn for j in pending], timeout=deadline - perf_counter()):
                job = next(j for j in pending if j.worker.conn is conn)
                for _ in self._receive(job, cancelled):
                    pass
            pending = [j for j in pending if not j.done]
        for job in pending:
            self._discard(job.model.id)

    def _discard(self, model_id: str) -> None:
        with self._workers_lock:
            worker = self._workers.pop(model_id, None)
        if worker:
            worker.kill()

    def _make_room(
        self, name: str, estimate: MemoryEstimate, protected: set[str], model: ModelInfo | None = None
    ) -> None:
        """Unload least recently used models until `estimate` fits in RAM (the budget and what the
        machine has free) and on every GPU it uses, or refuse before anything loads."""
        need, budget = estimate.ram_bytes, self.memory_budget_bytes
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
            workers = self._worker_list()
            idle = [(w.last_used, w.model.id) for w in workers if w.model.id not in protected]
            if in_use + need <= budget and need <= available:
                gpu_short = self._gpu_shortfall(name, estimate, model, workers)
                if gpu_short is None:
                    return
                # Only a model on the same GPU gives room there.
                idle = [
                    (w.last_used, w.model.id)
                    for w in workers
                    if w.model.id not in protected and w.gpu_estimate_bytes.keys() & estimate.gpu_bytes.keys()
                ]
                if not idle:
                    raise OutOfMemoryBudgetError(gpu_short)
                self.unload(min(idle)[1])
                continue
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

    @staticmethod
    def _gpu_shortfall(
        name: str, estimate: MemoryEstimate, model: ModelInfo | None, workers: list[Worker]
    ) -> str | None:
        """Why `estimate` does not fit on its GPUs now; None when it does (or uses none). A worker
        still loading will take its GPU estimate beyond what NVML sees it hold so far."""
        if not estimate.gpu_bytes:
            return None
        reserved: dict[int, int] = {}
        for worker in workers:
            if worker.ready:
                continue
            for index, planned in worker.gpu_estimate_bytes.items():
                held = gpus.process_gpu_bytes(worker.pid, index) or 0
                reserved[index] = reserved.get(index, 0) + max(0, planned - held)
        return memory.gpu_shortfall(name, estimate, reserved, model.type if model else None)


def _record_endpoint_health(model: ModelInfo, result: InferenceResult) -> None:
    """Feed an endpoint's circuit breaker: failures in a row open it; cancelled runs say nothing."""
    if model.is_endpoint and result.finish_reason != FinishReason.CANCELLED:
        error = result.error if result.finish_reason == FinishReason.ERROR else None
        HealthBook().record_run(model.metadata.endpoint.base_url, error)
