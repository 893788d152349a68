"""An OpenAI-compatible endpoint as the user saved it: where it is, how to reach it, what it costs.
The API key itself is never part of it: only the name of the environment variable holding it."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from llm_compare.core.errors import ConfigurationError

# Headers that carry credentials: a value saved in the endpoints file would be a key written to disk.
SECRET_HEADERS = {"authorization", "proxy-authorization", "api-key", "x-api-key", "cookie"}
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # an HTTP token (RFC 9110)


class Endpoint(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    name: str = Field(min_length=1, max_length=64, description="A short name: models are NAME#MODEL.")
    base_url: str = Field(description="The API's base URL, e.g. http://127.0.0.1:8080/v1.")
    api_key_env: str | None = Field(
        None, description="Name of the environment variable holding the API key (never the key)."
    )
    headers: dict[str, str] = Field(
        default_factory=dict, description="Extra HTTP headers sent with every request."
    )
    timeout_s: float = Field(
        60.0, ge=1.0, le=3600.0, description="Seconds to wait for the server to answer (and between chunks)."
    )
    input_price_per_m: float | None = Field(
        None, ge=0.0, description="Price per million prompt tokens (your unit)."
    )
    output_price_per_m: float | None = Field(
        None, ge=0.0, description="Price per million completion tokens (your unit)."
    )

    @field_validator("name")
    @classmethod
    def _plain_name(cls, name: str) -> str:
        name = name.strip()
        if not name or "#" in name or "/" in name or any(c.isspace() or not c.isprintable() for c in name):
            raise ValueError("use letters, digits, '-', '_' or '.' (no spaces, '#' or '/')")
        return name

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        url = url.strip()
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{url!r} is not an http(s) URL: give one like http://127.0.0.1:8080/v1")
        if parts.username or parts.password:
            raise ValueError(
                "put no user name or password in the URL: name an environment variable in api_key_env"
            )
        if parts.query or parts.fragment:
            raise ValueError("the base URL takes no query or fragment")
        try:
            parts.port  # noqa: B018 (raises on a port out of range)
        except ValueError:
            raise ValueError(f"{url!r} has an invalid port") from None
        url = url.rstrip("/")
        # OpenAI-compatible servers answer under /v1; a bare server address is the usual slip.
        return url + "/v1" if not parts.path.strip("/") else url

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, name: str | None) -> str | None:
        name = (name or "").strip() or None
        if name is not None and not _ENV_NAME.match(name):
            raise ValueError(
                "give the NAME of an environment variable (letters, digits, '_'), not the key itself"
            )
        return name

    @field_validator("headers")
    @classmethod
    def _plain_headers(cls, headers: dict[str, str]) -> dict[str, str]:
        for name, value in headers.items():
            if not _HEADER_NAME.match(name):
                raise ValueError(f"{name!r} is not a valid header name")
            if name.lower() in SECRET_HEADERS:
                raise ValueError(
                    f"{name} carries a credential, which would be written to disk: name the environment "
                    "variable holding the key in api_key_env instead"
                )
            if "\r" in value or "\n" in value:
                raise ValueError(f"the value of header {name} has a line break")
        return headers

    @property
    def server_root(self) -> str:
        """The server's address without the API path: where /props, /version, /api/version live."""
        return re.sub(r"/v1$", "", self.base_url)

    def cost(self, prompt_tokens: int | None, completion_tokens: int | None) -> float | None:
        """docs/metrics.md: prompt_tokens × input price + completion_tokens × output price, per million;
        empty without prices or counts."""
        if self.input_price_per_m is None and self.output_price_per_m is None:
            return None
        if prompt_tokens is None or completion_tokens is None:
            return None
        return (
            prompt_tokens * (self.input_price_per_m or 0.0)
            + completion_tokens * (self.output_price_per_m or 0.0)
        ) / 1e6

    @classmethod
    def parse(cls, data: dict[str, Any]) -> Endpoint:
        """Validate `data`, raising ConfigurationError with a one-line message."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            name = data.get("name") if isinstance(data, dict) else None
            where = f"endpoint {name!r}: " if isinstance(name, str) and name else "endpoint: "
            raise ConfigurationError(where + describe(exc)) from None


def describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err.get("loc", ())) or "endpoint"
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = f"unknown field (valid ones: {', '.join(Endpoint.model_fields)})"
        parts.append(f"{field}: {message}")
    return "; ".join(parts)
