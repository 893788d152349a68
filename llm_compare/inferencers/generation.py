"""The generation loop shared by every backend: runs where the tokens are produced, so the
timings it takes are the producer's, and counts token ids, never text chunks."""

from __future__ import annotations

import sys
from collections.abc import Callable
from time import perf_counter

from llm_compare.core.config import ModelConfig
from llm_compare.core.errors import ConfigurationError, one_line
from llm_compare.core.results import FinishReason, InferenceResult, compute_stats
from llm_compare.inferencers.base import LocalInferencer


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


# Once a run has shown text, its new text is made from the ids and shown at most this often.
# Making it touches much code, which is cold right after llama_decode has streamed the weights
# through the caches (docs/performance.md has what it cost per token). Done for a batch of ids at
# once it is warm after the first; and each shown text wakes the process that receives it, which steals a
# core from generation on a small machine. No screen redraws faster anyway.
TEXT_INTERVAL_S = 0.05


class _Generation:
    """The state of one answer while the backend pushes token ids into `on_token`."""

    def __init__(
        self,
        inferencer: LocalInferencer,
        config: ModelConfig,
        cancelled: Callable[[], bool],
        emit: Callable[[str, int], None],
    ):
        self.inferencer, self.config, self.cancelled, self.emit = inferencer, config, cancelled, emit
        self.is_end = inferencer.is_end_of_sequence
        self.decode: Callable[[int | None], str] = lambda token_id: ""  # replaced once the prompt is known
        self.matcher = StopMatcher(config.stop)
        self.parts: list[str] = []
        self.pending: list[int] = []  # generated ids whose text is not made yet
        self.unshown: list[str] = []  # text made but not yet passed to `emit`
        self.text_due = 0.0  # when the next text is made and shown; 0 until some text was shown
        self.completion_tokens = 0
        self.tokens_shown = 0
        self.t_first: float | None = None
        self.t_last: float | None = None
        self.first_token_bytes = 0  # the first token's own text, which decode_bytes_per_s leaves out
        self.finish = FinishReason.LENGTH  # if the backend runs out of context without an end token
        self.hit_stop_string = False

    def on_token(self, token_id: int, at: float | None = None) -> bool:
        """Take one generated id, produced `at` (perf_counter's clock; default: now, the id is in
        hand); return False to stop generating. Per token, only what decides whether to go on:
        the text is made when it is due, or after every token when a stop string could end the
        answer."""
        if self.is_end(token_id):  # not counted: docs/metrics.md
            return self._end(FinishReason.STOP)
        self.completion_tokens += 1
        self.pending.append(token_id)
        now = perf_counter()
        self.t_last = now if at is None else at  # the time of the token
        if self.matcher.stops or now >= self.text_due:
            self._make_text()
            if self.hit_stop_string:
                return self._end(FinishReason.STOP)
        if self.completion_tokens >= self.config.max_tokens:
            return self._end(FinishReason.LENGTH)
        if self.cancelled():
            return self._end(FinishReason.CANCELLED)
        if now >= self.text_due:
            self._show()
        return True

    def finish_text(self) -> None:
        """Make and show the text of every id, with what the decoder and the stop matcher still
        hold back. Shows what it made even if the backend fails meanwhile."""
        try:
            self._make_text()
            if not self.hit_stop_string:
                text, self.hit_stop_string = self.matcher.feed(self.decode(None))
                self.unshown.append(text if self.hit_stop_string else text + self.matcher.flush())
                if self.hit_stop_string and self.finish == FinishReason.LENGTH:
                    self.finish = FinishReason.STOP
        finally:
            self._show()

    def _end(self, finish: FinishReason) -> bool:
        self.finish = finish
        self._make_text()
        self._show()
        return False

    def _make_text(self) -> None:
        """Turn the pending ids into text. The first token is timed when its text is made (TTFT
        is "the first token's text is available"); later ones when their ids arrive, as making
        their text is put off."""
        if not self.pending:
            return
        pending, self.pending = self.pending, []  # taken even if decoding fails: none is made twice
        for index, token_id in enumerate(pending):
            piece = self.decode(token_id)
            if self.t_first is None and index == 0:
                self.first_token_bytes = _utf8_size(piece)
            text, self.hit_stop_string = self.matcher.feed(piece)
            special = self.inferencer.special_token_text(token_id)
            if special and not self.hit_stop_string:
                more, self.hit_stop_string = self.matcher.feed(special, shown=False)
                text += more
            self.unshown.append(text)
            if self.hit_stop_string:
                break
        if self.t_first is None:
            self.t_first = self.t_last = perf_counter()

    def _show(self) -> None:
        """Pass the new text (and the token count) to `emit`; text is due again after
        TEXT_INTERVAL_S once some has been shown."""
        text = "".join(self.unshown)
        self.unshown.clear()
        if not text and self.tokens_shown == self.completion_tokens:
            return
        if text:
            self.parts.append(text)  # kept even if `emit` fails
        self.tokens_shown = self.completion_tokens
        self.emit(text, self.completion_tokens)
        # Once some text was shown, an update without text (its bytes held back: part of a UTF-8
        # character or of a stop string) wakes the receiver all the same, and waits its turn too.
        if text or self.text_due:
            self.text_due = perf_counter() + TEXT_INTERVAL_S


def run_generation(
    inferencer: LocalInferencer,
    *,
    prompt: str | list[dict],
    system_prompt: str | None,
    config: ModelConfig,
    cancelled: Callable[[], bool],
    emit: Callable[[str, int], None],
    load_s: float,
    warm: bool,
) -> InferenceResult:
    """Generate one answer, calling `emit(new_text, completion_tokens)` as text is shown: at once
    until the answer has some, then at most every TEXT_INTERVAL_S, and at the end."""
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
    result = InferenceResult(
        model_id=inferencer.model.id, text=text, finish_reason=run.finish, error=error, stats=stats
    )
    _add_placement(result, inferencer)
    return result


def _add_placement(result: InferenceResult, inferencer: LocalInferencer) -> None:
    """Where the run ran (its device in words, its layers on a GPU) and what the load settings
    resolved to (runtime: n_gpu_layers, torch_device)."""
    placement = inferencer.placement()
    if placement is None:
        return
    result.device = placement.device
    result.stats.gpu_layers_offloaded = placement.gpu_layers_offloaded
    result.stats.gpu_layers_total = placement.gpu_layers_total
    result.runtime.update(placement.resolved)


def _utf8_size(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def _keep_held_back_text(run: _Generation) -> None:
    """Show what the decoder and stop matcher still hold, also after a failure (docs/metrics.md: a
    failed run keeps the text produced so far)."""
    try:
        run.finish_text()
    except Exception:  # the backend is broken; the run's own error is the one to report
        pass


def _check_prompt_fits(prompt_tokens: int, inferencer: LocalInferencer, config: ModelConfig) -> None:
    if prompt_tokens == 0:
        raise ConfigurationError("the prompt is empty: type some text to send")
    limit = inferencer.context_limit(config)
    if limit and prompt_tokens >= limit:
        raise ConfigurationError(
            f"the prompt is {prompt_tokens} tokens but the context holds {limit}: shorten it or raise n_ctx"
        )
