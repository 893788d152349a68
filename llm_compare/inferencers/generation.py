"""The generation loop shared by every backend: runs where the tokens are produced, so the
timings it takes are the producer's, and counts token ids, never text chunks."""

from __future__ import annotations

import resource
from collections.abc import Callable
from contextlib import closing
from time import perf_counter

from llm_compare.core.config import ModelConfig
from llm_compare.core.errors import ConfigurationError, LLMCompareError
from llm_compare.core.results import FinishReason, InferenceResult, compute_stats
from llm_compare.inferencers.base import BaseInferencer


class StopMatcher:
    """Finds stop strings in streamed text, holding back only what could start one."""

    def __init__(self, stops: list[str]):
        self.stops = stops
        self.pending = ""

    def feed(self, delta: str) -> tuple[str, bool]:
        """Return (text safe to show, whether a stop string was hit)."""
        self.pending += delta
        hits = [i for i in (self.pending.find(s) for s in self.stops) if i >= 0]
        if hits:
            out, self.pending = self.pending[: min(hits)], ""
            return out, True
        keep = self._longest_stop_prefix_suffix()
        cut = len(self.pending) - keep
        out, self.pending = self.pending[:cut], self.pending[cut:]
        return out, False

    def flush(self) -> str:
        out, self.pending = self.pending, ""
        return out

    def _longest_stop_prefix_suffix(self) -> int:
        for k in range(min(len(self.pending), max((len(s) - 1 for s in self.stops), default=0)), 0, -1):
            tail = self.pending[-k:]
            if any(s.startswith(tail) for s in self.stops):
                return k
        return 0


def peak_rss_bytes() -> int:
    """Peak resident memory of this process since it started (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_generation(
    inferencer: BaseInferencer,
    *,
    prompt: str,
    system_prompt: str | None,
    config: ModelConfig,
    cancelled: Callable[[], bool],
    emit: Callable[[str, int], None],
    load_s: float,
    warm: bool,
) -> InferenceResult:
    """Generate one answer, calling `emit(new_text, completion_tokens)` per token."""
    t_request = perf_counter()
    t_first = t_last = None
    completion_tokens = prompt_tokens = 0
    parts: list[str] = []
    error = None
    stopped_by_string = False
    try:
        chat = inferencer.use_chat(config.mode)
        system = config.system_prompt if system_prompt is None else system_prompt
        prompt_ids = inferencer.encode_prompt(prompt, system, chat)
        prompt_tokens = len(prompt_ids)
        _check_prompt_fits(prompt_tokens, inferencer, config)
        decode = inferencer.new_text_decoder()
        matcher = StopMatcher(config.stop)
        finish = FinishReason.LENGTH  # the backend ran out of context without an end token
        tokens = inferencer.generate_ids(prompt_ids, config, lambda: stopped_by_string or cancelled())
        with closing(tokens):
            for token_id in tokens:
                if inferencer.is_end_of_sequence(token_id):
                    finish = FinishReason.STOP
                    break
                completion_tokens += 1
                text, stopped_by_string = matcher.feed(decode(token_id))
                t_last = perf_counter()
                t_first = t_first or t_last
                if text:
                    parts.append(text)
                emit(text, completion_tokens)
                if stopped_by_string:
                    finish = FinishReason.STOP
                    break
                if completion_tokens >= config.max_tokens:
                    finish = FinishReason.LENGTH
                    break
                if cancelled():
                    finish = FinishReason.CANCELLED
                    break
            else:
                if cancelled():
                    finish = FinishReason.CANCELLED
        if not stopped_by_string:
            text, stopped_by_string = matcher.feed(decode(None))  # bytes held back at the end
            tail = text if stopped_by_string else text + matcher.flush()
            finish = FinishReason.STOP if stopped_by_string else finish
            if tail:
                parts.append(tail)
                emit(tail, completion_tokens)
    except Exception as exc:  # reported as this model's error; the worker lives on
        finish = FinishReason.ERROR
        error = one_line(exc)
    stats = compute_stats(
        t_request=t_request,
        t_first_token=t_first,
        t_last_token=t_last,
        t_end=perf_counter(),
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        finish_reason=finish,
        load_s=load_s,
        warm=warm,
        peak_rss_bytes=peak_rss_bytes(),
    )
    return InferenceResult(model_id=inferencer.model.id, text="".join(parts), finish_reason=finish, error=error, stats=stats)


def _check_prompt_fits(prompt_tokens: int, inferencer: BaseInferencer, config: ModelConfig) -> None:
    if prompt_tokens == 0:
        raise ConfigurationError("the prompt is empty: type some text to send")
    limit = inferencer.context_limit(config)
    if limit and prompt_tokens >= limit:
        raise ConfigurationError(
            f"the prompt is {prompt_tokens} tokens but the context holds {limit}: shorten it or raise n_ctx"
        )


def one_line(exc: BaseException) -> str:
    """A one-line message: ours as they are, others prefixed with their type."""
    lines = str(exc).strip().splitlines()
    message = lines[0] if lines else ""
    if isinstance(exc, LLMCompareError):
        return message
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__
