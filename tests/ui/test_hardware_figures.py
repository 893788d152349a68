"""Where each run ran and what it used, on the dashboard: the Compare column's stats line and
summary table, and the sidebar's loaded models. Synthetic results: the figures are set by hand."""

import dataclasses
import os
import sys

import psutil
from streamlit.testing.v1 import AppTest

from llm_compare.core.config import ModelConfig
from llm_compare.core.models import ModelInfo, ModelMetadata, ModelType
from llm_compare.core.results import InferenceResult, InferenceStats
from llm_compare.services.engine.comparison import ModelRun
from llm_compare.services.engine.memory import MemoryCharge, process_file_bytes
from tests.support.synthetic_runs import cpu_run_stats, gpu_run_stats

GiB = 2**30


def gpu_run() -> ModelRun:
    stats = dataclasses.replace(gpu_run_stats(), decode_tps=80.0)
    return _run("on-gpu", stats, "CUDA: NVIDIA H100 80GB HBM3", ModelConfig(n_gpu_layers=-1))


def cpu_run(name: str = "on-cpu", device: str | None = "CPU, 2 threads, AVX2") -> ModelRun:
    stats = dataclasses.replace(cpu_run_stats(), ttft_s=0.08)
    return _run(name, stats, device, ModelConfig())


def _run(name: str, stats: InferenceStats, device: str | None, config: ModelConfig) -> ModelRun:
    model = ModelInfo(f"id-{name}", name, ModelType.GGUF, f"/models/{name}.gguf", GiB, ModelMetadata())
    result = InferenceResult(model.id, "text", stats.finish_reason, None, stats, device=device)
    return ModelRun(model, config, status="done", result=result)


def columns_and_summary(runs):
    import streamlit as st

    from llm_compare.ui import compare_view

    for run in runs:
        compare_view._draw_footer(st.empty(), run)
    compare_view._summary_table(runs)


def draw(*runs: ModelRun) -> AppTest:
    at = AppTest.from_function(columns_and_summary, args=(list(runs),), default_timeout=30).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_a_gpu_run_shows_where_it_ran_its_memory_split_gpu_layers_and_energy():
    at = draw(gpu_run(), cpu_run())
    gpu_line, cpu_line = (c.value for c in at.caption if "TTFT" in c.value)
    assert "peak RSS 7.4 GiB (2.4 GiB mapped file)" in gpu_line
    assert "GPU memory 3.1 GiB" in gpu_line and "GPU layers 33/33" in gpu_line
    assert "energy 12.5 J (0.379 J/token)" in gpu_line
    assert "on CUDA" in gpu_line and "NVIDIA H100 80GB HBM3" in gpu_line
    assert "on CPU, 2 threads, AVX2" in cpu_line
    assert "GPU" not in cpu_line and "energy" not in cpu_line and "mapped file" not in cpu_line

    table = at.dataframe[0].value
    assert list(table["device"]) == ["CUDA: NVIDIA H100 80GB HBM3", "CPU, 2 threads, AVX2"]
    assert round(table["peak_file_mib"][0]) == round(2.4 * 1024)
    assert round(table["peak_vram_mib"][0]) == round(3.1 * 1024)
    assert table["j_per_token"][0] == 0.379


def test_cpu_runs_without_counters_show_no_empty_columns_nor_zeros():
    at = draw(cpu_run("a", device=None), cpu_run("b", device=None))
    table = at.dataframe[0].value
    for column in ("device", "peak_file_mib", "peak_vram_mib", "energy_j", "j_per_token"):
        assert column not in table.columns
    for line in (c.value for c in at.caption if "TTFT" in c.value):
        assert "GPU" not in line and "energy" not in line and " on " not in line


class EngineWithOneWorker:
    """The sidebar's view of the engine: this test process stands in for a loaded model's worker."""

    busy = False

    def memory_in_use(self):
        me = os.getpid()
        return [
            MemoryCharge("tiny-llama", me, psutil.Process(me).memory_info().rss, 0, external=False),
            MemoryCharge("exited", 1, 0, 0, external=False),  # a worker that has exited reads 0
            MemoryCharge("served", me, 10 * GiB, 10 * GiB, external=True),  # listed by the serve panel
        ]


