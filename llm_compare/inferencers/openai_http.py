"""Talking to an OpenAI-compatible server through the `openai` client: the client for an
endpoint, its model list, which server it is, and a one-line message for every way it can fail.
Shared by the HTTP backend (in its worker) and the endpoint services (listing, health checks)."""

from __future__ import annotations

import json
import os
import socket
import threading
import weakref
from dataclasses import dataclass
from time import perf_counter
from urllib.parse import urlsplit

import httpcore2
import httpx2
import openai

from llm_compare.core.endpoints import Endpoint
from llm_compare.core.errors import ConfigurationError
from llm_compare.inferencers.endpoint_settings import LLAMA_CPP, LLAMA_CPP_PYTHON, OLLAMA, OTHER, VLLM

# Probes are small GETs to a server that just answered /v1/models: a short wait is enough.
PROBE_TIMEOUT_S = 3.0
NO_KEY = "no-key"  # servers without auth ignore it; never OPENAI_API_KEY picked up from the environment
MAX_DETAIL_CHARS = 160


def api_key(endpoint: Endpoint) -> str | None:
    """The key from the endpoint's environment variable; None when it names none. Read at the
    moment of use, never stored."""
    if endpoint.api_key_env is None:
        return None
    value = os.environ.get(endpoint.api_key_env)
    if not value:
        raise ConfigurationError(
            f"the environment variable {endpoint.api_key_env} (the API key of endpoint {endpoint.name}) is "
            "not set: set it in the environment that starts llm-compare"
        )
    return value


def make_client(
    endpoint: Endpoint, timeout_s: float | None = None, sockets: SocketTracker | None = None
) -> openai.OpenAI:
    """A client that retries nothing by itself (retries are ours, before the first token only).
    With `sockets`, its connections can be cut at once from another thread (Stop)."""
    timeout = timeout_s or endpoint.timeout_s
    return openai.OpenAI(
        base_url=endpoint.base_url,
        api_key=api_key(endpoint) or NO_KEY,
        default_headers=endpoint.headers or None,
        max_retries=0,
        # The read timeout also bounds the wait between two chunks of a stream.
        timeout=httpx2.Timeout(timeout, connect=min(timeout, 10.0)),
        http_client=httpx2.Client(transport=_TrackedTransport(sockets)) if sockets else None,
    )


class SocketTracker(httpcore2.SyncBackend):
    """A network backend that remembers its sockets, so that Stop can cut them. Closing a socket
    does not wake a thread blocked reading it (on Linux); shutting it down does, at once, whether
    the server is silent before its headers or between two chunks."""

    def __init__(self):
        super().__init__()
        self._streams: weakref.WeakSet = weakref.WeakSet()
        self._lock = threading.Lock()

    def connect_tcp(self, *args, **kwargs):
        stream = super().connect_tcp(*args, **kwargs)
        with self._lock:
            self._streams.add(stream)
        return stream

    def cut_all(self) -> None:
        with self._lock:
            streams = list(self._streams)
        for stream in streams:
            try:
                stream.get_extra_info("socket").shutdown(socket.SHUT_RDWR)
            except OSError:  # already closed
                pass


class _TrackedTransport(httpx2.HTTPTransport):
    def __init__(self, sockets: SocketTracker):
        super().__init__()
        # httpx2's transport takes no network backend: give its pool ours, with the same defaults.
        self._pool = httpcore2.ConnectionPool(network_backend=sockets, max_connections=4)


@dataclass
class ModelList:
    models: list[dict]  # each model's entry as the server sent it (id, and what else it says)
    latency_ms: float  # time for GET /v1/models to answer: docs/metrics.md's health_latency_ms


def list_models(client: openai.OpenAI) -> ModelList:
    t0 = perf_counter()
    page = client.models.list()
    latency_ms = (perf_counter() - t0) * 1000
    return ModelList([m.model_dump() for m in page.data], latency_ms)


def get_json(client: openai.OpenAI, url: str) -> dict | None:
    """GET `url` (outside the API path) as JSON; None when the server has no such document."""
    try:
        response = client.with_options(timeout=PROBE_TIMEOUT_S).get(url, cast_to=httpx2.Response)
        data = response.json()
    except (openai.OpenAIError, ValueError):
        return None
    return data if isinstance(data, dict) else None


@dataclass
class ServerInfo:
    kind: str
    version: str | None = None
    context_length: int | None = None  # tokens per request, when the server says


def identify_server(client: openai.OpenAI, endpoint: Endpoint) -> ServerInfo:
    """Which server answers at the endpoint, from the documents each kind serves beside /v1."""
    root = endpoint.server_root
    props = get_json(client, f"{root}/props")
    if props is not None and ("default_generation_settings" in props or "build_info" in props):
        settings = props.get("default_generation_settings") or {}
        n_ctx = settings.get("n_ctx") if isinstance(settings, dict) else None
        return ServerInfo(
            LLAMA_CPP, _text(props.get("build_info")), n_ctx if isinstance(n_ctx, int) else None
        )
    version = get_json(client, f"{root}/api/version")
    if version is not None and isinstance(version.get("version"), str):
        return ServerInfo(OLLAMA, version["version"])
    version = get_json(client, f"{root}/version")
    if version is not None and isinstance(version.get("version"), str):
        return ServerInfo(VLLM, version["version"])
    openapi = get_json(client, f"{root}/openapi.json")
    info = (openapi or {}).get("info")
    if isinstance(info, dict) and "llama.cpp python" in str(info.get("title", "")).lower():
        return ServerInfo(LLAMA_CPP_PYTHON, _text(info.get("version")))
    return ServerInfo(OTHER)


