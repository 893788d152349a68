"""Errors in OpenAI's shape, `{"error": {"message", "type", "code", "param"}}`, with the status
each kind of failure gets: clients (the `openai` library among them) read both."""

from __future__ import annotations

from fastapi.responses import JSONResponse


class ApiError(Exception):
    """A request that is answered with an error: `str(error)` is the one-line message."""

    def __init__(
        self,
        status: int,
        message: str,
        type_: str,
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status, self.type, self.code, self.param = status, type_, code, param
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        return JSONResponse(status_code=self.status, content=self.body(), headers=self.headers)

    def body(self) -> dict:
        return {"error": {"message": str(self), "type": self.type, "code": self.code, "param": self.param}}


def invalid_request(message: str, param: str | None = None) -> ApiError:
    return ApiError(400, message, "invalid_request_error", "invalid_request", param)


def not_supported(message: str, param: str | None = None) -> ApiError:
    """A valid request asking for something this server cannot do (n > 1, logprobs, tools)."""
    return ApiError(400, message, "capability_not_supported", "capability_not_supported", param)


def bad_key() -> ApiError:
    return ApiError(
        401,
        "missing or wrong API key: send it as `Authorization: Bearer KEY`",
        "authentication_error",
        "invalid_api_key",
        headers={"WWW-Authenticate": "Bearer"},
    )


def foreign_host(host: str) -> ApiError:
    return ApiError(
        403,
        f"this server answers only to localhost, 127.0.0.1 or [::1], not to Host {host!r}; "
        "to allow another name, start it with LLM_COMPARE_ALLOWED_HOSTS=name",
        "permission_error",
        "host_not_allowed",
    )


def unknown_model(name: str, served: list[str]) -> ApiError:
    return ApiError(
        404,
        f"no model {name!r} is served here: use one of {', '.join(served)} (GET /v1/models lists them)",
        "invalid_request_error",
        "model_not_found",
        "model",
    )


def not_found(path: str) -> ApiError:
    return ApiError(
        404,
        f"no such endpoint {path}: see GET /v1/models, POST /v1/chat/completions, POST /v1/completions",
        "invalid_request_error",
        "not_found",
    )


def too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        f"the request body is larger than {limit} bytes: send a shorter prompt, or start serve "
        "with a larger --max-body-bytes",
        "invalid_request_error",
        "request_too_large",
    )


def queue_full(model: str, waiting: int, retry_after_s: int) -> ApiError:
    return ApiError(
        429,
        f"{model} is busy: {waiting} requests are already waiting for it; retry in {retry_after_s} s",
        "rate_limit_error",
        "queue_full",
        headers={"Retry-After": str(retry_after_s)},
    )


def cannot_load(model: str, reason: str) -> ApiError:
    return ApiError(503, f"{model} cannot be loaded: {reason}", "server_error", "model_not_loaded")


def generation_failed(model: str, reason: str) -> ApiError:
    return ApiError(500, f"{model} failed: {reason}", "server_error", "generation_failed")
