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
