"""Benchmarks from start to resume: the one path that `llm-compare bench` and the Benchmark page
both take (as lm-evaluation-harness's `simple_evaluate` serves its CLI and its API alike)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from llm_compare.core.config import ModelConfig
from llm_compare.core.errors import ConfigurationError, LLMCompareError, ModelNotFoundError
from llm_compare.core.models import ModelInfo
from llm_compare.services.bench.persistence import counted_runs, done_keys, record_status, save_bench_run
from llm_compare.services.bench.runner import BenchmarkRunner, BenchmarkSpec
from llm_compare.services.bench.setups import ModelSetup, pin_setups, setup_key
from llm_compare.services.discovery.config_manager import ConfigManager
from llm_compare.services.discovery.fingerprint import why_changed
from llm_compare.services.discovery.model_manager import ModelManager
from llm_compare.services.endpoints import catalog
from llm_compare.services.engine.engine import InferenceEngine
from llm_compare.services.job_slot import JobSlot
from llm_compare.services.store.run_store import RunStore


class BenchmarkJobs:
    """One benchmark at a time on `engine`: start a new one, resume a stored one, and the current
    one. Each run is stored the moment it ends; the models' settings are read here, once."""

    def __init__(self, engine: InferenceEngine):
        self.engine = engine
        self.slot: JobSlot[BenchmarkRunner] = JobSlot("benchmark")

    @property
    def current(self) -> BenchmarkRunner | None:
        """The benchmark running now, or the last one started here."""
        return self.slot.current

    def check_free(self) -> None:
        """Refuse, in one line, while a benchmark is running here."""
        self.slot.check_free()

    def start(self, spec: BenchmarkSpec, models: list[ModelInfo]) -> BenchmarkRunner:
        """Benchmark `models` (found, in order) with their saved settings, on a background thread.
        The spec stored keeps how to find each model again, its settings and its files'
        fingerprint: what a resume needs to run the same thing."""
        self.check_free()
        saved = ConfigManager().load_many(models)
        spec = replace(spec.for_models(models), setups=pin_setups(models, saved.configs))
        store = RunStore()
        runner = BenchmarkRunner(
            self.engine,
            spec,
            {m.id: m for m in models},
            saved.configs,
            save=lambda outcome: save_bench_run(store, outcome),
            on_status=record_status(store),
        )
        runner.notes.extend(saved.warnings)
        return self.slot.start(runner)

    def resume(self, benchmark_id: str, manager: ModelManager) -> BenchmarkRunner:
        """Run what a stored benchmark has not run yet, under its own id, plan, seeds and settings,
        on a background thread; its models found again through what it kept (`manager` for those
        it found by id). Refused in one line when a model is gone or its files changed since."""
        self.check_free()
        store = RunStore()
        stored = store.benchmark(benchmark_id)
        if stored.status == "running":
            raise ConfigurationError(
                f"benchmark {benchmark_id} is still running in another process: stop it, or wait for it "
                "to finish, then resume"
            )
        spec = BenchmarkSpec.from_dict(stored.spec)
        try:
            models = find_models(spec, manager)
        except LLMCompareError as exc:
            raise type(exc)(f"benchmark {benchmark_id} cannot be resumed: {exc}") from None
        configs, notes = pinned_configs(spec, models)
        earlier = store.benchmark_runs(benchmark_id)
        runner = BenchmarkRunner(
            self.engine,
            spec,
            {m.id: m for m in models},
            configs,
            save=lambda outcome: save_bench_run(store, outcome),
            on_status=record_status(store),
            done=done_keys(earlier),
            benchmark_id=benchmark_id,
            earlier=counted_runs(earlier),
        )
        runner.notes.extend(notes)
        return self.slot.start(runner)


def find_models(spec: BenchmarkSpec, manager: ModelManager) -> list[ModelInfo]:
    """A stored benchmark's models, found again: by id (model directories, other apps' folders,
    saved endpoints), else through what the benchmark kept (the path of a model given by path, the
    reference of an unsaved endpoint model). A model whose files changed since the start is refused,
    saying how."""
    models = []
    for model_id in spec.model_ids:
        setup = spec.setups.get(setup_key(model_id))
        model = _find_model(model_id, setup, spec, manager)
        if setup is not None and setup.fingerprint is not None:
            why = why_changed(model, setup.fingerprint)
            if why:
                raise ConfigurationError(
                    f"{model.name} changed since the benchmark started ({why}): start a new benchmark to "
                    "measure it as it is now"
                )
        models.append(model)
    return models


def pinned_configs(spec: BenchmarkSpec, models: list[ModelInfo]) -> tuple[dict[str, ModelConfig], list[str]]:
    """The settings each model started with, and a warning line for each that a benchmark stored
    before they were kept has to run with today's saved settings."""
    configs, notes, older = {}, [], []
    for model in models:
        setup = spec.setups.get(setup_key(model.id))
        if setup is None:
            older.append(model)
        else:
            configs[model.id] = setup.model_config()
    if older:
        saved = ConfigManager().load_many(older)
        configs.update(saved.configs)
        notes.append(
            f"this benchmark was started before benchmarks kept their models' settings: "
            f"{', '.join(m.name for m in older)} resumed with today's saved settings, which may differ"
        )
        notes.extend(saved.warnings)
    return configs, notes


def _find_model(
    model_id: str, setup: ModelSetup | None, spec: BenchmarkSpec, manager: ModelManager
) -> ModelInfo:
    try:
        return manager.get(model_id)
    except ModelNotFoundError:
        pass  # reached below, outside this handler: a failure there is not chained to this one
    if setup is not None and setup.path:
        if not Path(setup.path).exists():
            raise ModelNotFoundError(
                f"model {model_id} of this benchmark is not found any more at {setup.path}: put it back "
                "there, then resume"
            )
        found = manager.inspect(setup.path)
        return found if found.id == model_id else replace(found, id=model_id)
    if model_id in spec.endpoint_refs:
        return catalog.from_reference(spec.endpoint_refs[model_id], manager.endpoints, manager.health)
    raise ModelNotFoundError(
        f"model {model_id} of this benchmark is not found any more: put it back in a model directory "
        "(or save its endpoint again), then resume"
    )
