"""Plotly figures of stored runs: speed, latency and memory per model."""

from __future__ import annotations

import html

import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative

PALETTE = qualitative.Safe + qualitative.Vivid


def label(name: object) -> str:
    """A model name as Plotly shows it: Plotly reads tags such as <b> or <a> in labels, and a
    model's name comes from a file name, so its < > & are written as entities."""
    return html.escape(str(name), quote=False)


def model_colors(models: list[str]) -> dict[str, str]:
    """One colour per model name, the same in every chart."""
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(sorted(models))}


BUSY_PATTERN = "/"  # hatching: a bar or a median made of busy runs (docs/metrics.md)
BUSY_SYMBOL = "x"  # a busy run's marker


def busy_of(frame: pd.DataFrame) -> pd.Series:
    """Which rows are busy runs (column `busy`; none without it)."""
    return frame["busy"].eq(True) if "busy" in frame else pd.Series(False, index=frame.index)


def per_model(
    frame: pd.DataFrame,
    column: str,
    title: str,
    unit: str,
    colors: dict[str, str],
    reduce: str = "median",
    include_busy: bool = False,
) -> go.Figure:
    """A bar per model (the median, or the max for `reduce="max"`) with each run as a dot, busy runs
    (docs/metrics.md) as crosses. A bar is of the model's quiet runs unless busy ones are included;
    a model with busy runs only gets a hatched bar of those, never none."""
    data = frame[["model", column, "busy"]].dropna(subset=[column])
    busy = data["busy"].eq(True)
    quiet_models = set(data.loc[~busy, "model"])
    used = data if include_busy else data[~busy | ~data["model"].isin(quiet_models)]
    from_busy = used.groupby("model", sort=True)["busy"].agg(lambda b: bool(b.eq(True).any()))
    summary = used.groupby("model", sort=True)[column].agg(reduce)
    figure = go.Figure()
    for hatched in (False, True):
        bars = summary[from_busy.reindex(summary.index).eq(hatched)]
        if bars.empty:
            continue
        what = f"{reduce} with busy runs" if hatched else reduce
        figure.add_bar(
            x=bars.index.map(label),
            y=bars.values,
            marker_color=[colors[m] for m in bars.index],
            marker_pattern_shape=BUSY_PATTERN if hatched else "",
            opacity=0.55,
            name=what,
            hovertemplate=f"%{{x}}<br>{what} %{{y:.3~g}} {unit}<extra></extra>",
        )
    # One trace per model and kind of run, each of one colour and symbol: per-point lists make
    # Plotly validate every point, which costs seconds with thousands of runs.
    for (model, is_busy), runs in data.groupby(["model", busy], sort=True):
        figure.add_scatter(
            x=[label(model)] * len(runs),
            y=runs[column].to_numpy(),
            mode="markers",
            name="busy runs" if is_busy else "runs",
            marker={
                "color": colors[model],
                "size": 8,
                "symbol": BUSY_SYMBOL if is_busy else "circle",
                "line": {"width": 1, "color": "white"},
            },
            hovertemplate=f"%{{x}}<br>%{{y:.3~g}} {unit}<extra>{'busy run' if is_busy else 'run'}</extra>",
        )
    figure.update_layout(barmode="overlay")
    return _layout(figure, title, unit)


def speed_vs_latency(frame: pd.DataFrame, colors: dict[str, str]) -> go.Figure:
    """Each stored run: TTFT against decode speed."""
    return _speed_scatter(
        frame,
        colors,
        frame[["created_at", "completion_tokens"]].astype(str),
        "%{customdata[1]} tokens · %{customdata[0]}",
        "Decode speed against time to first token",
    )


