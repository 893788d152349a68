"""A benchmark's aggregates as tables: flat rows for CSV and JSON, and Markdown for pasting
into an issue or a README (what `llama-bench -o md` gives)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from llm_compare.core.results import STAT_HELP
from llm_compare.core.text import terminal_safe
from llm_compare.services.bench.aggregate import FigureSummary, PairComparison, PassRate
from llm_compare.services.bench.stats import MIN_RUNS_FOR_VERDICT, Summary
from llm_compare.services.store.run_store import RunRecord

# Markdown columns: figure, heading, scale to the shown unit, decimals.
MARKDOWN_FIGURES = (
    ("decode_tps", "decode tok/s", 1.0, 1),
    ("ttft_s", "TTFT ms", 1000.0, 1),
    ("prefill_tps", "prefill tok/s", 1.0, 0),
    ("peak_rss_bytes", "peak RSS MiB", 1 / 2**20, 1),
)
# Columns added only when some model has the figure: a CPU-only machine has no GPU memory and
# often no energy counter, and a column of dashes would say nothing.
MEASURED_MARKDOWN_FIGURES = (
    ("peak_file_bytes", "peak mapped file MiB", 1 / 2**20, 1),
    ("peak_vram_bytes", "peak GPU MiB", 1 / 2**20, 1),
    ("energy_j", "energy J", 1.0, 2),
    ("j_per_token", "J/token", 1.0, 4),
)


@dataclass(frozen=True)
class ModelLabel:
    name: str
    backend: str
    device: str | None = None  # what its runs ran on (RunRecord.device); None before it was recorded


def devices_by_model(pairs: Iterable[tuple[str, str | None]]) -> dict[str, str]:
    """{model_id: device} from (model id, device) pairs, several devices joined by "; " in the
    order first met (a benchmark resumed on another machine ran on both)."""
    found: dict[str, dict[str, None]] = {}
    for model_id, device in pairs:
        if device:
            found.setdefault(model_id, {})[device] = None
    return {model_id: "; ".join(devices) for model_id, devices in found.items()}


def aggregate_rows(summaries: Sequence[FigureSummary], labels: Mapping[str, ModelLabel]) -> list[dict]:
    """One row per (model, prompt or all prompts, figure): the aggregate CSV and JSON."""
    rows = []
    for row in summaries:
        s, label = row.summary, labels.get(row.model_id, ModelLabel(row.model_id, ""))
        rows.append(
            {
                "model_id": row.model_id,
                "model_name": label.name,
                "backend": label.backend,
                "device": label.device,
                "prompt_id": row.prompt_id or "",
                "figure": row.figure,
                "n": s.n,
                "median": s.median,
                "spread": s.spread_label,
                "low": s.low,
                "high": s.high,
                "mean": s.mean,
                "stdev": s.stdev,
                "median_ci_low": s.median_ci.low if s.median_ci else None,
                "median_ci_high": s.median_ci.high if s.median_ci else None,
            }
        )
    return rows


def run_rows(records: Sequence[RunRecord], counted_only: bool = True) -> list[dict]:
    """One row per counted run of a benchmark (the runs CSV), or per stored run (the JSON export,
    where skipped, failed and stopped runs keep their reasons)."""
    rows = []
    for record in records:
        bench = record.bench
        if "prompt_id" not in bench:
            continue
        counted = not bench.get("skipped") and record.finish_reason in ("stop", "length")
        if counted_only and not counted:
            continue
        checks = bench.get("checks") or []
        row = {
            "benchmark_id": bench.get("benchmark_id"),
            "model_id": record.model["id"],
            "model_name": record.model["name"],
            "backend": record.model["type"],
            "device": record.device,
            "prompt_id": bench["prompt_id"],
            "repeat": bench.get("repeat"),
            "seed": bench.get("seed"),
            "counted": counted,
            "checks_passed": sum(bool(c.get("passed")) for c in checks),
            "checks_total": len(checks),
            "busy": bool(record.stats.get("busy")),
            "skipped": bench.get("skipped"),
            "error": None if bench.get("skipped") else record.error,
        }
        row.update({name: record.stats.get(name) for name in STAT_HELP if name not in row})
        # Last, being long: what was asked and answered (rows_to_csv makes formula-like text inert).
        row.update({"prompt": record.prompt, "text": record.text})
        rows.append(row)
    return rows


def markdown_table(
    summaries: Sequence[FigureSummary],
    rates: Sequence[PassRate],
    pairs: Sequence[PairComparison],
    labels: Mapping[str, ModelLabel],
    busy: str = "",
) -> str:
    """Per model over every prompt: median and spread of the headline figures, the check pass
    rate, then one line per pair of models with its verdicts."""
    by_key = {(s.model_id, s.figure): s.summary for s in summaries if s.prompt_id is None}
    rate_of = {r.model_id: r for r in rates if r.prompt_id is None}
    models = sorted({s.model_id for s in summaries}, key=lambda m: labels[m].name if m in labels else m)
    figures = MARKDOWN_FIGURES + tuple(
        f for f in MEASURED_MARKDOWN_FIGURES if any(figure == f[0] for _, figure in by_key)
    )
    with_device = any(labels[m].device for m in models if m in labels)
    text_columns = ["model", "backend"] + (["device"] if with_device else [])
    header = text_columns + ["n"] + [heading for _, heading, _, _ in figures] + ["checks passed"]
    lines = [
        _md_row(header),
        _md_row(["---"] * len(text_columns) + ["---:"] * (len(header) - len(text_columns))),
    ]
    for model_id in models:
        label = labels.get(model_id, ModelLabel(model_id, ""))
        n = max((s.n for (m, _), s in by_key.items() if m == model_id), default=0)
        cells = [label.name, label.backend] + ([label.device or "–"] if with_device else []) + [str(n)]
        cells += [
            _md_figure(by_key.get((model_id, figure)), scale, digits) for figure, _, scale, digits in figures
        ]
        cells.append(_md_rate(rate_of.get(model_id)))
        lines.append(_md_row(cells))
    lines.append("")
    lines.append(f"Each figure: median (min–max below 10 runs, p10–p90 from 10). {busy}".rstrip())
    verdicts = headline_pairs(pairs)
    if verdicts:
        lines.append("")
        names = {m: label.name for m, label in labels.items()}
        lines += [f"- {_md_escape(pair_sentence(p, names))}" for p in verdicts]
    return "\n".join(lines) + "\n"


def _md_figure(summary: Summary | None, scale: float, digits: int) -> str:
    if summary is None:
        return "–"
    low, high = summary.low * scale, summary.high * scale
    return f"{summary.median * scale:.{digits}f} ({low:.{digits}f}–{high:.{digits}f})"


def _md_rate(rate: PassRate | None) -> str:
    if rate is None:
        return "–"
    return f"{rate.passed}/{rate.total} ({rate.interval.low:.0%}–{rate.interval.high:.0%})"


def headline_pairs(pairs: Sequence[PairComparison]) -> list[PairComparison]:
    """The comparisons over every prompt, or the per-prompt ones when there is a single prompt."""
    return [p for p in pairs if p.prompt_id is None] or list(pairs)


def pair_sentence(pair: PairComparison, names: Mapping[str, str]) -> str:
    """The verdict as a sentence that names what was compared, e.g. "tiny vs small, TTFT:
    within noise (ratio 1.02, 95 % CI 0.97–1.08)"."""
    figure = {"decode_tps": "decode tok/s", "decode_bytes_per_s": "decode bytes/s", "ttft_s": "TTFT"}[
        pair.figure
    ]
    if pair.ratio is not None and pair.verdict not in ("within noise", "too few runs"):
        return f"{pair.verdict} ({figure})"
    subject = f"{names.get(pair.model_a, pair.model_a)} vs {names.get(pair.model_b, pair.model_b)}, {figure}"
    if pair.ratio is None:
        return f"{subject}: too few runs"
    detail = (
        f"ratio {pair.ratio.value:.2f}, 95 % CI {pair.ratio.interval.low:.2f}–{pair.ratio.interval.high:.2f}"
    )
    if pair.verdict == "too few runs":
        detail += (
            f"; as few as {pair.ratio.min_runs} runs with this figure for one prompt, a verdict needs "
            f"{MIN_RUNS_FOR_VERDICT}"
        )
    return f"{subject}: {pair.verdict} ({detail})"


def _md_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(_md_escape(c) for c in cells) + " |"


def _md_escape(text: str) -> str:
    # Model names come from file names: a "|" would split a cell, a newline end the table, an
    # escape sequence act on the terminal the table is printed to.
    return terminal_safe(text.replace("\\", "\\\\").replace("|", "\\|"))
