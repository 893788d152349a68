"""Runs a benchmark's plan through the engine on a background thread.

The thread lives in the process that started it (the dashboard's, or the CLI's), so a benchmark
keeps running when the user switches pages or closes the tab. Each run is handed to `save` the
moment it ends, so Stop or a crash loses at most the run in flight; a resumed benchmark gets the
keys of the runs it has and runs only the rest.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from llm_compare.core.config import ModelConfig
from llm_compare.core.errors import ConfigurationError
from llm_compare.core.models import ModelInfo
from llm_compare.core.results import FinishReason, InferenceResult
from llm_compare.services.background import BackgroundJob
from llm_compare.services.bench.aggregate import FIGURES, CountedRun
from llm_compare.services.bench.checks import CheckOutcome, run_checks
from llm_compare.services.bench.plan import PlannedRun, memory_groups, order_note, remaining, schedule
from llm_compare.services.bench.setups import ModelSetup
from llm_compare.services.bench.suites import Suite, SuitePrompt, parse_suite, prompt_to_dict
from llm_compare.services.endpoints import catalog
from llm_compare.services.engine.engine import InferenceEngine
from llm_compare.services.engine.memory import estimate_model_memory
from llm_compare.system import gpus

log = logging.getLogger(__name__)

MAX_REPEATS = 1000
MAX_WARMUPS = 20


@dataclass(frozen=True)
class BenchmarkSpec:
    """What to run. Overrides (max_tokens, temperature) replace each model's saved setting;
    a prompt's own max_tokens applies where the benchmark sets none."""

    model_ids: tuple[str, ...]
    suite: Suite
    repeats: int = 5
    warmups: int = 1
    seed: int = 0
    max_tokens: int | None = None
    temperature: float | None = None
    # How to reach each endpoint model again (catalog.reference): an unsaved one has no other record.
    endpoint_refs: dict[str, dict] = field(default_factory=dict)
    # What each model ran with, pinned when the benchmark started (setups.ModelSetup, by its key):
    # a resume runs with exactly these settings, and refuses a model whose files changed since.
    setups: dict[str, ModelSetup] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """What a resumed benchmark needs to run the same plan again (the suite included)."""
        return {
            "model_ids": list(self.model_ids),
            "suite": {"name": self.suite.name, "prompts": [prompt_to_dict(p) for p in self.suite.prompts]},
            "repeats": self.repeats,
            "warmups": self.warmups,
            "seed": self.seed,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "endpoint_refs": self.endpoint_refs,
            "setups": {key: setup.to_dict() for key, setup in self.setups.items()},
        }

    @classmethod
    def from_dict(cls, data: dict) -> BenchmarkSpec:
        suite = data["suite"]
        prompts = "\n".join(json.dumps(p) for p in suite["prompts"]).encode()
        return cls(
            model_ids=tuple(data["model_ids"]),
            suite=replace(parse_suite(prompts, suite["name"], "jsonl"), name=suite["name"]),
            repeats=data["repeats"],
            warmups=data["warmups"],
            seed=data["seed"],
            max_tokens=data.get("max_tokens"),
            temperature=data.get("temperature"),
            endpoint_refs=data.get("endpoint_refs") or {},
            setups={key: ModelSetup.from_dict(setup) for key, setup in (data.get("setups") or {}).items()},
        )

    def for_models(self, models: list[ModelInfo]) -> BenchmarkSpec:
        """This plan on these models: their ids, and how to reach each endpoint model again."""
        return replace(
            self,
            model_ids=tuple(m.id for m in models),
            endpoint_refs={m.id: catalog.reference(m) for m in models if m.is_endpoint},
        )

    def check(self) -> None:
        if not self.model_ids:
            raise ConfigurationError("no model selected: choose at least one model to benchmark")
        if len(set(self.model_ids)) != len(self.model_ids):
            raise ConfigurationError("a model is selected twice: select each model once")
        if not 1 <= self.repeats <= MAX_REPEATS:
            raise ConfigurationError(f"repetitions must be between 1 and {MAX_REPEATS}, not {self.repeats}")
        if not 0 <= self.warmups <= MAX_WARMUPS:
            raise ConfigurationError(f"warm-up runs must be between 0 and {MAX_WARMUPS}, not {self.warmups}")


