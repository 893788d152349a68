"""The models a dashboard process serves with `llm-compare serve`: each is saved as an endpoint, so
that the same model can be compared in-process and behind a server, and each server's memory is
charged to the engine's budget. They are stopped when the process exits, and a server started here
exits on its own when this process is killed (see system/child_processes.py): no server outlives it."""

from __future__ import annotations

import atexit
import re
import threading
from collections.abc import Collection
from dataclasses import dataclass

from llm_compare.core.config import ModelConfig
from llm_compare.core.endpoints import Endpoint
from llm_compare.core.errors import ConfigurationError
from llm_compare.core.models import ModelInfo
from llm_compare.services.endpoints.registry import EndpointRegistry
from llm_compare.services.engine import memory
from llm_compare.services.engine.engine import InferenceEngine
from llm_compare.services.engine.memory import ExternalProcess
from llm_compare.services.served_models.process import ServedProcess, start_serving

ENDPOINT_PREFIX = "served-"
NAME_LIMIT = 64  # an Endpoint name's longest


def endpoint_name(model: ModelInfo, taken: Collection[str] = ()) -> str:
    """`served-<model name>`, in the characters and length an endpoint name takes; when another
    endpoint has that name, the first free `served-<model name>-N` (N from 2)."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", model.name).strip("-") or "model"
    base = (ENDPOINT_PREFIX + slug)[:NAME_LIMIT]
    name, number = base, 1
    while name in taken:
        number += 1
        suffix = f"-{number}"
        name = base[: NAME_LIMIT - len(suffix)] + suffix
    return name


@dataclass
class ServedModel:
    endpoint_name: str
    model: ModelInfo
    process: ServedProcess
    reserved_bytes: int  # the model's estimate: charged until the server has loaded it
    registry: EndpointRegistry  # where its endpoint was saved, and is removed from

    @property
    def base_url(self) -> str:
        return self.process.base_url

    @property
    def pid(self) -> int:
        return self.process.pid

    def rss_bytes(self) -> int:
        """The server's resident memory with its model worker's, now."""
        return memory.process_tree_rss_bytes(self.pid) if self.process.alive else 0


class ServedModels:
    """Start, list and stop this process's served models; thread-safe (dashboard tabs share it)."""

    def __init__(self, engine: InferenceEngine):
        self._lock = threading.Lock()
        self._served: dict[str, ServedModel] = {}  # by endpoint name
        self._starting: dict[
            str, tuple[str, int]
        ] = {}  # endpoint name -> (model id, reserved bytes), while its server starts
        engine.count_external(self.external_processes)
        self._engine = engine
        atexit.register(self.stop_all)

    def serve(self, model: ModelInfo, config: ModelConfig, models_dirs: list[str]) -> ServedModel:
        """Start a server for `model` and save it as the endpoint `served-<name>`. Raises a
        one-line LLMCompareError (and leaves no server or endpoint behind) when it cannot."""
        if model.is_endpoint:
            raise ConfigurationError(f"{model.name} is already behind an HTTP endpoint: serve a local model")
        if model.error:
            raise ConfigurationError(model.unusable_reason)
        estimate = memory.estimate_model_memory(model, config)
        need = estimate.ram_bytes
        with self._lock:
            # "Already served" is the same model (its id), not the same name: two files called
            # model.gguf in two directories are two models, served side by side under two names.
            if (name := self._name_serving(model.id)) is not None:
                raise ConfigurationError(
                    f"{model.name} ({model.path}) is already served, as endpoint {name}: stop it there first"
                )
            registry = EndpointRegistry()
            # Names saved by hand or left by an earlier dashboard are taken too: we cannot tell which
            # model such an endpoint served, so it is left alone and ours gets a free name.
            name = endpoint_name(
                model, {e.name for e in registry.load()} | set(self._served) | set(self._starting)
            )
            self._starting[name] = (
                model.id,
                0,
            )  # the name is taken; its memory is charged once it is found to fit
        try:
            # Outside our lock: the engine holds its own while it asks us what we charge.
            self._engine.check_room(f"serving {model.name}", estimate, model)
            with self._lock:
                self._starting[name] = (
                    model.id,
                    need,
                )  # a model loading meanwhile must not take the server's room
            process = start_serving(model.id, models_dirs=models_dirs)
            try:
                registry.add(Endpoint(name=name, base_url=process.base_url))
            except BaseException:
                process.stop()
                raise
            served = ServedModel(name, model, process, need, registry)
            with self._lock:
                self._served[name] = served
            return served
        finally:
            with self._lock:
                self._starting.pop(name, None)

    def _name_serving(self, model_id: str) -> str | None:
        """The endpoint name this dashboard serves `model_id` under, or is starting it under (hold the
        lock)."""
        names = {s.model.id: name for name, s in self._served.items()}
        names |= {starting_id: name for name, (starting_id, _) in self._starting.items()}
        return names.get(model_id)

    def list(self) -> list[ServedModel]:
        with self._lock:
            return list(self._served.values())

    def stop(self, name: str) -> None:
        """Stop the server and remove its endpoint (if the user has not already)."""
        with self._lock:
            served = self._served.pop(name, None)
        if served is None:
            raise ConfigurationError(f"no model is served as {name} by this dashboard")
        served.process.stop()
        if any(e.name == name for e in served.registry.load()):
            served.registry.remove(name)

    def stop_all(self) -> None:
        for served in self.list():
            self.stop(served.endpoint_name)

    def external_processes(self) -> list[ExternalProcess]:
        """What the engine charges to its budget for these servers."""
        with self._lock:
            starting = [
                ExternalProcess(None, f"{name} (starting)", need)
                for name, (_, need) in self._starting.items()
                if need
            ]
            running = [
                ExternalProcess(s.pid, s.endpoint_name, s.reserved_bytes)
                for s in self._served.values()
                if s.process.alive
            ]
        return running + starting
