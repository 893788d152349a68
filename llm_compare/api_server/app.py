"""The FastAPI application of `llm-compare serve`, and the function that runs it with uvicorn.

Every request passes three checks before any route sees it, in this order: its Host names this
machine (the dashboard's rule against DNS rebinding), it carries the key when one is set, and
its body is within the size limit. The key is compared in constant time and never logged."""

from __future__ import annotations

import hmac
import logging
import sys
import time
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from llm_compare.api_server import errors
from llm_compare.api_server.gate import ClientGone, Gate
from llm_compare.api_server.routes import router
from llm_compare.api_server.settings import ModelTable, ServeSettings
from llm_compare.core.models import ModelInfo
from llm_compare.services.engine.engine import InferenceEngine
from llm_compare.system.host_names import first_foreign_host

log = logging.getLogger(__name__)
OPEN_PATHS = frozenset({"/healthz"})  # answered without the key: says only that the server is up
CLIENT_CLOSED_REQUEST = 499  # nginx's status for a client that went away; nobody reads it


def create_app(
    settings: ServeSettings, models: list[ModelInfo], engine: InferenceEngine | None = None
) -> FastAPI:
    # Models generate concurrently here, one request at a time each; the Gate queues the rest.
    engine = engine or InferenceEngine(max_models=1, one_run_at_a_time=False)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        engine.shutdown()

    app = FastAPI(
        title="llm-compare serve", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None
    )
    app.state.engine = engine
    app.state.models = ModelTable(models)
    app.state.gates = {m.id: Gate(settings.queue_size) for m in models}
    app.state.started = int(time.time())
    app.include_router(router)
    app.add_middleware(Guard, api_key=settings.api_key(), max_body_bytes=settings.max_body_bytes)
    app.add_exception_handler(errors.ApiError, lambda request, exc: exc.response())
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(ClientGone, lambda request, exc: _empty(CLIENT_CLOSED_REQUEST))
    return app


def _invalid(request: Request, exc: RequestValidationError):
    """FastAPI answers 422 with its own shape; OpenAI's clients expect 400 and theirs."""
    problems = []
    for error in exc.errors():
        if error.get("type") == "json_invalid":
            why = (error.get("ctx") or {}).get("error", "")
            return errors.invalid_request(
                f"the body is not valid JSON ({why}): send a JSON object"
            ).response()
        loc = [str(part) for part in error.get("loc", ()) if part != "body"]
        where = ".".join(loc) or "body"
        problems.append(f"{where}: {error.get('msg', 'invalid').lower()}")
    param = next((str(e["loc"][1]) for e in exc.errors() if len(e.get("loc", ())) > 1), None)
    message = (
        "invalid request: "
        + "; ".join(problems[:5])
        + (f" (and {len(problems) - 5} more)" if len(problems) > 5 else "")
    )
    return errors.invalid_request(message, param).response()


def _http_error(request: Request, exc: HTTPException):
    if exc.status_code == 404:
        return errors.not_found(request.url.path).response()
    if exc.status_code == 405:
        return errors.ApiError(
            405,
            f"{request.method} is not allowed on {request.url.path}",
            "invalid_request_error",
            "method_not_allowed",
        ).response()
    return errors.ApiError(exc.status_code, str(exc.detail), "invalid_request_error").response()


def _empty(status: int) -> Response:
    return Response(status_code=status)


class Guard:
    """Host, key and body size, checked before anything else reads the request."""

    def __init__(self, app: ASGIApp, api_key: str | None, max_body_bytes: int):
        self.app, self.api_key, self.max_body_bytes = app, api_key, max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope["headers"]]
        refusal = self._refusal(scope, headers)
        if refusal is None:
            try:
                receive = await self._read_body(receive)
            except errors.ApiError as exc:
                refusal = exc
        if refusal is not None:
            return await refusal.response()(scope, receive, send)
        return await self.app(scope, receive, send)

    def _refusal(self, scope: Scope, headers: list[tuple[str, str]]) -> errors.ApiError | None:
        host = first_foreign_host([v for k, v in headers if k == "host"])
        if host is not None:
            log.warning(
                "refused a request for Host %r (not loopback, not in $LLM_COMPARE_ALLOWED_HOSTS)", host
            )
            return errors.foreign_host(host)
        if self.api_key is not None and scope["path"] not in OPEN_PATHS:
            sent = next((v for k, v in headers if k == "authorization"), "")
            scheme, _, token = sent.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                token.strip().encode(), self.api_key.encode()
            ):
                return errors.bad_key()
        length = next((v for k, v in headers if k == "content-length"), None)
        if length is not None and (not length.isdigit() or int(length) > self.max_body_bytes):
            return (
                errors.too_large(self.max_body_bytes)
                if length.isdigit()
                else errors.invalid_request("bad Content-Length")
            )
        return None

    async def _read_body(self, receive: Receive) -> Receive:
        """Read the whole body (at most the limit, also when sent in chunks without a length),
        then hand it to the app as if it came from the client."""
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return _replay([message])
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_body_bytes:
                raise errors.too_large(self.max_body_bytes)
        return _replay([{"type": "http.request", "body": body, "more_body": False}], then=receive)


def _replay(messages: list[Message], then: Receive | None = None) -> Receive:
    async def receive() -> Message:
        if messages:
            return messages.pop(0)
        if then is not None:
            return await then()  # after the body: the disconnect, when it comes
        return {"type": "http.disconnect"}

    return receive


def serve(settings: ServeSettings, models: list[ModelInfo]) -> None:
    """Run the server until it is stopped (Ctrl-C or SIGTERM)."""
    import uvicorn

    app = create_app(settings, models)
    if settings.exposed:
        print(
            f"warning: listening on {settings.host}, beyond this machine: anyone who can reach it can use "
            "these "
            "models" + ("" if settings.api_key_env else " (no --api-key-env given: no key is asked for)"),
            file=sys.stderr,
            flush=True,
        )
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    print(f"serving {len(models)} model(s) at http://{host}:{settings.port}/v1", file=sys.stderr, flush=True)
    for model in models:
        print(f"  {model.id}  ({model.name}, {model.type.value})", file=sys.stderr, flush=True)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level="info",
        timeout_graceful_shutdown=3,
        server_header=False,
    )
