"""Charts show model names as written: Plotly reads tags in labels, so names are escaped."""

import html

import pandas as pd

from llm_compare.ui import charts

NAME = '<b>big</b><a href="x">m</a>&.gguf'


def test_model_names_reach_plotly_as_text_not_tags():
    frame = pd.DataFrame(
        {
            "model": [NAME, "plain"],
            "decode_tps": [3.0, 4.0],
            "ttft_ms": [1.0, 2.0],
            "busy": [False, False],
            "created_at": ["t1", "t2"],
            "completion_tokens": [5, 6],
        }
    )
    colors = charts.model_colors(list(frame["model"]))
    bars = charts.per_model(frame, "decode_tps", "Decode", "tokens/s", colors)
    scatter = charts.speed_vs_latency(frame, colors)
    shown = [str(x) for trace in bars.data for x in trace.x] + [trace.name for trace in scatter.data]
    assert all("<" not in text for text in shown)
    assert NAME in [html.unescape(text) for text in shown]


def test_a_model_with_busy_runs_only_gets_a_hatched_bar_and_included_busy_runs_join_the_bars():
    frame = pd.DataFrame(
        {
            "model": ["quiet", "quiet", "mixed", "mixed", "busy", "busy"],
            "decode_tps": [10.0, 12.0, 20.0, 80.0, 30.0, 34.0],
            "busy": [False, False, False, True, True, True],
        }
    )
    colors = charts.model_colors(list(frame["model"].unique()))
    bars = {
        trace.name: dict(zip(trace.x, trace.y))
        for trace in charts.per_model(frame, "decode_tps", "Decode", "tokens/s", colors).data
        if trace.type == "bar"
    }
    assert bars == {"median": {"mixed": 20.0, "quiet": 11.0}, "median with busy runs": {"busy": 32.0}}
    figure = charts.per_model(frame, "decode_tps", "Decode", "tokens/s", colors, include_busy=True)
    hatched = next(t for t in figure.data if t.type == "bar" and t.marker.pattern.shape == "/")
    assert dict(zip(hatched.x, hatched.y)) == {"busy": 32.0, "mixed": 50.0}
    crosses = [t for t in figure.data if t.type == "scatter" and t.marker.symbol == "x"]
    assert sorted(t.x[0] for t in crosses) == ["busy", "mixed"]
