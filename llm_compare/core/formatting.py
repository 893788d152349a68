"""Human-readable figures, shared by the CLI and the dashboard."""

from __future__ import annotations

import math
from datetime import datetime, timezone

from llm_compare.core.results import InferenceStats

EMPTY = "–"  # what a figure that was not measured shows (docs/metrics.md, "Empty")
SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def human_bytes(n_bytes: float | None) -> str:
    if n_bytes is None:
        return "–"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n_bytes) < 1024 or unit == "TiB":
            return f"{n_bytes:.0f} {unit}" if unit == "B" else f"{n_bytes:.1f} {unit}"
        n_bytes /= 1024
    return ""


def significant(value: float | None, digits: int = 3) -> str:
    """`value` to `digits` significant figures: 0.00123, 4.51, 791; whole numbers from 10^digits up
    (12,346), and an exponent below 0.001 (1.23e-05)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return EMPTY
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    if magnitude >= digits:
        return f"{value:,.0f}"
    if magnitude >= -3:
        return f"{value:.{digits - 1 - magnitude}f}"
    return f"{value:.{digits - 1}e}"


def with_uncertainty(
    value: float | None, error: float | None, percent: bool = False, sign: bool = False
) -> str:
    """A value and its error, both to the error's precision (the error to 2 significant figures):
    "4.5134 ± 0.0016", "1.0002 ± 0.0003". Values below 0.001 share one power of ten:
    "(3.06 ± 0.12)·10⁻⁵". `percent` shows fractions as percentages, `sign` a + on positive values."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return EMPTY
    scale, suffix = (100.0, " %") if percent else (1.0, "")
    value, error = value * scale, None if error is None else error * scale
    plus = "+" if sign else ""
    if error is None or not math.isfinite(error):
        return f"{plus if value > 0 else ''}{significant(value, 4)}{suffix}"
    if error == 0:
        return f"{plus if value > 0 else ''}{significant(value, 4)} ± 0{suffix}"
    largest = max(abs(value), abs(error))
    exponent = math.floor(math.log10(largest)) if largest and largest < 1e-3 else 0
    value, error = value / 10**exponent, error / 10**exponent
    # The error's second significant digit sets the decimals shown (none past the units for big errors).
    decimals = 2 - 1 - math.floor(math.log10(error)) if error > 0 else 4
    decimals = max(0, decimals)
    shown = f"{value:{plus}.{decimals}f} ± {error:.{decimals}f}"
    if exponent:
        return f"({shown})·10{str(exponent).translate(SUPERSCRIPT)}{suffix}"
    return f"{shown}{suffix}"


def local_time_text(iso_timestamp: str | None, seconds: bool = False) -> str:
    """A stored ISO timestamp (UTC) in this machine's time zone, as people read it:
    "2026-11-26 07:00". Exports keep the ISO text; this is for the screen."""
    if not iso_timestamp:
        return EMPTY
    try:
        when = datetime.fromisoformat(iso_timestamp)
    except ValueError:
        return iso_timestamp
    if when.tzinfo is None:  # stored without a zone: taken as UTC, as the store writes it
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone().strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


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
