"""A benchmark's results: every figure summarised per model and per (model, prompt), check pass
rates, and each pair of models compared in plain words (docs/metrics.md, "Benchmarks")."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations

from llm_compare.services.bench.stats import (
    Interval,
    Ratio,
    Summary,
    ratio_of_medians,
    summarize,
    verdict,
    wilson_interval,
)

# Per-run figures of docs/metrics.md that a benchmark summarises, in the order tables show them.
FIGURES = (
    "ttft_s",
    "prefill_tps",
    "decode_tps",
    "tpot_ms",
    "decode_bytes_per_s",
    "e2e_s",
    "prompt_tokens",
    "completion_tokens",
    "peak_rss_bytes",
    # Empty where not measured (no GPU, no energy counter): a figure no run has gets no summary.
    "peak_private_bytes",
    "peak_file_bytes",
    "peak_vram_bytes",
    "energy_j",
    "j_per_token",
)


@dataclass(frozen=True)
class CountedRun:
    """One repetition's figures, as aggregation needs them (warm-ups are never given here)."""

    model_id: str
    prompt_id: str
    repeat: int
    figures: Mapping[str, float | None]
    busy: bool = False
    checks_passed: int = 0
    checks_total: int = 0


@dataclass(frozen=True)
class FigureSummary:
    model_id: str
    prompt_id: str | None  # None: over every prompt
    figure: str
    summary: Summary


@dataclass(frozen=True)
class PassRate:
    model_id: str
    prompt_id: str | None
    passed: int
    total: int
    interval: Interval | None

    @property
    def rate(self) -> float | None:
        return self.passed / self.total if self.total else None


@dataclass(frozen=True)
class PairComparison:
    """How model A compares with model B on one figure; `ratio` > 1 always means A is better."""

    model_a: str
    model_b: str
    figure: str  # "decode_tps", "decode_bytes_per_s" or "ttft_s"
    prompt_id: str | None  # None: over every prompt both ran (geometric mean)
    ratio: Ratio | None
    verdict: str


def counted(runs: Iterable[CountedRun], include_busy: bool = False) -> list[CountedRun]:
    """Busy runs (docs/metrics.md) are kept and shown, but left out of aggregates unless asked for."""
    return [run for run in runs if include_busy or not run.busy]


def counted_or_busy(runs: Sequence[CountedRun], include_busy: bool = False) -> tuple[list[CountedRun], bool]:
    """The runs aggregates are made of, and whether they are busy runs only: when leaving the busy
    runs out leaves nothing, every run counts, and the figures say they come from busy runs."""
    used = counted(runs, include_busy)
    if used or not runs:
        return used, False
    return list(runs), True


def busy_share(busy: int, total: int) -> str:
    """ "3 of 32 runs busy (9 %)": what every table of aggregates says about the runs under it."""
    share = f" ({busy / total:.0%})".replace("%", " %") if total else ""
    return f"{busy} of {total} run{'' if total == 1 else 's'} busy{share}"


def figure_summaries(runs: Sequence[CountedRun]) -> list[FigureSummary]:
    rows = []
    for model_id, prompt_id, group in _groups(runs):
        for figure in FIGURES:
            summary = summarize([run.figures.get(figure) for run in group])
            if summary is not None:
                rows.append(FigureSummary(model_id, prompt_id, figure, summary))
    return rows


def pass_rates(runs: Sequence[CountedRun]) -> list[PassRate]:
    rows = []
    for model_id, prompt_id, group in _groups(runs):
        passed = sum(run.checks_passed for run in group)
        total = sum(run.checks_total for run in group)
        if total:
            rows.append(PassRate(model_id, prompt_id, passed, total, wilson_interval(passed, total)))
    return rows


def compare_pairs(
    runs: Sequence[CountedRun], names: Mapping[str, str], same_tokenizer: Callable[[str, str], bool]
) -> list[PairComparison]:
    """Decode speed and TTFT of every pair of models, per prompt and over the prompts both ran.

    Decode speed is compared in tokens/s only between models sharing a tokenizer; otherwise in
    UTF-8 bytes/s, since one model's token is not another's."""
    models = sorted({run.model_id for run in runs}, key=lambda m: names.get(m, m))
    rows = []
    for a, b in combinations(models, 2):
        decode = "decode_tps" if same_tokenizer(a, b) else "decode_bytes_per_s"
        shared = sorted(
            {r.prompt_id for r in runs if r.model_id == a} & {r.prompt_id for r in runs if r.model_id == b}
        )
        for prompt_ids in [[p] for p in shared] + ([shared] if len(shared) > 1 else []):
            prompt_id = prompt_ids[0] if len(prompt_ids) == 1 else None
            speed = ratio_of_medians(
                [(_values(runs, a, p, decode), _values(runs, b, p, decode)) for p in prompt_ids]
            )
            # Lower TTFT is better: B's over A's, so that > 1 means A answers sooner.
            sooner = ratio_of_medians(
                [(_values(runs, b, p, "ttft_s"), _values(runs, a, p, "ttft_s")) for p in prompt_ids]
            )
            name_a, name_b = names.get(a, a), names.get(b, b)
            rows.append(PairComparison(a, b, decode, prompt_id, speed, verdict(name_a, name_b, speed)))
            rows.append(
                PairComparison(
                    a,
                    b,
                    "ttft_s",
                    prompt_id,
                    sooner,
                    verdict(name_a, name_b, sooner, faster="reaches its first token", unit="sooner"),
                )
            )
    return rows


def _groups(runs: Sequence[CountedRun]):
    """(model, None, all its runs), then (model, prompt, those runs), for every model and prompt."""
    by_model: dict[str, list[CountedRun]] = {}
    for run in runs:
        by_model.setdefault(run.model_id, []).append(run)
    for model_id, model_runs in by_model.items():
        yield model_id, None, model_runs
        by_prompt: dict[str, list[CountedRun]] = {}
        for run in model_runs:
            by_prompt.setdefault(run.prompt_id, []).append(run)
        for prompt_id, prompt_runs in by_prompt.items():
            yield model_id, prompt_id, prompt_runs


def _values(runs: Sequence[CountedRun], model_id: str, prompt_id: str, figure: str) -> list[float | None]:
    return [
        run.figures.get(figure) for run in runs if run.model_id == model_id and run.prompt_id == prompt_id
    ]