@dataclass(frozen=True)
class BenchRunOutcome:
    """One planned run, done: what `save` stores and what the results are made of."""

    planned: PlannedRun
    prompt: SuitePrompt
    model: ModelInfo
    config: ModelConfig
    result: InferenceResult
    checks: tuple[CheckOutcome, ...]
    skipped: str | None = None  # why the prompt was not run on this model (it did not fit)
    benchmark_id: str = ""

    @property
    def counted(self) -> bool:
        """Warm-ups, skips and stopped runs are never part of the statistics."""
        return (
            not self.planned.warmup
            and self.skipped is None
            and self.result.finish_reason
            in (
                FinishReason.STOP,
                FinishReason.LENGTH,
            )
        )

    def as_counted(self) -> CountedRun:
        stats = self.result.stats
        return CountedRun(
            model_id=self.model.id,
            prompt_id=self.prompt.id,
            repeat=self.planned.repeat,
            figures={name: getattr(stats, name) for name in FIGURES},
            busy=bool(stats.busy),
            checks_passed=sum(c.passed for c in self.checks),
            checks_total=len(self.checks),
        )


@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    elapsed_s: float
    left_s: float | None  # None until a run has finished
    # Counted-to-be runs of the whole benchmark, as the store counts them (a resume's earlier
    # runs included, warm-ups not): what the Past benchmarks table says too.
    runs_done: int = 0
    runs_planned: int = 0


def effective_config(saved: ModelConfig, spec: BenchmarkSpec, prompt: SuitePrompt, seed: int) -> ModelConfig:
    """The model's saved settings with the benchmark's overrides and the repetition's seed."""
    updates: dict[str, object] = {"seed": seed}
    max_tokens = spec.max_tokens or prompt.max_tokens
    if max_tokens:
        updates["max_tokens"] = max_tokens
    if spec.temperature is not None:
        updates["temperature"] = spec.temperature
    try:
        return ModelConfig.model_validate({**saved.model_dump(), **updates})
    except ValueError as exc:
        raise ConfigurationError(f"the benchmark's settings are not valid for a model: {exc}") from None


def prompt_did_not_fit(result: InferenceResult) -> bool:
    """The generation refused the prompt after counting its tokens and before generating: the only
    refusal at that point is a prompt that does not fit the context (an empty one is refused
    before a benchmark starts)."""
    stats = result.stats
    return (
        result.finish_reason == FinishReason.ERROR
        and stats.prompt_tokens is not None
        and stats.completion_tokens is None
    )