def loaded_models():
    from llm_compare.ui import layout

    layout._loaded_models()


def test_the_sidebar_shows_each_loaded_model_with_its_mapped_file_part(monkeypatch):
    from llm_compare.ui import session

    monkeypatch.setattr(session, "engine", EngineWithOneWorker)
    at = AppTest.from_function(loaded_models, default_timeout=30).run()
    assert not at.exception, [e.value for e in at.exception]
    lines = [m.value for m in at.markdown]
    assert len(lines) == 1 and lines[0].startswith("tiny-llama · ")
    if sys.platform == "linux":  # psutil's `shared` (RssFile + RssShmem) exists there only
        assert "mapped file)" in lines[0]


def test_a_process_mapped_file_part_is_read_from_outside_or_none():
    part = process_file_bytes(os.getpid())
    if sys.platform == "linux":
        assert 0 < part < psutil.Process().memory_info().rss
    assert process_file_bytes(None) is None
    assert process_file_bytes(2**22 + 12345) is None  # no such process


def test_the_benchmark_table_adds_device_and_measured_figures_per_model():
    from llm_compare.services.bench.aggregate import CountedRun
    from llm_compare.services.bench.report import ModelLabel
    from llm_compare.services.bench.results import benchmark_results
    from llm_compare.ui.bench_view import TABLE_FIGURES, _summary_table

    figures = {"decode_tps": 80.0, "peak_rss_bytes": 2**30, "energy_j": 6.0, "j_per_token": 0.2}
    runs = [CountedRun("g", "p", r, figures) for r in range(3)]
    runs += [CountedRun("c", "p", r, {"decode_tps": 40.0, "peak_rss_bytes": 2**29}) for r in range(3)]
    labels = {"g": ModelLabel("gpu", "gguf", "CUDA: H100"), "c": ModelLabel("cpu", "gguf", None)}
    table = _summary_table(benchmark_results(runs, labels, lambda a, b: True), labels, figures=TABLE_FIGURES)
    by_model = table.set_index("model")
    assert by_model.loc["gpu", "device"] == "CUDA: H100" and by_model.loc["gpu", "J/token"] == 0.2
    assert by_model.loc["cpu"].isna()[["device", "J/token", "energy J"]].all()  # empty, not zero
    assert "peak GPU MiB" not in table.columns  # measured by no run

    cpu_only = {"c": labels["c"]}
    table = _summary_table(
        benchmark_results(runs[3:], cpu_only, lambda a, b: True), cpu_only, figures=TABLE_FIGURES
    )
    assert not {"device", "J/token", "energy J", "peak mapped file MiB"} & set(table.columns)


def frontier(costs):
    from llm_compare.ui import frontier_view

    frontier_view.draw("bits_per_byte", {m: 2.0 - i / 10 for i, m in enumerate(costs)}, costs)


def test_the_frontier_draws_an_energy_axis_only_where_energy_was_measured():
    from llm_compare.services.quality.frontier import NO_ENERGY_NOTE, ModelCost

    def cost(model_id, j_per_token):
        return ModelCost(model_id, model_id, "b", "2026-01-01T00:00", 5, 100.0, 0.1, 2**30, None, j_per_token)

    measured = AppTest.from_function(frontier, args=({"a": cost("a", 0.2), "b": cost("b", 0.5)},)).run()
    assert not measured.exception
    assert "j_per_token" in measured.dataframe[0].value.columns
    assert len(measured.get("plotly_chart")) == 3
    assert not any(NO_ENERGY_NOTE in c.value for c in measured.caption)

    cpu_only = AppTest.from_function(frontier, args=({"a": cost("a", None), "b": cost("b", None)},)).run()
    assert not cpu_only.exception
    assert "j_per_token" not in cpu_only.dataframe[0].value.columns
    assert len(cpu_only.get("plotly_chart")) == 2
    assert any(NO_ENERGY_NOTE in c.value for c in cpu_only.caption)