def ollama_loaded_models(client: openai.OpenAI, endpoint: Endpoint) -> set[str] | None:
    """The models Ollama holds in memory now (GET /api/ps); None when it cannot tell."""
    running = get_json(client, f"{endpoint.server_root}/api/ps")
    if running is None or not isinstance(running.get("models"), list):
        return None
    names = set()
    for entry in running["models"]:
        if isinstance(entry, dict):
            names |= {v for k, v in entry.items() if k in ("name", "model") and isinstance(v, str)}
    return names


def _text(value) -> str | None:
    return str(value) if value is not None else None


# --- failures as one line ---------------------------------------------------------------------


def describe_failure(exc: BaseException, endpoint: Endpoint, model: str) -> str:
    """What happened and what to check, in one line, for any failure of a request."""
    where = endpoint.base_url
    if isinstance(exc, ConfigurationError):
        return str(exc)
    if isinstance(exc, openai.APITimeoutError):
        return (
            f"no answer from {where} within {endpoint.timeout_s:g} s: the server is busy or hung; "
            "check it, or raise the endpoint's timeout"
        )
    if isinstance(exc, openai.APIConnectionError):
        return _connection_failure(exc, endpoint)
    if isinstance(exc, openai.APIStatusError):
        return _status_failure(exc, endpoint, model)
    if isinstance(exc, openai.APIError):  # an error event inside the stream
        return f"the server reported an error mid-answer: {_detail(exc.message)}; check the server's log"
    if isinstance(exc, json.JSONDecodeError | UnicodeDecodeError):
        return (
            f"the server sent a malformed chunk (not JSON: {_detail(str(exc))}): it is not "
            "OpenAI-compatible, or something between us altered the stream"
        )
    return f"{type(exc).__name__}: {_detail(str(exc))} (talking to {where})"


def _connection_failure(exc: openai.APIConnectionError, endpoint: Endpoint) -> str:
    cause = root_cause(exc)
    text = str(cause).lower()
    host = urlsplit(endpoint.base_url).hostname
    if isinstance(cause, socket.gaierror) or any(
        s in text
        for s in (
            "name or service not known",
            "nodename nor servname",
            "name resolution",
            "no address associated",
        )
    ):
        return f"cannot find the host {host} (DNS lookup failed): check the endpoint's URL"
    if isinstance(cause, ConnectionRefusedError) or "refused" in text:
        return f"connection refused at {endpoint.base_url}: is the server running, on that port?"
    if isinstance(cause, httpx2.ConnectError | httpcore2.ConnectError):
        return f"cannot connect to {endpoint.base_url} ({_detail(str(cause))}): check the URL and the network"
    return (
        "the connection was cut before the answer was finished: the server or something between us "
        f"closed it ({_detail(str(cause) or type(cause).__name__)}); check the server's log"
    )


def _status_failure(exc: openai.APIStatusError, endpoint: Endpoint, model: str) -> str:
    code = exc.status_code
    said = _server_message(exc)
    if code == 401:
        key = (
            f"check that ${endpoint.api_key_env} holds a valid key"
            if endpoint.api_key_env
            else "it needs a key: name the environment variable holding it in the endpoint's api_key_env"
        )
        return f"401 unauthorized from {endpoint.base_url}{said}: {key}"
    if code == 403:
        return f"403 forbidden{said}: the key is not allowed to use {model}; check its permissions"
    if code == 404:
        return (
            f"404 not found{said}: {endpoint.base_url} does not serve the model {model!r}, or the base URL "
            "is wrong; check that GET /v1/models lists it"
        )
    if code == 429:
        retry = exc.response.headers.get("retry-after") if exc.response is not None else None
        wait = f" (it asks to wait {retry} s)" if retry else ""
        return f"429 too many requests{said}: the server is rate-limiting{wait}; wait, or send fewer requests"
    if code >= 500:
        return f"server error {code}{said}: the server failed on this request; check the server's log"
    return f"HTTP {code}{said}: the server refused the request; check the model's settings"


def _server_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    message = None
    if isinstance(body, dict):
        inner = body.get("error", body)
        message = (
            inner.get("message") if isinstance(inner, dict) else inner if isinstance(inner, str) else None
        )
    elif isinstance(body, str):
        message = body
    return f" ({_detail(message)})" if message else ""


def root_cause(exc: BaseException) -> BaseException:
    seen = exc
    while seen.__cause__ is not None or seen.__context__ is not None:
        seen = seen.__cause__ or seen.__context__
    return seen


def _detail(text: str | None) -> str:
    """A server's words, made one short line."""
    line = " ".join(str(text or "").split())
    return line if len(line) <= MAX_DETAIL_CHARS else line[: MAX_DETAIL_CHARS - 1] + "…"
