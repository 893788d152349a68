"""The `openai` backend: a model behind an OpenAI-compatible HTTP endpoint, streamed through the
`openai` client. It runs in a worker process like the local backends (so Stop, crashes and the
engine's scheduling work alike); timings are taken here on the arrival of each chunk, token counts
come from the server's `usage`, and what the server says about itself goes under `server_*`."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from time import perf_counter

import openai

from llm_compare.core.config import ModelConfig
from llm_compare.core.endpoints import Endpoint
from llm_compare.core.errors import ConfigurationError
from llm_compare.core.models import ModelInfo, ModelType
from llm_compare.core.results import FinishReason, InferenceResult, compute_stats
from llm_compare.inferencers import endpoint_settings
from llm_compare.inferencers import openai_http as http
from llm_compare.inferencers.base import Inferencer, register
from llm_compare.inferencers.endpoint_settings import request_fields

# Retries are made only before the first token: after it, a retry would show a different answer
# and mix two requests' timings.
MAX_RETRIES = 2
BACKOFF_S = 0.25  # doubled at each retry
CANCEL_POLL_S = 0.02
_RETRYABLE_STATUS = (429, 500, 502, 503, 504)


@dataclass
class _Answer:
    """What arrived of one answer so far."""

    parts: list[str] = field(default_factory=list)
    t_first: float | None = None
    t_last: float | None = None
    first_bytes: int = 0
    finish: str | None = None  # the server's finish_reason
    usage: object | None = None
    timings: dict | None = None
    chunks: int = 0

    def add_text(self, text: str) -> None:
        self.t_last = perf_counter()
        if self.t_first is None:
            self.t_first = self.t_last
            self.first_bytes = _utf8_size(text)
        self.parts.append(text)


class StreamCut(Exception):
    """The stream ended without the server saying the answer was finished."""


@register(ModelType.OPENAI)
class OpenAIEndpointInferencer(Inferencer):
    full_logits_unavailable = "an OpenAI-style API gives no full-vocabulary logits"

    def __init__(self, model: ModelInfo, config: ModelConfig):
        super().__init__(model, config)
        if model.metadata.endpoint is None or model.metadata.server_model is None:
            raise ConfigurationError(f"{model.name}: no endpoint is recorded for this model")
        self.endpoint: Endpoint = model.metadata.endpoint
        self.server_model: str = model.metadata.server_model
        self.client: openai.OpenAI | None = None
        self.server = http.ServerInfo(http.OTHER)
        self._sockets = http.SocketTracker()  # for Stop to cut the connection at once

    def load(self) -> None:
        self.client = http.make_client(self.endpoint, sockets=self._sockets)
        try:
            http.list_models(self.client)  # the server answers at all: say so now, not at the first prompt
            self.server = http.identify_server(self.client, self.endpoint)
        except ConfigurationError:
            raise
        except Exception as exc:
            raise ConfigurationError(http.describe_failure(exc, self.endpoint, self.server_model)) from None

    def ignored_settings(self, config: ModelConfig) -> dict[str, str]:
        return endpoint_settings.ignored_settings(self.server.kind, config)

    def backend_versions(self) -> dict[str, str]:
        versions = {"openai": openai.__version__}
        if self.server.version:
            versions[self.server.kind] = self.server.version
        return versions

    def runtime_info(self) -> dict[str, str]:
        return {
            "server_kind": self.server.kind,
            "base_url": self.endpoint.base_url,
            "server_model": self.server_model,
        }

    def unload(self) -> None:
        if self.client is not None:
            self.client.close()

    # --- one answer -------------------------------------------------------------------------

    def answer(
        self,
        *,
        prompt: str,
        system_prompt: str | None,
        config: ModelConfig,
        cancelled: Callable[[], bool],
        emit: Callable[[str, int], None],
        load_s: float,
        warm: bool,
    ) -> InferenceResult:
        if cancelled():  # Stop before the request: nothing to send
            return self._result(_Answer(), FinishReason.CANCELLED, None, perf_counter(), load_s, warm, None)
        loaded_before = self._ollama_loaded()
        answer, error, finish = _Answer(), None, FinishReason.STOP
        t_request = perf_counter()
        watcher = _CancelWatcher(cancelled, self._abort)
        try:
            for attempt in range(MAX_RETRIES + 1):
                t_request = perf_counter()
                try:
                    self._stream_once(answer, prompt, system_prompt, config, cancelled, emit)
                    finish = _finish_reason(answer.finish)
                    break
                except Exception as exc:
                    if cancelled():
                        finish = FinishReason.CANCELLED
                        break
                    if answer.t_first is None and attempt < MAX_RETRIES and _retryable(exc):
                        if _sleep_unless(cancelled, BACKOFF_S * 2**attempt):
                            finish = FinishReason.CANCELLED
                            break
                        answer = _Answer()
                        continue
                    finish, error = (
                        FinishReason.ERROR,
                        http.describe_failure(exc, self.endpoint, self.server_model),
                    )
                    if attempt:
                        error += f" (after {attempt} retr{'y' if attempt == 1 else 'ies'})"
                    break
            if cancelled() and finish != FinishReason.ERROR:
                finish = FinishReason.CANCELLED
        finally:
            watcher.stop()
        return self._result(answer, finish, error, t_request, load_s, warm, loaded_before)

    def _stream_once(
        self,
        answer: _Answer,
        prompt: str,
        system_prompt: str | None,
        config: ModelConfig,
        cancelled: Callable[[], bool],
        emit: Callable[[str, int], None],
    ) -> None:
        client = self._client()
        chat = config.mode != "raw"  # the server applies its chat template
        standard, extra = request_fields(config, self.server.kind)
        common = dict(
            model=self.server_model,
            stream=True,
            stream_options={"include_usage": True},
            extra_body=extra or None,
            **standard,
        )
        if chat:
            system = config.system_prompt if system_prompt is None else system_prompt
            messages = ([{"role": "system", "content": system}] if system else []) + [
                {"role": "user", "content": prompt}
            ]
            stream = client.chat.completions.create(messages=messages, **common)
        else:
            stream = client.completions.create(prompt=prompt, **common)
        try:
            if cancelled():
                return
            for chunk in stream:
                answer.chunks += 1
                if chunk.usage is not None:
                    answer.usage = chunk.usage
                timings = (chunk.model_extra or {}).get("timings")
                if isinstance(timings, dict):
                    answer.timings = timings
                for choice in chunk.choices or ():
                    text = (choice.delta.content if chat else choice.text) if choice is not None else None
                    if text:  # a role-only or empty chunk is not the first token
                        answer.add_text(text)
                        emit(text, 0)  # counts come from usage at the end, never from chunks
                    if choice.finish_reason:
                        answer.finish = choice.finish_reason
                if cancelled():
                    return
            if answer.finish is None:
                raise StreamCut(
                    f"the stream ended after {answer.chunks} chunks without a finish_reason: the server or "
                    "something between us closed it early; check the server's log"
                )
        finally:
            stream.close()

    def _client(self) -> openai.OpenAI:
        if self.client is None or self.client.is_closed():
            self.client = http.make_client(self.endpoint, sockets=self._sockets)
        return self.client

    def _abort(self) -> None:
        """Stop (from the watcher thread): cut the connection, which ends the read in progress."""
        self._sockets.cut_all()

    def _ollama_loaded(self) -> set[str] | None:
        if self.server.kind != http.OLLAMA:
            return None
        return http.ollama_loaded_models(self._client(), self.endpoint)

    def _result(
        self,
        answer: _Answer,
        finish: FinishReason,
        error: str | None,
        t_request: float,
        load_s: float,
        warm: bool,
        loaded_before: set[str] | None,
    ) -> InferenceResult:
        usage = answer.usage
        prompt_tokens = getattr(usage, "prompt_tokens", None)
        completion_tokens = getattr(usage, "completion_tokens", None)
        text = "".join(answer.parts)
        stats = compute_stats(
            t_request=t_request,
            t_first_token=answer.t_first,
            t_last_token=answer.t_last,
            t_end=perf_counter(),
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            finish_reason=finish,
            load_s=load_s,
            warm=warm,
            peak_rss_bytes=None,  # the model's memory is the server's: unknown
            answer_bytes_after_first=max(0, _utf8_size(text) - answer.first_bytes),
        )
        if stats.decode_bytes_per_s is None and answer.t_first is not None and answer.t_last > answer.t_first:
            # Reading speed needs no token count: defined even when the server sends no usage.
            stats.decode_bytes_per_s = (_utf8_size(text) - answer.first_bytes) / (
                answer.t_last - answer.t_first
            )
        if answer.timings:
            _add_server_timings(stats, answer.timings)
        cached = getattr(getattr(usage, "prompt_tokens_details", None), "cached_tokens", None)
        if isinstance(cached, int) and stats.server_cached_prompt_tokens is None:
            stats.server_cached_prompt_tokens = cached
        if loaded_before is not None and answer.t_first is not None:
            stats.server_included_load = self.server_model not in loaded_before
        stats.cost = self.endpoint.cost(prompt_tokens, completion_tokens)
        return InferenceResult(
            model_id=self.model.id, text=text, finish_reason=finish, error=error, stats=stats
        )


def _utf8_size(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def _add_server_timings(stats, timings: dict) -> None:
    """llama.cpp server's `timings` object, under server_* names (docs/metrics.md)."""

    def number(key: str) -> float | None:
        value = timings.get(key)
        return (
            float(value)
            if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0
            else None
        )

    stats.server_prompt_ms = number("prompt_ms")
    stats.server_prefill_tps = number("prompt_per_second")
    stats.server_decode_ms = number("predicted_ms")
    stats.server_decode_tps = number("predicted_per_second")
    cache_n = timings.get("cache_n")
    stats.server_cached_prompt_tokens = cache_n if isinstance(cache_n, int) and cache_n >= 0 else None


