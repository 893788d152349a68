"""Endpoint models as ModelInfo, beside the local ones: each saved endpoint's GET /v1/models
(which is also its health check), and the references users type: NAME#MODEL for a saved endpoint,
BASE_URL#MODEL or BASE_URL (its only model) for any other."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

from llm_compare.core.endpoints import Endpoint
from llm_compare.core.errors import ConfigurationError, ModelNotFoundError
from llm_compare.core.models import ModelInfo, ModelMetadata, ModelType, endpoint_model_id
from llm_compare.services.endpoints.health import Health, HealthBook
from llm_compare.services.endpoints.registry import EndpointRegistry

# Listing runs at every scan: a dead endpoint must not hold the Models page for its full timeout.
LIST_TIMEOUT_S = 5.0


def is_endpoint_ref(ref: str) -> bool:
    return "#" in ref or ref.startswith(("http://", "https://"))


def endpoint_model(
    endpoint: Endpoint,
    server_model: str,
    health: Health | None = None,
    server_kind: str | None = None,
    context_length: int | None = None,
) -> ModelInfo:
    health = health or Health()
    metadata = ModelMetadata(
        format="openai",
        architecture=server_kind,
        has_chat_template=True,  # the server applies its template
        context_length=context_length,
        generation_defaults={},
        files=[],
        endpoint=endpoint,
        server_model=server_model,
        server_kind=server_kind,
        healthy=health.healthy,
        health_latency_ms=health.health_latency_ms,
    )
    return ModelInfo(
        id=endpoint_model_id(endpoint.base_url, server_model),
        name=f"{endpoint.name}#{server_model}",
        type=ModelType.OPENAI,
        path=f"{endpoint.base_url}#{server_model}",
        size_bytes=0,
        metadata=metadata,
    )


def unreachable(endpoint: Endpoint, error: str, health: Health) -> ModelInfo:
    """The row of an endpoint whose models cannot be listed: its name, and why."""
    info = endpoint_model(endpoint, "", health)
    info.name, info.path, info.error = endpoint.name, endpoint.base_url, error
    return info


def list_endpoint(endpoint: Endpoint, book: HealthBook) -> list[ModelInfo]:
    """The endpoint's models (GET /v1/models, timed: its health check), or one row saying why not."""
    from llm_compare.inferencers import (
        openai_http as http,  # the openai client, only when there are endpoints
    )

    try:
        client = http.make_client(endpoint, timeout_s=min(endpoint.timeout_s, LIST_TIMEOUT_S))
        with client:
            listing = http.list_models(client)
            server = http.identify_server(client, endpoint)
    except Exception as exc:
        error = http.describe_failure(exc, endpoint, "(listing models)")
        return [unreachable(endpoint, error, book.record_check(endpoint.base_url, None, error))]
    health = book.record_check(endpoint.base_url, listing.latency_ms)
    models = []
    for entry in listing.models:
        context = entry.get("max_model_len") or server.context_length  # vLLM lists it per model
        models.append(
            endpoint_model(
                endpoint,
                str(entry.get("id")),
                health,
                server.kind,
                context if isinstance(context, int) else None,
            )
        )
    if not models:
        return [
            unreachable(
                endpoint,
                "the server lists no models (GET /v1/models is empty): load one on the server",
                health,
            )
        ]
    return models


def list_all(registry: EndpointRegistry, book: HealthBook) -> list[ModelInfo]:
    """Every saved endpoint's models, the endpoints asked at once."""
    endpoints = registry.load()
    if not endpoints:
        return []
    with ThreadPoolExecutor(max_workers=min(8, len(endpoints))) as pool:
        return [m for found in pool.map(lambda e: list_endpoint(e, book), endpoints) for m in found]


def resolve(
    ref: str, registry: EndpointRegistry, book: HealthBook, api_key_env: str | None = None
) -> ModelInfo:
    """The model a NAME#MODEL, BASE_URL#MODEL or BASE_URL reference names."""
    target, _, model = ref.partition("#")  # neither a saved name nor a base URL holds a '#'
    target = target.rstrip("/")
    if target.startswith(("http://", "https://")):
        endpoint = Endpoint.parse({"name": _name_for(target), "base_url": target, "api_key_env": api_key_env})
    else:
        endpoint = registry.get(target)
    if model:
        return endpoint_model(endpoint, model, book.get(endpoint.base_url))
    listed = list_endpoint(endpoint, book)
    if len(listed) == 1 and listed[0].error:
        raise ModelNotFoundError(listed[0].unusable_reason)
    if len(listed) != 1:
        names = ", ".join(m.metadata.server_model for m in listed)
        raise ConfigurationError(
            f"{endpoint.base_url} serves {len(listed)} models ({names}): name one as {ref}#MODEL"
        )
    return listed[0]


def reference(model: ModelInfo) -> dict[str, str | None]:
    """What finds an endpoint model again later (a resumed benchmark): its base URL, its name on
    the server and the NAME of the environment variable holding its key, never the key."""
    endpoint = model.metadata.endpoint
    return {
        "base_url": endpoint.base_url,
        "model": model.metadata.server_model,
        "api_key_env": endpoint.api_key_env,
    }


def from_reference(ref: dict, registry: EndpointRegistry, book: HealthBook) -> ModelInfo:
    """The endpoint model a `reference` describes, once its server answers GET /v1/models: a server
    that is gone is one line saying so, before anything runs."""
    model = resolve(f"{ref['base_url']}#{ref['model']}", registry, book, ref.get("api_key_env"))
    listed = list_endpoint(model.metadata.endpoint, book)
    if len(listed) == 1 and listed[0].error:
        raise ModelNotFoundError(listed[0].unusable_reason)
    return model


def _name_for(base_url: str) -> str:
    parts = urlsplit(base_url)
    return f"{parts.hostname}:{parts.port}" if parts.port else (parts.hostname or "endpoint")