def _speed_scatter(
    frame: pd.DataFrame, colors: dict[str, str], details: pd.DataFrame, detail_line: str, title: str
) -> go.Figure:
    """A dot per run, TTFT against decode speed, one colour per model; `details` (aligned with
    `frame`) feeds `detail_line` of the hover text."""
    keep = frame[["decode_tps", "ttft_ms"]].notna().all(axis=1)
    data, details = frame[keep], details[keep]
    busy = busy_of(data)
    figure = go.Figure()
    for (model, is_busy), runs in data.groupby(["model", busy], sort=True):
        figure.add_scatter(
            x=runs["ttft_ms"],
            y=runs["decode_tps"],
            mode="markers",
            name=label(model) + (" (busy)" if is_busy else ""),
            marker={
                "color": colors[model],
                "size": 9,
                "symbol": BUSY_SYMBOL if is_busy else "circle",
                "line": {"width": 1, "color": "white"},
            },
            customdata=details.loc[runs.index].values,
            hovertemplate=(
                f"%{{fullData.name}}<br>TTFT %{{x:.1f}} ms · %{{y:.1f}} tok/s<br>{detail_line}<extra></extra>"
            ),
        )
    figure = _layout(figure, title, "tokens/s")
    figure.update_xaxes(title_text="TTFT (ms) — lower is better")
    figure.update_yaxes(title_text="decode tokens/s — higher is better")
    figure.update_layout(showlegend=True, legend={"orientation": "h", "y": -0.25})
    return figure


def _layout(figure: go.Figure, title: str, unit: str) -> go.Figure:
    figure.update_layout(
        title={"text": title, "font": {"size": 15}},
        showlegend=False,
        height=340,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        bargap=0.45,
    )
    figure.update_yaxes(title_text=unit, rangemode="tozero")
    return figure


def median_with_spread(
    runs: pd.DataFrame,
    spread: pd.DataFrame,
    column: str,
    title: str,
    unit: str,
    colors: dict[str, str],
    from_busy: bool = False,
) -> go.Figure:
    """Per model: the median as a diamond with an error bar over its spread (p10–p90, or
    min–max under 10 runs), and every run as a dot beside it, busy runs as crosses. Medians
    made of busy runs (`from_busy`) are hollow diamonds, and the title says so."""
    figure = go.Figure()
    spread = spread.sort_values("model")
    figure.add_scatter(
        x=spread["model"].map(label),
        y=spread["median"],
        mode="markers",
        name="median of busy runs" if from_busy else "median",
        marker={
            "symbol": "diamond-open" if from_busy else "diamond",
            "size": 13,
            "line": {"width": 3} if from_busy else {},
            "color": [colors[m] for m in spread["model"]],
        },
        error_y={
            "type": "data",
            "symmetric": False,
            "array": spread["high"] - spread["median"],
            "arrayminus": spread["median"] - spread["low"],
            "thickness": 2,
            "width": 8,
        },
        customdata=spread[["low", "high", "spread", "n"]].values,
        hovertemplate=f"%{{x}}<br>median %{{y:.3~g}} {unit}<br>%{{customdata[2]}} %{{customdata[0]:.3~g}}"
        f"–%{{customdata[1]:.3~g}} · n %{{customdata[3]}}<extra></extra>",
    )
    data = runs.dropna(subset=[column])
    busy = busy_of(data)
    for is_busy, group in data.groupby(busy, sort=True):
        figure.add_box(
            x=group["model"].map(label),
            y=group[column],
            name="busy runs" if is_busy else "runs",
            boxpoints="all",
            jitter=0.4,
            pointpos=0,
            fillcolor="rgba(0,0,0,0)",
            line={"color": "rgba(0,0,0,0)"},
            marker={
                "color": "gray",
                "size": 7 if is_busy else 5,
                "opacity": 0.6,
                "symbol": BUSY_SYMBOL if is_busy else "circle",
            },
            hovertemplate=f"%{{x}}<br>%{{y:.3~g}} {unit}<extra>{'busy run' if is_busy else 'run'}</extra>",
        )
    figure.update_layout(boxmode="overlay")
    return _layout(figure, title + (" (from busy runs)" if from_busy else ""), unit)


