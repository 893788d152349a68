"""A busy machine must not mean an empty page (docs/metrics.md, busy runs): a benchmark whose runs
were all busy shows figures labelled "from busy runs", its charts mark the busy runs, every table
caption gives the share of busy runs, and one "Include busy runs" switch serves every page."""

import json

from dashboard_testing import no_exception

from llm_compare.services.store.run_store import RunStore
from llm_compare.ui import session
from tests.support.bench_records import store_busy_benchmark


def chart_specs(at) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def open_busy_benchmark(make_app, empty_dir):
    # The dashboard process keeps its last benchmark (st.cache_resource): an earlier test's would
    # be drawn too. A fresh dashboard process has none.
    session._benchmarks.clear()
    store_busy_benchmark(RunStore())
    at = make_app(empty_dir)
    at.switch_page("pages/benchmark.py").run()
    at.selectbox(key="bench_open").set_value("busybench").run()
    no_exception(at)
    return at


def test_an_all_busy_benchmark_shows_its_figures_labelled_from_busy_runs(make_app, empty_dir):
    at = open_busy_benchmark(make_app, empty_dir)
    assert any("from busy runs" in w.value for w in at.warning)
    assert all(m.value.startswith("- From busy runs: ") for m in at.markdown if m.value.startswith("- "))
    assert any(m.value.startswith("- From busy runs: ") for m in at.markdown)  # a verdict, labelled
    table = at.dataframe[1].value  # after the past benchmarks
    assert list(table["model"]) == ["name-m1", "name-m2"] and list(table["n"]) == [16, 16]
    assert table["decode tok/s"].notna().all()
    captions = [c.value for c in at.caption]
    assert any("Figures from busy runs: 32 of 32 runs busy (100 %)" in c for c in captions)

    specs = chart_specs(at)
    titles = [spec["layout"]["title"]["text"] for spec in specs]
    assert (
        "Decode speed (from busy runs)" in titles
        and "Checks passed (95 % interval) (from busy runs)" in titles
    )
    decode = specs[titles.index("Decode speed (from busy runs)")]["data"]
    assert decode[0]["marker"]["symbol"] == "diamond-open"  # the medians: hollow
    assert any(t["name"] == "busy runs" and t["marker"]["symbol"] == "x" for t in decode)
    checks = specs[titles.index("Checks passed (95 % interval) (from busy runs)")]["data"]
    assert checks[0]["marker"]["pattern"]["shape"] == "/"  # hatched


def test_the_table_fits_the_page_and_an_interval_needs_five_runs(make_app, empty_dir):
    at = open_busy_benchmark(make_app, empty_dir)
    table = at.dataframe[1].value  # after the past benchmarks
    assert len(table.columns) <= 11  # the headline figures; every figure is under the expander
    every_figure = at.dataframe[2].value
    assert "decode tok/s 95 % CI" in every_figure.columns  # 16 runs per model
    per_prompt = at.dataframe[3].value
    assert len(per_prompt) == 8 and list(per_prompt["n"].unique()) == [4]
    assert not [c for c in per_prompt.columns if "95 % CI" in c]  # 4 runs: only the values' min–max
    assert "decode tok/s min–max" in per_prompt.columns


def test_one_include_busy_switch_serves_every_page(make_app, empty_dir):
    at = open_busy_benchmark(make_app, empty_dir)
    assert at.toggle(key="bench_include_busy").value is False
    at.toggle(key="bench_include_busy").set_value(True).run()
    no_exception(at)
    assert any("32 of 32 runs busy (100 %), included." in c.value for c in at.caption)
    assert not any("from busy runs" in w.value for w in at.warning)  # included: not a fallback

    at.switch_page("pages/leaderboard.py").run()
    no_exception(at)
    assert at.toggle(key="leaderboard_include_busy").value is True
    at.switch_page("pages/results.py").run()
    no_exception(at)
    assert at.toggle(key="results_include_busy").value is True
    at.toggle(key="results_include_busy").set_value(False).run()
    at.switch_page("pages/benchmark.py").run()
    no_exception(at)
    assert at.toggle(key="bench_include_busy").value is False


def test_the_leaderboard_draws_the_frontier_of_busy_only_models_marked(make_app, empty_dir):
    store_busy_benchmark(RunStore())
    at = make_app(empty_dir)
    at.switch_page("pages/leaderboard.py").run()
    no_exception(at)
    assert at.selectbox(key="frontier_figure").value == "check_pass_rate"  # the figure with values
    table = at.dataframe[-1].value
    assert list(table["model"]) == ["name-m1", "name-m2"] and list(table["busy"]) == ["16 of 16"] * 2
    assert all(note.startswith("from busy runs") for note in table["note"])
    assert any("Costs: 32 of 32 runs busy (100 %)" in c.value for c in at.caption)
    specs = chart_specs(at)
    assert len(specs) == 2
    for spec in specs:
        points = [t for t in spec["data"] if t["mode"] == "markers+text"]
        assert points and all(set(t["marker"]["symbol"]) == {"x"} for t in points)
        assert all(text.endswith(" (busy)") for t in points for text in t["text"])


def test_results_bars_of_busy_runs_only_are_drawn_hatched(make_app, empty_dir):
    store_busy_benchmark(RunStore())
    at = make_app(empty_dir)
    at.switch_page("pages/results.py").run()
    no_exception(at)
    specs = chart_specs(at)
    decode = next(s for s in specs if s["layout"]["title"]["text"] == "Decode speed per model")
    bars = [t for t in decode["data"] if t["type"] == "bar"]
    assert len(bars) == 1 and len(bars[0]["y"]) == 2 and bars[0]["marker"]["pattern"]["shape"] == "/"
    assert any("32 of 32 runs busy (100 %)" in c.value for c in at.caption)
    assert any(c.value.startswith("This page: ") and "runs busy (100 %)" in c.value for c in at.caption)
