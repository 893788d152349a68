"""The endpoints: /healthz, /v1/models, /v1/chat/completions, /v1/completions."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse

from llm_compare.api_server import errors
from llm_compare.api_server.gate import Generation
from llm_compare.api_server.types import ChatCompletionRequest, CompletionRequest, Reply, finish_reason
from llm_compare.core.errors import ConfigurationError
from llm_compare.core.results import FinishReason, InferenceEvent, InferenceResult

router = APIRouter()


@router.get("/healthz")
async def healthz() -> dict:
    return {"status": "ok"}


@router.get("/v1/models")
async def list_models(request: Request) -> dict:
    table = request.app.state.models
    return {
        "object": "list",
        "data": [_model_entry(m, request.app.state.started) for m in table.models.values()],
    }


@router.get("/v1/models/{name:path}")
async def get_model(name: str, request: Request) -> dict:
    table = request.app.state.models
    model = table.find(name)
    if model is None:
        raise errors.unknown_model(name, list(table.models))
    return _model_entry(model, request.app.state.started)


def _model_entry(model, created: int) -> dict:
    return {
        "id": model.id,
        "object": "model",
        "created": created,
        "owned_by": "llm-compare",
        "name": model.name,
        "type": model.type.value,
    }


@router.post("/v1/chat/completions")
async def chat_completions(body: ChatCompletionRequest, request: Request):
    model = _find(request, body.model)
    messages = body.conversation()
    if not model.has_chat_template:
        raise errors.not_supported(
            f"{model.name} has no chat template: use /v1/completions with a plain prompt", "model"
        )
    return await _answer(request, body, model, messages, chat=True)


@router.post("/v1/completions")
async def completions(body: CompletionRequest, request: Request):
    model = _find(request, body.model)
    return await _answer(request, body, model, body.text(), chat=False)


def _find(request: Request, name: str):
    table = request.app.state.models
    model = table.find(name)
    if model is None:
        raise errors.unknown_model(name, list(table.models))
    return model


async def _answer(request: Request, body, model, prompt, chat: bool):
    state = request.app.state
    try:
        config = state.models.config_for(model, {**body.overrides(), "mode": "chat" if chat else "raw"})
    except ConfigurationError as exc:
        raise errors.invalid_request(str(exc)) from None
    gate = state.gates[model.id]
    if not gate.enter():
        raise errors.queue_full(model.name, gate.capacity - 1, gate.retry_after_s())
    generation = Generation(state.engine, gate, model, config, prompt, asyncio.get_running_loop()).start()
    reply = Reply(model.id, chat)
    try:
        await _until_generating(generation, request, model)
        if body.stream:
            return StreamingResponse(
                _stream(generation, reply, body.include_usage),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )
        while True:
            event = _checked(await generation.next(request), model)
            if event.kind == "done":
                return JSONResponse(reply.whole(_finished(event.result, model)))
    except BaseException:
        generation.cancel.set()  # a refused request or a client gone: stop the model where it is
        raise


async def _until_generating(generation: Generation, request: Request, model) -> None:
    """Wait until the model is loaded and has the request (a load failure is then still a
    status of its own, 503, not an error inside a stream already answered with 200)."""
    while True:
        event = _checked(await generation.next(request), model)
        if event.kind == "generating":
            return
        if event.kind == "done":  # before generating: it could not be loaded or started
            result = event.result
            raise errors.cannot_load(
                model.name, result.error or f"the run ended as {result.finish_reason.value}"
            )


def _checked(event: InferenceEvent | Exception, model) -> InferenceEvent:
    if isinstance(event, ConfigurationError):
        raise errors.invalid_request(str(event))
    if isinstance(event, Exception):
        raise errors.generation_failed(model.name, str(event) or type(event).__name__)
    return event


def _finished(result: InferenceResult, model) -> InferenceResult:
    """A run that ended well, or the status its failure gets."""
    if result.finish_reason == FinishReason.ERROR:
        raise _failure(result, model)
    if result.finish_reason == FinishReason.CANCELLED:
        raise errors.ApiError(
            503, f"{model.name} was stopped (the server is shutting down)", "server_error", "cancelled"
        )
    return result


def _failure(result: InferenceResult, model) -> errors.ApiError:
    # The worker counted the prompt and generated nothing: it refused the prompt (too long for
    # the context, say), which is the request's fault. Anything else is the model's.
    if result.stats.prompt_tokens is not None and result.stats.completion_tokens is None:
        return errors.invalid_request(result.error or "the model refused the prompt", "messages")
    return errors.generation_failed(model.name, result.error or "unknown error")


async def _stream(generation: Generation, reply: Reply, include_usage: bool) -> AsyncIterator[str]:
    """Server-sent events as OpenAI sends them: chunks, the last with its finish reason, the usage
    chunk when asked for, then `data: [DONE]`. A failure midway is sent as an error object."""
    try:
        if first := reply.first_chunk(include_usage):
            yield _sse(first)
        while True:
            event = await generation.next()
            if isinstance(event, Exception):
                yield _sse(errors.generation_failed(generation.model.name, str(event)).body())
                break
            if event.kind == "text" and event.text:
                yield _sse(reply.chunk(event.text, include_usage=include_usage))
            elif event.kind == "done":
                result = event.result
                try:
                    _finished(result, generation.model)
                    yield _sse(reply.chunk(None if reply.chat else "", finish_reason(result), include_usage))
                except errors.ApiError as exc:
                    yield _sse(exc.body())
                if include_usage:
                    yield _sse(reply.usage_chunk(result))
                break
        yield "data: [DONE]\n\n"
    finally:
        generation.cancel.set()  # after the end a no-op; when the client went away, it stops the model


def _sse(data: dict) -> str:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"
