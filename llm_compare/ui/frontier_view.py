"""Draws the frontier: a chosen quality figure per model beside its decode speed, TTFT, peak memory
and (where measured) J/token, and the quality scatters against each with the Pareto front marked."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pandas as pd
import streamlit as st

from llm_compare.core.formatting import local_time_text
from llm_compare.services.bench.aggregate import busy_share
from llm_compare.services.quality.frontier import (
    NO_ENERGY_NOTE,
    QUALITY_FIGURES,
    FrontierRow,
    energy_measured,
    frontier_rows,
    latest_costs,
)
from llm_compare.services.quality.sources import SOURCES, known_names
from llm_compare.services.store.run_store import RunStore
from llm_compare.ui import charts, session
from llm_compare.ui.errors import guard

FIGURE_KEY = "frontier_figure"


def draw_section(more_sources: Mapping[str, Callable[[], Mapping[str, float]]] | None = None) -> None:
    """A choice of quality figure, then the frontier. `more_sources` adds figures computed
    elsewhere ({figure: () -> {model_id: value}}, e.g. bits_per_byte from the Quality page's
    scores); the first listed is the default."""
    store = RunStore()
    costs = latest_costs(store, session.include_busy())
    sources = {name: (lambda source=source: source(store, costs)) for name, source in SOURCES.items()}
    available = {**(more_sources or {}), **sources}
    if FIGURE_KEY not in st.session_state:  # at first, a figure that has values, not an empty plot
        st.session_state[FIGURE_KEY] = next(
            (f for f, values in available.items() if values()), next(iter(available))
        )
    figure = st.selectbox(
        "Quality figure",
        list(available),
        key=FIGURE_KEY,
        format_func=lambda f: QUALITY_FIGURES[f].label,
        help="; ".join(f"{QUALITY_FIGURES[f].label}: {QUALITY_FIGURES[f].help}" for f in available),
    )
    with guard("Drawing the frontier"):
        draw(figure, available[figure](), costs, known_names(store))


def draw(
    figure: str, quality: Mapping[str, float], costs=None, names: Mapping[str, str] | None = None
) -> None:
    """The frontier for `figure` given {model_id: value}; costs from the store unless given."""
    costs = latest_costs(RunStore(), session.include_busy()) if costs is None else costs
    rows = frontier_rows(figure, quality, costs, names)
    if not rows:
        st.info(
            "No model has a benchmark or a quality figure yet: run a benchmark (Benchmark page) and "
            "score or vote on the models.",
            icon=":material/info:",
        )
        return
    spec = QUALITY_FIGURES[figure]
    with_energy = energy_measured(costs)
    frame = pd.DataFrame([_row(r) for r in rows])
    if not with_energy:
        frame = frame.drop(columns=["j_per_token", "energy_front"])
    st.dataframe(
        frame,
        hide_index=True,
        key="frontier_table",
        placeholder="–",
        column_config={
            "model": st.column_config.TextColumn("Model"),
            "quality": st.column_config.NumberColumn(spec.label, format="%.4g", help=spec.help),
            "decode_tps": st.column_config.NumberColumn(
                "Decode tok/s",
                format="%.1f",
                help="Median over the benchmark's quiet runs (its busy runs when it has no quiet one)",
            ),
            "ttft_ms": st.column_config.NumberColumn(
                "TTFT (ms)",
                format="%.0f",
                help="Median over the benchmark's quiet runs (its busy runs when it has no quiet one)",
            ),
            "peak_rss_mib": st.column_config.NumberColumn(
                "Peak RSS (MiB)", format="%.0f", help="The highest over the benchmark's runs"
            ),
            "speed_front": st.column_config.CheckboxColumn(
                "Speed frontier", help="No model has both better quality and faster decoding"
            ),
            "memory_front": st.column_config.CheckboxColumn(
                "Memory frontier", help="No model has both better quality and less peak memory"
            ),
            "j_per_token": st.column_config.NumberColumn(
                "J/token",
                format="%.3g",
                help="Median of energy_j / tokens, over the runs the speed comes from",
            ),
            "energy_front": st.column_config.CheckboxColumn(
                "Energy frontier", help="No model has both better quality and fewer joules per token"
            ),
            "busy": st.column_config.TextColumn(
                "Busy runs",
                help="Busy runs among the runs the costs come from: all of them when there was no quiet one",
            ),
            "benchmark": st.column_config.TextColumn("From benchmark"),
            "note": st.column_config.TextColumn("Note", width="large"),
        },
    )
    counted = [r.cost for r in rows if r.cost is not None]
    share = busy_share(sum(c.busy_runs for c in counted), sum(c.runs for c in counted))
    st.caption(
        f"Costs: {share}"
        + (", included." if session.include_busy() else "; a model with busy runs only is costed from them.")
    )
    plotted = [r for r in rows if r.quality is not None and r.cost is not None]
    if not plotted:
        st.caption("No model has both a quality figure and a benchmark run: nothing to plot yet.")
        return
    quality_title = f"{spec.label} — {'higher' if spec.higher_is_better else 'lower'} is better"
    left, right = st.columns(2)
    speed = _points(plotted, lambda r: r.cost.decode_tps, lambda r: r.on_speed_front)
    memory = _points(
        plotted,
        lambda r: r.cost.peak_rss_bytes and r.cost.peak_rss_bytes / 2**20,
        lambda r: r.on_memory_front,
    )
    left.plotly_chart(
        charts.frontier(speed, "decode tok/s", quality_title, True, "Quality against decode speed"),
        key="frontier_speed",
    )
    right.plotly_chart(
        charts.frontier(memory, "peak RSS (MiB)", quality_title, False, "Quality against peak memory"),
        key="frontier_memory",
    )
    if with_energy:
        energy = _points(plotted, lambda r: r.cost.j_per_token, lambda r: r.on_energy_front)
        left.plotly_chart(
            charts.frontier(energy, "J/token", quality_title, False, "Quality against energy per token"),
            key="frontier_energy",
        )
    st.caption(
        "Costs from the latest benchmark that included each model, quiet runs only unless busy runs are "
        "included; a model with busy runs only is costed from them and drawn as a cross marked (busy). "
        "Coloured: the frontier (no other model is better on both axes); grey: beaten on both by another "
        "model." + ("" if with_energy else f" {NO_ENERGY_NOTE}")
    )


def _points(
    rows: list[FrontierRow], x: Callable[[FrontierRow], float | None], front: Callable[[FrontierRow], bool]
) -> pd.DataFrame:
    points = pd.DataFrame(
        [
            {"model": r.name, "x": x(r), "y": r.quality, "front": front(r), "busy": bool(r.cost.busy_runs)}
            for r in rows
        ],
        columns=["model", "x", "y", "front", "busy"],
    )
    return points.dropna(subset=["x"])


def _row(row: FrontierRow) -> dict:
    cost = row.cost
    return {
        "model": row.name,
        "quality": row.quality,
        "decode_tps": cost.decode_tps if cost else None,
        "ttft_ms": cost.ttft_s * 1000 if cost and cost.ttft_s is not None else None,
        "peak_rss_mib": cost.peak_rss_bytes / 2**20 if cost and cost.peak_rss_bytes is not None else None,
        "speed_front": row.on_speed_front,
        "memory_front": row.on_memory_front,
        "j_per_token": cost.j_per_token if cost else None,
        "energy_front": row.on_energy_front,
        "busy": f"{cost.busy_runs} of {cost.runs}" if cost else None,
        "benchmark": f"{cost.benchmark_id} · {local_time_text(cost.benchmark_created_at)}" if cost else None,
        "note": row.note,
    }
