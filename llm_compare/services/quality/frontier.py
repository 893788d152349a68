"""The frontier: per model a quality figure beside what it costs (median decode speed, TTFT, J/token
and peak memory from the latest benchmark that included it, quiet runs only), and which models no
other beats on both quality and speed, on both quality and memory, or on both quality and energy
where energy was measured (Pareto)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from llm_compare.services.bench.aggregate import CountedRun, PassRate, counted, figure_summaries, pass_rates
from llm_compare.services.bench.persistence import counted_runs
from llm_compare.services.store.run_store import RunStore


@dataclass(frozen=True)
class QualityFigure:
    label: str
    higher_is_better: bool
    help: str


# The quality figures a frontier can use (docs/metrics.md names). Their values come from the service
# that owns each: likelihood scores, benchmarks' checks, votes.
QUALITY_FIGURES = {
    "bits_per_byte": QualityFigure(
        "bits per byte",
        False,
        "Negative log-likelihood of a text in bits per UTF-8 byte: lower is better, comparable across "
        "tokenizers.",
    ),
    "kl_mean": QualityFigure(
        "KL divergence (nats)",
        False,
        "Mean KL(reference ‖ model) per scored token: lower is closer to the reference.",
    ),
    "check_pass_rate": QualityFigure(
        "check pass rate",
        True,
        "Share of a benchmark's checks passed, in the latest benchmark that included the model.",
    ),
    "vote_rating": QualityFigure(
        "vote rating (Elo)", True, "Bradley-Terry rating from blind votes, on the Elo scale (mean 1000)."
    ),
}


@dataclass(frozen=True)
class ModelCost:
    """What a model costs, from the latest benchmark that has quiet runs of it."""

    model_id: str
    name: str
    benchmark_id: str
    benchmark_created_at: str
    runs: int  # quiet counted runs the figures come from
    decode_tps: float | None  # median
    ttft_s: float | None  # median
    peak_rss_bytes: float | None  # the highest: a process's peak only grows
    pass_rate: PassRate | None  # over every prompt of that benchmark; None without checks
    j_per_token: float | None = None  # median; None without an energy counter
    busy_runs: int = 0  # busy runs among `runs`: all of them when the model had no quiet run


FROM_BUSY_NOTE = "from busy runs: not comparable with quiet runs"


def latest_costs(store: RunStore, include_busy: bool = False) -> dict[str, ModelCost]:
    """Per model, its figures in the newest benchmark that has quiet counted runs of it (busy
    runs' timings are not comparable, so they count only when included). A model with busy runs
    only still gets its figures, from its newest benchmark, marked by `busy_runs`."""
    benchmarks, names = [], {}
    for benchmark in store.benchmarks():
        records = store.benchmark_runs(benchmark.benchmark_id)
        benchmarks.append((benchmark, counted_runs(records)))
        names.update({r.model["id"]: r.model["name"] for r in records if r.model["id"] not in names})
    costs: dict[str, ModelCost] = {}
    for busy_only in (False, True):  # newest first, quiet runs first; busy ones for the rest
        for benchmark, every_run in benchmarks:
            runs = [run for run in counted(every_run, include_busy or busy_only) if run.model_id not in costs]
            if runs:
                costs.update(_costs(benchmark, runs, names))
    return costs


def _costs(benchmark, runs: list[CountedRun], names: Mapping[str, str]) -> dict[str, ModelCost]:
    medians = {
        (s.model_id, s.figure): s.summary.median for s in figure_summaries(runs) if s.prompt_id is None
    }
    rates = {rate.model_id: rate for rate in pass_rates(runs) if rate.prompt_id is None}
    costs = {}
    for model_id in dict.fromkeys(run.model_id for run in runs):
        own = [run for run in runs if run.model_id == model_id]
        peaks = [run.figures.get("peak_rss_bytes") for run in own]
        peaks = [peak for peak in peaks if peak is not None]
        costs[model_id] = ModelCost(
            model_id,
            names[model_id],
            benchmark.benchmark_id,
            benchmark.created_at,
            len(own),
            medians.get((model_id, "decode_tps")),
            medians.get((model_id, "ttft_s")),
            max(peaks) if peaks else None,
            rates.get(model_id),
            medians.get((model_id, "j_per_token")),
            sum(1 for run in own if run.busy),
        )
    return costs


def pareto_front(points: Mapping[str, tuple[float, float]], higher_x: bool, higher_y: bool) -> set[str]:
    """The keys no other point dominates: at least as good on both axes and better on one.
    Equal points are all on the front."""
    sign_x, sign_y = (1 if higher_x else -1), (1 if higher_y else -1)
    scored = {key: (sign_x * x, sign_y * y) for key, (x, y) in points.items()}
    return {
        key
        for key, (x, y) in scored.items()
        if not any(
            ox >= x and oy >= y and (ox > x or oy > y) for other, (ox, oy) in scored.items() if other != key
        )
    }


# Why the energy axis is missing: no benchmark run had a readable energy counter (NVML, RAPL).
NO_ENERGY_NOTE = "No energy axis: no benchmark run measured energy (no energy counter on this machine)."


def energy_measured(costs: Mapping[str, ModelCost]) -> bool:
    """Whether any model's cost has a J/token figure: only then is energy a frontier axis."""
    return any(cost.j_per_token is not None for cost in costs.values())


@dataclass(frozen=True)
class FrontierRow:
    model_id: str
    name: str
    quality: float | None
    cost: ModelCost | None
    on_speed_front: bool  # no model has both better quality and faster decoding
    on_memory_front: bool  # no model has both better quality and less peak memory
    note: str  # why the model is not on the plots, or ""
    on_energy_front: bool = False  # no model has both better quality and fewer joules per token


def frontier_rows(
    figure: str,
    quality: Mapping[str, float],
    costs: Mapping[str, ModelCost],
    names: Mapping[str, str] | None = None,
) -> list[FrontierRow]:
    """Every model with a quality figure or a benchmark, best quality first; the fronts are
    drawn among those with both."""
    higher = QUALITY_FIGURES[figure].higher_is_better
    both = {m for m in quality if m in costs and quality[m] is not None}
    speed = pareto_front(
        {m: (costs[m].decode_tps, quality[m]) for m in both if costs[m].decode_tps is not None}, True, higher
    )
    memory = pareto_front(
        {m: (costs[m].peak_rss_bytes, quality[m]) for m in both if costs[m].peak_rss_bytes is not None},
        False,
        higher,
    )
    energy = pareto_front(
        {m: (costs[m].j_per_token, quality[m]) for m in both if costs[m].j_per_token is not None},
        False,
        higher,
    )
    names = dict(names or {})
    rows = []
    for model_id in dict.fromkeys([*quality, *costs]):
        cost, value = costs.get(model_id), quality.get(model_id)
        note = ""
        if cost is None:
            note = "no benchmark run: benchmark it to place it on the plots"
        elif value is None:
            note = f"no {QUALITY_FIGURES[figure].label} yet"
        if cost is not None and cost.busy_runs == cost.runs:
            note = "; ".join(filter(None, [FROM_BUSY_NOTE, note]))
        name = names.get(model_id) or (cost.name if cost else model_id)
        rows.append(
            FrontierRow(
                model_id, name, value, cost, model_id in speed, model_id in memory, note, model_id in energy
            )
        )
    worst = float("inf")
    rows.sort(
        key=lambda r: (
            r.quality is None,
            (-r.quality if higher else r.quality) if r.quality is not None else worst,
            r.name,
        )
    )
    return rows