def _finish_reason(server_reason: str | None) -> FinishReason:
    return FinishReason.LENGTH if server_reason == "length" else FinishReason.STOP


def _retryable(exc: BaseException) -> bool:
    """Worth another try before the first token: the server was unreachable, overloaded or failed."""
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in _RETRYABLE_STATUS
    if isinstance(exc, openai.APIConnectionError):  # refused, timed out, cut before any text
        return not isinstance(http.root_cause(exc), socket.gaierror)  # a DNS failure stays one
    return False


def _sleep_unless(cancelled: Callable[[], bool], seconds: float) -> bool:
    """Wait `seconds`; True (at once) if Stop came meanwhile."""
    deadline = perf_counter() + seconds
    while perf_counter() < deadline:
        if cancelled():
            return True
        threading.Event().wait(min(CANCEL_POLL_S, deadline - perf_counter()))
    return cancelled()


class _CancelWatcher:
    """Watches the cancel flag while a request is out, and closes the connection at once when it
    is set: the reading thread may be blocked in a socket read for as long as the server is silent."""

    def __init__(self, cancelled: Callable[[], bool], abort: Callable[[], None]):
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, args=(cancelled, abort), daemon=True)
        self._thread.start()

    def _watch(self, cancelled: Callable[[], bool], abort: Callable[[], None]) -> None:
        while not self._done.wait(CANCEL_POLL_S):
            if cancelled():
                abort()
                return

    def stop(self) -> None:
        self._done.set()
        self._thread.join()
