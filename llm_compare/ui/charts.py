"""Plotly figures of stored runs: speed, latency and memory per model."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative

PALETTE = qualitative.Safe + qualitative.Vivid


def model_colors(models: list[str]) -> dict[str, str]:
    """One colour per model name, the same in every chart."""
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(sorted(models))}


def per_model(
    frame: pd.DataFrame, column: str, title: str, unit: str, colors: dict[str, str], reduce: str = "median"
) -> go.Figure:
    """A bar per model (the median, or the max for `reduce="max"`, of its quiet runs) with each
    run as a dot, busy runs (metrics.md) as crosses."""
    data = frame[["model", column, "busy"]].dropna(subset=[column])
    busy = data["busy"].eq(True)
    summary = data[~busy].groupby("model", sort=True)[column].agg(reduce)
    figure = go.Figure()
    figure.add_bar(
        x=summary.index,
        y=summary.values,
        marker_color=[colors[m] for m in summary.index],
        opacity=0.55,
        name=reduce,
        hovertemplate=f"%{{x}}<br>{reduce} %{{y:.3~g}} {unit}<extra></extra>",
    )
    figure.add_scatter(
        x=data["model"],
        y=data[column],
        mode="markers",
        name="runs",
        marker={
            "color": [colors[m] for m in data["model"]],
            "size": 8,
            "symbol": ["x" if b else "circle" for b in busy],
            "line": {"width": 1, "color": "white"},
        },
        customdata=["busy run" if b else "run" for b in busy],
        hovertemplate=f"%{{x}}<br>%{{y:.3~g}} {unit}<extra>%{{customdata}}</extra>",
    )
    return _layout(figure, title, unit)


def speed_vs_latency(frame: pd.DataFrame, colors: dict[str, str]) -> go.Figure:
    data = frame.dropna(subset=["decode_tps", "ttft_ms"])
    figure = go.Figure()
    for model, runs in data.groupby("model", sort=True):
        figure.add_scatter(
            x=runs["ttft_ms"],
            y=runs["decode_tps"],
            mode="markers",
            name=model,
            marker={"color": colors[model], "size": 10, "line": {"width": 1, "color": "white"}},
            customdata=runs[["created_at", "completion_tokens"]].astype(str).values,
            hovertemplate="%{fullData.name}<br>TTFT %{x:.0f} ms · %{y:.1f} tok/s<br>"
            "%{customdata[1]} tokens · %{customdata[0]}<extra></extra>",
        )
    figure = _layout(figure, "Decode speed against time to first token", "tokens/s")
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
