"""The two generation requests as OpenAI defines them, and the responses and stream chunks.

Every field OpenAI's API (or the `openai` client) may send is declared, so that a request asking
for what we cannot do is refused by name (capability_not_supported) rather than ignored; any
other field is an invalid request. Sampling values are checked by ModelConfig, the one place
that knows their ranges. Beside OpenAI's fields, llama.cpp's server's extra sampling fields
(top_k, repeat_penalty, repeat_last_n) are taken, as other OpenAI-compatible servers do."""

from __future__ import annotations

import time
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict

from llm_compare.api_server.errors import invalid_request, not_supported
from llm_compare.core.results import FinishReason, InferenceResult

# Request fields that map one to one onto ModelConfig fields.
SAMPLING_FIELDS = ("temperature", "top_p", "seed", "top_k", "repeat_penalty", "repeat_last_n")


class _Strict(BaseModel):
    # No type coercion: "0.5" is not a temperature (OpenAI refuses it too).
    model_config = ConfigDict(extra="forbid", strict=True)


class StreamOptions(_Strict):
    include_usage: bool = False


class ChatMessage(BaseModel):
    # Roles and parts we cannot use are refused by name in `conversation()`, not here.
    model_config = ConfigDict(extra="allow", strict=True)
    role: str
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None


class _Generation(_Strict):
    model: str
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    stop: str | list[str] | None = None
    n: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    logit_bias: dict[str, float] | None = None
    user: str | None = None
    # llama.cpp server's extras
    top_k: int | None = None
    repeat_penalty: float | None = None
    repeat_last_n: int | None = None

    def overrides(self) -> dict[str, Any]:
        """The ModelConfig settings this request sets; what it leaves out comes from the model's saved
        settings."""
        self.refuse_unsupported()
        values = {name: getattr(self, name) for name in SAMPLING_FIELDS if getattr(self, name) is not None}
        if self.max_tokens is not None:
            values["max_tokens"] = self.max_tokens
        if self.stop is not None:
            values["stop"] = [self.stop] if isinstance(self.stop, str) else self.stop
        return values

    def refuse_unsupported(self) -> None:
        if self.n not in (None, 1):
            raise not_supported(
                f"n={self.n}: this server makes one choice per request; send n=1 and repeat the request", "n"
            )
        for name in ("presence_penalty", "frequency_penalty"):
            if getattr(self, name) not in (None, 0, 0.0):
                raise not_supported(
                    f"{name} is not supported: use repeat_penalty (llama.cpp's) instead", name
                )
        if self.logit_bias:
            raise not_supported("logit_bias is not supported", "logit_bias")
        if self.stream_options is not None and not self.stream:
            raise invalid_request("stream_options is only allowed with stream=true", "stream_options")

    @property
    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)


class ChatCompletionRequest(_Generation):
    messages: list[ChatMessage]
    max_completion_tokens: int | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    functions: list[dict[str, Any]] | None = None
    function_call: str | dict[str, Any] | None = None
    response_format: dict[str, Any] | None = None
    metadata: dict[str, str] | None = None
    store: bool | None = None

    def refuse_unsupported(self) -> None:
        super().refuse_unsupported()
        if self.logprobs or self.top_logprobs:
            raise not_supported("logprobs are not supported", "logprobs")
        if (
            self.tools
            or self.functions
            or self.tool_choice not in (None, "none")
            or self.function_call not in (None, "none")
        ):
            raise not_supported(
                "tools and function calling are not supported by the models served here", "tools"
            )
        if self.response_format and self.response_format.get("type") != "text":
            raise not_supported('only response_format {"type": "text"} is supported', "response_format")
        if (
            self.max_tokens is not None
            and self.max_completion_tokens is not None
            and self.max_tokens != self.max_completion_tokens
        ):
            raise invalid_request(
                "max_tokens and max_completion_tokens differ: send one of them", "max_completion_tokens"
            )

    def overrides(self) -> dict[str, Any]:
        values = super().overrides()
        if self.max_completion_tokens is not None:
            values["max_tokens"] = self.max_completion_tokens
        return values

    def conversation(self) -> list[dict[str, str]]:
        """The messages as the engine takes them: text only, `developer` read as `system`."""
        messages = []
        for number, message in enumerate(self.messages, 1):
            role = "system" if message.role == "developer" else message.role
            if role not in ("system", "user", "assistant"):
                raise not_supported(
                    f"messages[{number - 1}] has role {message.role!r}: only system, developer, user "
                    "and assistant messages are supported",
                    "messages",
                )
            messages.append({"role": role, "content": _text_of(message.content, number - 1)})
        return messages