def box_per_model(
    runs: pd.DataFrame, column: str, title: str, unit: str, colors: dict[str, str]
) -> go.Figure:
    figure = go.Figure()
    for model, data in runs.dropna(subset=[column]).groupby("model", sort=True):
        figure.add_box(
            y=data[column],
            name=label(model),
            boxpoints="all",
            marker_color=colors[model],
            hovertemplate=f"%{{fullData.name}}<br>%{{y:.3~g}} {unit}<extra></extra>",
        )
        busy = data[busy_of(data)]
        if not busy.empty:  # drawn again over the box's own points, as crosses
            figure.add_scatter(
                x=[label(model)] * len(busy),
                y=busy[column],
                mode="markers",
                name="busy runs",
                marker={"color": "black", "size": 7, "symbol": BUSY_SYMBOL},
                hovertemplate=f"%{{x}}<br>%{{y:.3~g}} {unit}<extra>busy run</extra>",
            )
    return _layout(figure, title, unit)


def pass_rate(rates: pd.DataFrame, colors: dict[str, str], from_busy: bool = False) -> go.Figure:
    """Share of checks passed per model, with its Wilson 95 % interval; hatched `from_busy`."""
    rates = rates.sort_values("model")
    figure = go.Figure()
    figure.add_bar(
        x=rates["model"].map(label),
        y=rates["rate"] * 100,
        marker_color=[colors[m] for m in rates["model"]],
        marker_pattern_shape=BUSY_PATTERN if from_busy else "",
        opacity=0.7,
        error_y={
            "type": "data",
            "symmetric": False,
            "array": (rates["high"] - rates["rate"]) * 100,
            "arrayminus": (rates["rate"] - rates["low"]) * 100,
        },
        customdata=rates[["passed", "total"]].values,
        hovertemplate="%{x}<br>%{y:.0f} % (%{customdata[0]} of %{customdata[1]} checks)<extra></extra>",
    )
    figure = _layout(
        figure, "Checks passed (95 % interval)" + (" (from busy runs)" if from_busy else ""), "%"
    )
    figure.update_yaxes(range=[0, 100])
    return figure


def runs_scatter(runs: pd.DataFrame, colors: dict[str, str]) -> go.Figure:
    """Each counted run of a benchmark: TTFT against decode speed."""
    details = runs.assign(prompt_id=runs["prompt_id"].map(label))[["prompt_id", "repeat"]]
    return _speed_scatter(
        runs,
        colors,
        details,
        "prompt %{customdata[0]} · repetition %{customdata[1]}",
        "Decode speed against time to first token, per run",
    )


GREY = "#b0b0b0"


def frontier(points: pd.DataFrame, x_title: str, y_title: str, higher_x: bool, title: str) -> go.Figure:
    """Models as dots, cost (x) against quality (y); those on the Pareto front (column `front`)
    in colour and joined by a line, those beaten on both axes greyed. `points` has columns
    model, x, y, front, and optionally busy: a model whose costs come from busy runs is a cross
    labelled "(busy)"."""
    figure = go.Figure()
    front = points[points["front"]].sort_values("x", ascending=not higher_x)
    figure.add_scatter(
        x=front["x"],
        y=front["y"],
        mode="lines",
        line={"color": PALETTE[0], "dash": "dot"},
        name="frontier",
        hoverinfo="skip",
    )
    for on_front, group in points.groupby("front"):
        figure.add_scatter(
            x=group["x"],
            y=group["y"],
            mode="markers+text",
            text=group["model"].map(label) + busy_of(group).map({True: " (busy)", False: ""}),
            textposition="top center",
            name="on the frontier" if on_front else "beaten on both axes",
            marker={
                "color": PALETTE[0] if on_front else GREY,
                "symbol": [BUSY_SYMBOL if b else "circle" for b in busy_of(group)],
                "size": 11,
                "line": {"width": 1, "color": "white"},
            },
            textfont={"color": None if on_front else GREY},
            hovertemplate=f"%{{text}}<br>{x_title} %{{x:.4~g}}<br>{y_title} %{{y:.4~g}}<extra></extra>",
        )
    figure = _layout(figure, title, y_title)
    figure.update_xaxes(title_text=f"{x_title} — {'higher' if higher_x else 'lower'} is better")
    figure.update_yaxes(rangemode="normal")
    figure.update_layout(showlegend=True, legend={"orientation": "h", "y": -0.25})
    return figure
