"""What a run produces: statistics (as defined in docs/metrics.md), results and stream events."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any


class FinishReason(str, Enum):
    STOP = "stop"  # end-of-sequence token or a stop string
    LENGTH = "length"  # hit max_tokens
    CANCELLED = "cancelled"  # the user stopped it
    ERROR = "error"  # see InferenceResult.error


@dataclass
class InferenceStats:
    """Figures for one run, measured in the process that produced the tokens."""

    load_s: float | None = None
    warm: bool = False
    prompt_tokens: int | None = None  # None: not defined (the run never reached the model)
    completion_tokens: int | None = None
    ttft_s: float | None = None
    prefill_tps: float | None = None
    decode_tps: float | None = None
    tpot_ms: float | None = None
    decode_bytes_per_s: float | None = None
    e2e_s: float | None = None
    peak_rss_bytes: int | None = None
    # The peak's split (docs/metrics.md): anonymous memory, and mapped files such as weights.
    peak_private_bytes: int | None = None
    peak_file_bytes: int | None = None
    peak_vram_bytes: int | None = None  # this process's GPU memory; None where not measured
    gpu_layers_offloaded: int | None = None
    gpu_layers_total: int | None = None
    energy_j: float | None = None  # device-wide counters: `busy` covers them as it covers timings
    j_per_token: float | None = None
    finish_reason: FinishReason | None = None
    # Measured by the parent around the run: how much other work shared the machine.
    other_cpu_share: float | None = None
    busy: bool | None = None
    # HTTP endpoints only (docs/metrics.md): what the server reports about itself, never mixed with
    # the client-side figures above, and the price of the run.
    server_prompt_ms: float | None = None
    server_prefill_tps: float | None = None
    server_decode_ms: float | None = None
    server_decode_tps: float | None = None
    server_cached_prompt_tokens: int | None = None
    server_included_load: bool | None = None
    cost: float | None = None

    @property
    def ttft_comparable(self) -> bool:
        """False when part of the prompt came from the server's cache: that TTFT skipped work."""
        return not self.server_cached_prompt_tokens

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["finish_reason"] = self.finish_reason.value if self.finish_reason else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InferenceStats:
        reason = data.get("finish_reason")
        return cls(**{**data, "finish_reason": FinishReason(reason) if reason else None})


# docs/metrics.md: a run is busy when other processes used more than this share of the cores.
BUSY_CPU_SHARE = 0.10

# Help text for every figure, one line each, as the UI shows it.
STAT_HELP = {
    "load_s": "Seconds to make the model ready (0 when a warm model was reused).",
    "warm": "True when an already loaded model was reused.",
    "prompt_tokens": "Tokens fed to the model after the chat template, counted by its tokenizer.",
    "completion_tokens": "Token ids generated (a final end-of-sequence token is not counted).",
    "ttft_s": "Seconds from the request reaching the loaded model to the first token's text.",
    "prefill_tps": "Prompt tokens per second: prompt_tokens / ttft_s.",
    "decode_tps": "Generated tokens per second after the first: (tokens - 1) / (t_last - t_first).",
    "tpot_ms": "Milliseconds per output token after the first: 1000 / decode_tps.",
    "decode_bytes_per_s": (
        "UTF-8 bytes of answer per second after the first token: comparable across tokenizers."
    ),
    "e2e_s": (
        "Seconds from the request reaching the loaded model to the last token (to the end of the run "
        "when it was cancelled or made no token)."
    ),
    "peak_rss_bytes": "Peak resident memory of the process holding this model, over load and generation.",
    "peak_private_bytes": (
        "Of the peak resident memory, the anonymous part: memory the process made itself (weights converted "
        "or copied, buffers), which only its exit gives back."
    ),
    "peak_file_bytes": (
        "Of the peak resident memory, the part that maps files: weights llama.cpp keeps mapped, or a "
        "checkpoint read while it is converted."
    ),
    "peak_vram_bytes": (
        "Peak GPU memory of the process holding this model (its CUDA context included), over load and "
        "generation; empty when not on an NVIDIA GPU or not measured."
    ),
    "gpu_layers_offloaded": "Layers of the model on the GPU.",
    "gpu_layers_total": "Layers of the model, counted as its backend counts them for offloading.",
    "energy_j": (
        "Joules the device used during the run, from its energy counter (NVML on a GPU, RAPL on a CPU); "
        "device-wide, so other work counts too (see busy); empty without a readable counter."
    ),
    "j_per_token": "energy_j / completion_tokens.",
    "finish_reason": "stop, length, cancelled or error.",
    "other_cpu_share": (
        "Share of all cores used by other processes during the run (not this model, not llm-compare)."
    ),
    "busy": (
        f"True when other processes used more than {BUSY_CPU_SHARE:.0%} of the cores: timings not comparable "
        "with quiet runs."
    ),
    "server_prompt_ms": "HTTP endpoint: the server's own time for the prompt, in ms (llama.cpp's timings).",
    "server_prefill_tps": "HTTP endpoint: the server's own prompt tokens per second.",
    "server_decode_ms": "HTTP endpoint: the server's own time for generating, in ms.",
    "server_decode_tps": "HTTP endpoint: the server's own generated tokens per second.",
    "server_cached_prompt_tokens": (
        "HTTP endpoint: prompt tokens the server took from its cache; above 0 the TTFT is not comparable."
    ),
    "server_included_load": (
        "HTTP endpoint: True when the server loaded the model for this request (Ollama), so the TTFT "
        "includes a load."
    ),
    "cost": (
        "HTTP endpoint: prompt_tokens × input price + completion_tokens × output price, per million, in the "
        "endpoint's unit."
    ),
}
# Figures that are true or false, not numbers.
BOOLEAN_STATS = ("warm", "busy", "server_included_load")