class BenchmarkRunner(BackgroundJob):
    """`cancel()` stops after the run in flight (it ends as cancelled and is not counted); every
    finished run is already saved."""

    def __init__(
        self,
        engine: InferenceEngine,
        spec: BenchmarkSpec,
        models: dict[str, ModelInfo],
        configs: dict[str, ModelConfig],
        save: Callable[[BenchRunOutcome], str | None],
        done: Iterable[tuple[str, str, int]] = (),
        benchmark_id: str | None = None,
        on_status: Callable[[BenchmarkRunner, str], str | None] | None = None,
        earlier: Iterable[CountedRun] = (),
    ):
        spec.check()
        super().__init__("benchmark", interrupt=engine.cancel)
        self._earlier = list(earlier)  # a resumed benchmark's stored runs: its results include them
        self.benchmark_id = benchmark_id or uuid.uuid4().hex[:12]
        # A model that cannot be used (a truncated file, say) is left out with its reason; the others run.
        self.unusable = {m: models[m].unusable_reason for m in spec.model_ids if models[m].error}
        if len(self.unusable) == len(spec.model_ids):
            raise ConfigurationError(next(iter(self.unusable.values())))
        spec = replace(spec, model_ids=tuple(m for m in spec.model_ids if m not in self.unusable))
        self.engine, self.spec, self.models, self.save = engine, spec, models, save
        self.on_status = on_status  # told "running" at the start, and how it ended; may return a note
        self.configs = {m: configs.get(m) or ModelConfig() for m in spec.model_ids}
        self.prompts = {p.id: p for p in spec.suite.prompts}
        estimates = {m: estimate_model_memory(models[m], self.configs[m]) for m in spec.model_ids}
        self.groups = memory_groups(
            list(spec.model_ids),
            {m: e.ram_bytes for m, e in estimates.items()},
            engine.memory_budget_bytes,
            gpu_bytes={m: e.gpu_bytes for m, e in estimates.items()},
            gpu_free_bytes={gpu.index: gpu.free_bytes for gpu in gpus.nvidia_gpus()},
        )
        self.order_note = order_note(self.groups)
        plan = schedule(self.groups, list(self.prompts), spec.repeats, spec.warmups, spec.seed)
        self.plan = remaining(plan, done)
        self.outcomes: list[BenchRunOutcome] = []
        self._skips: dict[tuple[str, str], str] = {}  # (model, prompt) -> why it did not fit
        self.save_errors: list[str] = []
        # How it runs, where the user should know: e.g. resumed with today's settings, not its own.
        self.notes: list[str] = []
        self._started = time.monotonic()
        self._lock = threading.Lock()

    # --- for the page and the CLI -------------------------------------------------------------

    def progress(self) -> Progress:
        with self._lock:
            done = len(self.outcomes)
            runs_made = sum(1 for o in self.outcomes if not o.planned.warmup)
        elapsed = time.monotonic() - self._started
        left = elapsed / done * (len(self.plan) - done) if done else None
        planned = len(self.spec.model_ids) * len(self.spec.suite.prompts) * self.spec.repeats
        runs_before = planned - sum(1 for p in self.plan if not p.warmup)  # a resume's earlier runs
        return Progress(done, len(self.plan), elapsed, left, runs_before + runs_made, planned)

    def snapshot(self) -> list[BenchRunOutcome]:
        with self._lock:
            return list(self.outcomes)

    def counted_runs(self) -> list[CountedRun]:
        """The runs counted so far, those made before a resume included: what the results are
        computed from."""
        return [*self._earlier, *(o.as_counted() for o in self.snapshot() if o.counted)]

    # --- the benchmark thread -----------------------------------------------------------------

    @property
    def status(self) -> str:
        return self._ending() if self.finished else "running"

    def _ending(self) -> str:
        return "failed" if self.error else "stopped" if self.stop_requested else "complete"

    def _tell(self, status: str) -> None:
        if self.on_status is not None:
            try:
                note = self.on_status(self, status)
            except Exception as exc:  # the benchmark's record is lost, not its runs (each is saved alone)
                log.exception("could not record that benchmark %s is %s", self.benchmark_id, status)
                note = f"not saved: {exc}"
            if note:  # e.g. kept in the pending file while the store was locked
                self.save_errors.append(f"the benchmark's status ({status}): {note}")

    def _work(self) -> None:
        self._started = time.monotonic()
        self._tell("running")
        for planned in self.plan:
            if self.stop_requested:
                break
            outcome = self._run_one(planned)
            if outcome.result.finish_reason == FinishReason.CANCELLED and self.stop_requested:
                break  # stopped mid-run: not a finished run, a resume runs it again
            self._keep(outcome)

    def _wrap_up(self) -> None:
        self._tell(self._ending())

    def _run_one(self, planned: PlannedRun) -> BenchRunOutcome:
        prompt, model = self.prompts[planned.prompt_id], self.models[planned.model_id]
        config = effective_config(self.configs[model.id], self.spec, prompt, planned.seed)
        reason = self._skips.get((model.id, prompt.id))
        if reason:  # it did not fit before and will not now: no need to ask the model again
            result = InferenceResult.never_ran(model.id, reason)
            return BenchRunOutcome(planned, prompt, model, config, result, (), reason, self.benchmark_id)
        result = None
        events = self.engine.run(prompt.prompt, [model], {model.id: config}, system_prompt=prompt.system)
        try:
            for event in events:
                if event.kind == "done":
                    result = event.result
        finally:
            events.close()
        if result is None:  # the engine ended without a result: treat as stopped
            result = InferenceResult(model.id, finish_reason=FinishReason.CANCELLED)
        skipped = result.error if prompt_did_not_fit(result) else None
        if skipped:
            self._skips[(model.id, prompt.id)] = skipped
        checks = run_checks(prompt.checks, result.text) if skipped is None and not planned.warmup else ()
        return BenchRunOutcome(planned, prompt, model, config, result, checks, skipped, self.benchmark_id)

    def _keep(self, outcome: BenchRunOutcome) -> None:
        if not outcome.planned.warmup:
            try:
                note = self.save(outcome)
            except Exception as exc:  # even the pending file failed: the benchmark still goes on
                log.exception("could not save a benchmark run")
                note = f"not saved: {exc}"
            if note:
                self.save_errors.append(
                    f"{outcome.model.name}, {outcome.prompt.id}, repetition {outcome.planned.repeat}: {note}"
                )
        with self._lock:
            self.outcomes.append(outcome)
