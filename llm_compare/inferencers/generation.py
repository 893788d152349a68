"""The generation loop shared by every backend: runs where the tokens are produced, so the
timings it takes are the producer's, and counts token ids, never text chunks."""

from __future__ import annotations

import sys
from collections.abc import Callable
from time import perf_counter

from llm_compare.core.config import ModelConfig
from llm_compare.core.errors import ConfigurationError, LLMCompareError
from llm_compare.core.results import FinishReason, InferenceResult, compute_stats
from llm_compare.inferencers.base import BaseInferencer


class StopMatcher:
    """Finds stop strings in streamed text, holding back only what could start one. Text fed with
    `shown=False` (a special token's) can be part of a stop string but is never shown."""

    def __init__(self, stops: list[str]):
        self.stops = stops
        self.pending = ""
        self.shown: list[bool] = []  # per character of `pending`

    def feed(self, delta: str, shown: bool = True) -> tuple[str, bool]:
        """Return (text safe to show, whether a stop string was hit)."""
        if not self.stops:  # the usual case, once per token: nothing to look for or hold back
            return (delta if shown else ""), False
        self.pending += delta
        self.shown += [shown] * len(delta)
        hits = [i for i in (self.pending.find(s) for s in self.stops) if i >= 0]
        if hits:
            out = self._take(min(hits))
            self._take(len(self.pending))
            return out, True
        return self._take(len(self.pending) - self._longest_stop_prefix_suffix()), False

    def flush(self) -> str:
        return self._take(len(self.pending))

    def _take(self, n: int) -> str:
        out = "".join(c for c, shown in zip(self.pending[:n], self.shown[:n]) if shown)
        self.pending, self.shown = self.pending[n:], self.shown[n:]
        return out

    def _longest_stop_prefix_suffix(self) -> int:
        for k in range(min(len(self.pending), max((len(s) - 1 for s in self.stops), default=0)), 0, -1):
            tail = self.pending[-k:]
            if any(s.startswith(tail) for s in self.stops):
                return k
        return 0


# Linux tells a process its own peak resident memory; elsewhere the parent samples it from outside.
REPORTS_OWN_PEAK_RSS = sys.platform.startswith("linux")


def peak_rss_bytes() -> int | None:
    """This process's own peak resident memory (Linux: VmHWM, which exec resets), or None where
    the platform cannot tell (the parent then samples the worker's RSS from outside).
    Not getrusage's ru_maxrss: Linux carries the parent's high-water mark across fork and exec,
    so a worker of a 600 MiB dashboard would report at least 600 MiB."""
    if not REPORTS_OWN_PEAK_RSS:
        return None
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024  # the kernel reports kB
    except (OSError, ValueError):
        pass
    return None


class _Generation:
    """The state of one answer while the backend pushes token ids into `on_token`."""

    def __init__(self, inferencer: BaseInferencer, config: ModelConfig, cancelled: Callable[[], bool], emit: Callable[[str, int], None]):
        self.inferencer, self.config, self.cancelled, self.emit = inferencer, config, cancelled, emit
        self.decode: Callable[[int | None], str] = lambda token_id: ""  # replaced once the prompt is known
        self.matcher = StopMatcher(config.stop)
        self.parts: list[str] = []
        self.completion_tokens = 0
        self.t_first: float | None = None
        self.t_last: float | None = None
        self.first_token_bytes = 0  # the first token's own text, which decode_bytes_per_s leaves out
        self.finish = FinishReason.LENGTH  # if the backend runs out of context without an end token
        self.hit_stop_string = False

    def on_token(self, token_id: int) -> bool:
        """Take one generated id; return False to stop generating."""
        if self.inferencer.is_end_of_sequence(token_id):  # not counted: metrics.md
            self.finish = FinishReason.STOP
            return False
        self.completion_tokens += 1
        piece = self.decode(token_id)
        if self.completion_tokens == 1:
            self.first_token_bytes = _utf8_size(piece)
        text, self.hit_stop_string = self.matcher.feed(piece)
        special = self.inferencer.special_token_text(token_id)
        if special and not self.hit_stop_string:
            more, self.hit_stop_string = self.matcher.feed(special, shown=False)
            text += more
        self.t_last = perf_counter()  # the token's text is available now
        self.t_first = self.t_first or self.t_last
        self._show(text)
        if self.hit_stop_string:
            self.finish = FinishReason.STOP
        elif self.completion_tokens >= self.config.max_tokens:
            self.finish = FinishReason.LENGTH
        elif self.cancelled():
            self.finish = FinishReason.CANCELLED
        else:
            return True
        return False

    def finish_text(self) -> None:
        """Show what the decoder and the stop matcher still hold back."""
        if self.hit_stop_string:
            return
        text, self.hit_stop_string = self.matcher.feed(self.decode(None))
        self._show(text if self.hit_stop_string else text + self.matcher.flush())
        if self.hit_stop_string and self.finish == FinishReason.LENGTH:
            self.finish = FinishReason.STOP

    def _show(self, text: str) -> None:
        if text:
            self.parts.append(text)
        self.emit(text, self.completion_tokens)


def run_generation(
    inferencer: BaseInferencer,
    *,
    prompt: str | list[dict],
    system_prompt: str | None,
    config: ModelConfig,
    cancelled: Callable[[], bool],
    emit: Callable[[str, int], None],
    load_s: float,
    warm: bool,
) -> InferenceResult:
    """Generate one answer, calling `emit(new_text, completion_tokens)` per token."""
    t_request = perf_counter()
    prompt_tokens = completion_tokens = None  # not defined until the prompt is accepted
    run = _Generation(inferencer, config, cancelled, emit)
    error = None
    try:
        chat = inferencer.use_chat(config.mode)
        system = config.system_prompt if system_prompt is None else system_prompt
        prompt_ids = inferencer.encode_prompt(prompt, system, chat)
        prompt_tokens = len(prompt_ids)
        run.decode = inferencer.new_text_decoder(prompt_ids)
        _check_prompt_fits(prompt_tokens, inferencer, config)
        completion_tokens = 0
        inferencer.generate(prompt_ids, config, run.on_token, cancelled)
        if run.finish == FinishReason.LENGTH and cancelled() and run.completion_tokens < config.max_tokens:
            run.finish = FinishReason.CANCELLED  # stopped inside prompt processing
    except Exception as exc:  # reported as this model's error; the worker lives on
        run.finish = FinishReason.ERROR
        error = one_line(exc)
    _keep_held_back_text(run)
    if completion_tokens is not None:
        completion_tokens = run.completion_tokens
    text = "".join(run.parts)
    stats = compute_stats(
        t_request=t_request,
        t_first_token=run.t_first,
        t_last_token=run.t_last,
        t_end=perf_counter(),
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        finish_reason=run.finish,
        load_s=load_s,
        warm=warm,
        peak_rss_bytes=peak_rss_bytes(),
        answer_bytes_after_first=max(0, _utf8_size(text) - run.first_token_bytes),
    )
    return InferenceResult(model_id=inferencer.model.id, text=text, finish_reason=run.finish, error=error, stats=stats)


def _utf8_size(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def _keep_held_back_text(run: _Generation) -> None:
    """Show what the decoder and stop matcher still hold, also after a failure (metrics.md: a
    failed run keeps the text produced so far)."""
    try:
        run.finish_text()
    except Exception:  # the backend is broken; the run's own error is the one to report
        pass


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