class CompletionRequest(_Generation):
    prompt: str | list[str]
    echo: bool | None = None
    best_of: int | None = None
    logprobs: int | None = None
    suffix: str | None = None

    def refuse_unsupported(self) -> None:
        super().refuse_unsupported()
        if self.echo:
            raise not_supported("echo is not supported", "echo")
        if self.best_of not in (None, 1):
            raise not_supported("best_of is not supported", "best_of")
        if self.logprobs is not None:
            raise not_supported("logprobs are not supported", "logprobs")
        if self.suffix:
            raise not_supported("suffix (fill in the middle) is not supported", "suffix")

    def text(self) -> str:
        if isinstance(self.prompt, str):
            return self.prompt
        if len(self.prompt) == 1:
            return self.prompt[0]
        raise not_supported(
            f"{len(self.prompt)} prompts in one request: send one prompt per request", "prompt"
        )


def _text_of(content: str | list[dict[str, Any]] | None, index: int) -> str:
    if isinstance(content, str):
        return content
    if content is None:
        raise invalid_request(f"messages[{index}] has no content", "messages")
    texts = []
    for part in content:
        if part.get("type") != "text" or not isinstance(part.get("text"), str):
            raise not_supported(
                f"messages[{index}] holds a {part.get('type')!r} part: only text is supported", "messages"
            )
        texts.append(part["text"])
    return "".join(texts)


# --- responses -----------------------------------------------------------------------------------

_FINISH = {FinishReason.STOP: "stop", FinishReason.LENGTH: "length"}


class Reply:
    """The ids and shapes of one answer, chat or raw: its responses and stream chunks."""

    def __init__(self, model: str, chat: bool):
        self.model, self.chat = model, chat
        self.id = ("chatcmpl-" if chat else "cmpl-") + uuid.uuid4().hex
        self.created = int(time.time())
        self.object = "chat.completion" if chat else "text_completion"

    def _head(self, obj: str) -> dict[str, Any]:
        return {"id": self.id, "object": obj, "created": self.created, "model": self.model}

    def _choice(self, text: str | None, finish: str | None, delta: bool) -> dict[str, Any]:
        if not self.chat:
            return {"index": 0, "text": text or "", "logprobs": None, "finish_reason": finish}
        if delta:
            content = {} if text is None else {"content": text}
            return {"index": 0, "delta": content, "logprobs": None, "finish_reason": finish}
        return {
            "index": 0,
            "message": {"role": "assistant", "content": text},
            "logprobs": None,
            "finish_reason": finish,
        }

    def whole(self, result: InferenceResult) -> dict[str, Any]:
        return {
            **self._head(self.object),
            "choices": [self._choice(result.text, finish_reason(result), False)],
            "usage": usage(result),
        }

    def chunk(
        self, text: str | None = None, finish: str | None = None, include_usage: bool = False
    ) -> dict[str, Any]:
        data = {
            **self._head(self.object + ".chunk" if self.chat else self.object),
            "choices": [self._choice(text, finish, True)],
        }
        if include_usage:  # OpenAI: every chunk has the key, null until the last
            data["usage"] = None
        return data

    def first_chunk(self, include_usage: bool) -> dict[str, Any] | None:
        """Chat streams open with the assistant's role, as OpenAI's do."""
        if not self.chat:
            return None
        data = self.chunk(include_usage=include_usage)
        data["choices"][0]["delta"] = {"role": "assistant", "content": ""}
        return data

    def usage_chunk(self, result: InferenceResult) -> dict[str, Any]:
        return {
            **self._head(self.object + ".chunk" if self.chat else self.object),
            "choices": [],
            "usage": usage(result),
        }


def finish_reason(result: InferenceResult) -> str:
    return _FINISH.get(result.finish_reason, "stop")


def usage(result: InferenceResult) -> dict[str, int]:
    """Counts from the model's own tokenizer and token ids (docs/metrics.md), as OpenAI names them."""
    prompt, completion = result.stats.prompt_tokens or 0, result.stats.completion_tokens or 0
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