def compute_stats(
    *,
    t_request: float,
    t_first_token: float | None,
    t_last_token: float | None,
    t_end: float,
    prompt_tokens: int | None,
    completion_tokens: int | None,
    finish_reason: FinishReason,
    load_s: float,
    warm: bool,
    peak_rss_bytes: int | None,
    answer_bytes_after_first: int | None = None,
) -> InferenceStats:
    """Derive every docs/metrics.md figure from the producer-side timestamps of one run."""
    ttft_s = t_first_token - t_request if t_first_token is not None else None
    decode_tps = decode_bytes_per_s = None
    if (completion_tokens or 0) >= 2 and t_last_token is not None and t_last_token > t_first_token:
        decode_tps = (completion_tokens - 1) / (t_last_token - t_first_token)
        if answer_bytes_after_first is not None:
            decode_bytes_per_s = answer_bytes_after_first / (t_last_token - t_first_token)
    end = t_last_token if t_last_token is not None and finish_reason != FinishReason.CANCELLED else t_end
    return InferenceStats(
        load_s=load_s,
        warm=warm,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        ttft_s=ttft_s,
        prefill_tps=prompt_tokens / ttft_s if ttft_s and prompt_tokens is not None else None,
        decode_tps=decode_tps,
        tpot_ms=1000.0 / decode_tps if decode_tps else None,
        decode_bytes_per_s=decode_bytes_per_s,
        e2e_s=end - t_request,
        peak_rss_bytes=peak_rss_bytes,
        finish_reason=finish_reason,
    )


@dataclass
class InferenceResult:
    """The final outcome of one model's run: consumers never re-count anything."""

    model_id: str
    text: str = ""
    finish_reason: FinishReason | None = None
    error: str | None = None
    stats: InferenceStats = field(default_factory=InferenceStats)
    # Settings the backend does not honour (name -> why), and the backend library versions.
    ignored_settings: dict[str, str] = field(default_factory=dict)
    backend_versions: dict[str, str] = field(default_factory=dict)
    # How the model actually ran: threads, and what the backend chose (e.g. the dtype).
    runtime: dict[str, str] = field(default_factory=dict)
    # What it ran on, as a person reads it (Placement.device): "CPU, 2 threads, AVX2", "CUDA: NVIDIA H100".
    device: str | None = None

    @classmethod
    def never_ran(cls, model_id: str, error: str) -> InferenceResult:
        """The result of a model that could not start (e.g. an unreadable file): no text, no figures."""
        return cls(model_id, "", FinishReason.ERROR, error, InferenceStats(finish_reason=FinishReason.ERROR))

    @property
    def is_complete(self) -> bool:
        return self.finish_reason is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "text": self.text,
            "finish_reason": self.finish_reason.value if self.finish_reason else None,
            "error": self.error,
            "stats": self.stats.to_dict(),
            "ignored_settings": self.ignored_settings,
            "backend_versions": self.backend_versions,
            "runtime": self.runtime,
            "device": self.device,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InferenceResult:
        reason = data.get("finish_reason")
        return cls(
            model_id=data["model_id"],
            text=data.get("text", ""),
            finish_reason=FinishReason(reason) if reason else None,
            error=data.get("error"),
            stats=InferenceStats.from_dict(data.get("stats") or {}),
            ignored_settings=data.get("ignored_settings") or {},
            backend_versions=data.get("backend_versions") or {},
            runtime=data.get("runtime") or {},
            device=data.get("device"),
        )


@dataclass
class InferenceEvent:
    """One incremental update for one model, in the order a UI should draw them.

    kind: "queued" | "loading" | "generating" | "stopping" | "text" | "done".
    "stopping": Stop was asked for and the worker has not confirmed yet.
    "text" carries the new text and the running token count; "done" carries the result
    (its finish_reason is "error" when the model failed).
    """

    model_id: str
    kind: str
    text: str = ""
    completion_tokens: int = 0
    result: InferenceResult | None = None
