"""Human-readable figures, shared by the CLI and the dashboard."""

from __future__ import annotations

from llm_compare.core.results import InferenceStats


def human_bytes(n_bytes: float | None) -> str:
    if n_bytes is None:
        return "–"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n_bytes) < 1024 or unit == "TiB":
            return f"{n_bytes:.0f} {unit}" if unit == "B" else f"{n_bytes:.1f} {unit}"
        n_bytes /= 1024
    return ""


def human_duration(seconds: float) -> str:
    """A wait as people say it: 42 s, 3 min 05 s."""
    seconds = round(seconds)
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


def human_count(n: int | None) -> str:
    """Parameter counts the way model cards write them: 1.4M, 7.2B."""
    if n is None:
        return "–"
    for scale, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if n >= scale:
            return f"{n / scale:.1f}{suffix}"
    return str(n)


def memory_with_file_part(n_bytes: float | None, file_bytes: float | None) -> str:
    """Resident memory with its mapped-file part where one was measured: "7.4 GiB (2.4 GiB mapped
    file)". Mapped weights are shared with the page cache, so the split tells what a second process
    of the same model would add."""
    if n_bytes is None or not file_bytes:
        return human_bytes(n_bytes)
    return f"{human_bytes(n_bytes)} ({human_bytes(file_bytes)} mapped file)"


def gpu_layers_text(stats: InferenceStats, offload_asked: bool = False) -> str | None:
    """The layers on a GPU, as "GPU layers 33/33", when there are some or offloading was asked for."""
    offloaded, total = stats.gpu_layers_offloaded, stats.gpu_layers_total
    if offloaded is None or not (offloaded or offload_asked):
        return None
    return f"GPU layers {offloaded}/{total}" if total is not None else f"GPU layers {offloaded}"


def hardware_parts(stats: InferenceStats, offload_asked: bool = False) -> list[str]:
    """GPU memory, GPU layers and energy, each only where it was measured (never a made-up 0)."""
    parts = []
    if stats.peak_vram_bytes is not None:
        parts.append(f"GPU memory {human_bytes(stats.peak_vram_bytes)}")
    layers = gpu_layers_text(stats, offload_asked)
    if layers:
        parts.append(layers)
    if stats.energy_j is not None:
        per_token = f" ({stats.j_per_token:.3g} J/token)" if stats.j_per_token is not None else ""
        parts.append(f"energy {stats.energy_j:.3g} J{per_token}")
    return parts


def stats_line(stats: InferenceStats, device: str | None = None, offload_asked: bool = False) -> str:
    """One compact line: TTFT, decode speed, tokens, memory (with its mapped-file part), GPU and
    energy where measured, load time, finish reason, and what the run ran on."""

    def fmt(value: float | None, pattern: str) -> str:
        return pattern.format(value) if value is not None else "–"

    load = "warm" if stats.warm else fmt(stats.load_s, "{:.2f} s")
    cached = (
        ""
        if stats.ttft_comparable
        else f" (not comparable: {stats.server_cached_prompt_tokens} prompt tokens cached)"
    )
    parts = [
        f"TTFT {fmt(stats.ttft_s and stats.ttft_s * 1000, '{:.0f} ms')}{cached}",
        f"decode {fmt(stats.decode_tps, '{:.1f} tok/s')}",
        f"{fmt(stats.prompt_tokens, '{}')} → {fmt(stats.completion_tokens, '{}')} tokens",
        f"peak RSS {memory_with_file_part(stats.peak_rss_bytes, stats.peak_file_bytes)}",
        *hardware_parts(stats, offload_asked),
        f"load {load}",
        stats.finish_reason.value if stats.finish_reason else "running",
    ]
    if stats.busy:
        parts.append(busy_note(stats))
    if stats.server_decode_tps is not None:  # the server's own figure, named as such
        parts.append(f"server decode {stats.server_decode_tps:.1f} tok/s")
    if stats.server_included_load:
        parts.append("includes the server loading the model")
    if stats.cost is not None:
        parts.append(f"cost {stats.cost:.6g}")
    if device:
        parts.append(f"on {device}")
    return " · ".join(parts)


def busy_note(stats: InferenceStats) -> str:
    """Why a run's timings are not comparable with quiet runs."""
    return f"BUSY: other processes used {stats.other_cpu_share:.0%} of the CPU"
