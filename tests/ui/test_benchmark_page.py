"""The Benchmark page: a small benchmark of two tiny models from the form to the downloads."""

import csv
import io
import json
import time

import pytest
from dashboard_testing import RUN_TIMEOUT_S, ids_by_name, no_exception, quick_config, rendered, select
from streamlit.delta_generator import DeltaGenerator

from llm_compare.services.discovery.config_manager import ConfigManager
from llm_compare.services.discovery.model_manager import ModelManager
from llm_compare.services.store.run_store import RunStore
from llm_compare.ui import session

MODELS = ("tiny-llama", "tiny-llama-f32")


def wait_until_finished(at):
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while not session.benchmark().finished:
        assert time.monotonic() < deadline, "the benchmark did not finish"
        time.sleep(0.5)
    at.run()


def run_from_the_form(at, repeats, warmups, max_tokens):
    """Run the selected models on one typed prompt from the Benchmark page's form."""
    at.switch_page("pages/benchmark.py").run()
    no_exception(at)
    at.radio(key="bench_suite").set_value("typed").run()
    at.text_area(key="bench_prompt").input("def main():").run()
    at.number_input(key="bench_repeats").set_value(repeats).run()
    at.number_input(key="bench_warmup").set_value(warmups).run()
    at.number_input(key="bench_max_tokens").set_value(max_tokens).run()
    at.button(key="bench_run").click().run()
    no_exception(at)
    assert not at.error, [e.value for e in at.error]


@pytest.mark.slow
def test_a_benchmark_from_the_form_to_verdicts_plots_and_downloads(make_app, tiny_dir, monkeypatch):
    downloads = {}
    original = DeltaGenerator.download_button

    def recording(self, label, data, *args, **kwargs):
        downloads[label] = data() if callable(data) else data
        return original(self, label, data, *args, **kwargs)

    monkeypatch.setattr(DeltaGenerator, "download_button", recording)
    for model in ModelManager([tiny_dir]).scan():
        ConfigManager().save(model, quick_config())
    at = select(make_app(tiny_dir), *MODELS)
    run_from_the_form(at, repeats=5, warmups=1, max_tokens=6)
    wait_until_finished(at)
    no_exception(at)

    progress = session.benchmark().progress()
    assert (progress.done, progress.total) == (12, 12)  # 2 warm-ups + 2 models x 5 repetitions
    assert (progress.runs_done, progress.runs_planned) == (10, 10)  # as "Past benchmarks" counts
    # This shared machine may be busy: the figures of busy runs are shown only when asked for.
    at.toggle(key="bench_include_busy").set_value(True).run()
    frames = [d.value for d in at.dataframe]
    table = next(f for f in frames if "n" in f and "prompt" not in f)
    per_prompt = next(f for f in frames if "prompt" in f)
    assert sorted(table["model"]) == sorted(MODELS) and list(table["n"]) == [5, 5]
    assert list(per_prompt["prompt"]) == ["prompt", "prompt"]
    verdicts = [m.value for m in at.markdown if m.value.startswith("- ")]
    assert len(verdicts) == 2  # decode and TTFT for the one pair
    assert len(at.get("plotly_chart")) == 5  # no checks, no pass-rate chart

    runs = list(csv.DictReader(io.StringIO(downloads["Runs CSV"])))
    assert len(runs) == 10 and {r["repeat"] for r in runs} == {"0", "1", "2", "3", "4"}
    for column in (
        "benchmark_id",
        "model_id",
        "model_name",
        "backend",
        "prompt_id",
        "repeat",
        "checks_passed",
        "checks_total",
        "busy",
        "decode_tps",
        "decode_bytes_per_s",
        "ttft_s",
    ):
        assert column in runs[0], column
    assert {r["completion_tokens"] for r in runs} == {"6"}
    aggregate = list(csv.DictReader(io.StringIO(downloads["Aggregate CSV"])))
    decode = [r for r in aggregate if r["figure"] == "decode_tps" and r["prompt_id"] == ""]
    assert sorted(r["model_name"] for r in decode) == sorted(MODELS) and {r["n"] for r in decode} == {"5"}
    document = json.loads(downloads["JSON"])
    assert len(document["runs"]) == 10 and document["repeats"] == 5
    assert "| model | backend |" in downloads["Markdown"]
    # Every counted run is stored, under the benchmark's id.
    stored = [r for r in RunStore().list() if r.comparison_id == session.benchmark().benchmark_id]
    assert len(stored) == 10
    past = next(d.value for d in at.dataframe if "status" in d.value)  # listed, to open again later
    assert list(past["status"]) == ["complete"] and list(past["runs"]) == ["10/10"]


def test_a_crashed_benchmark_is_listed_as_incomplete_and_resumes_from_the_page(make_app, tiny_dir):
    import sqlite3

    from llm_compare.services.bench.runner import BenchmarkSpec
    from llm_compare.services.bench.suites import builtin_suite

    models = ModelManager([tiny_dir]).scan()
    for model in models:
        ConfigManager().save(model, quick_config())
    gguf = next(m for m in models if m.name == "tiny-llama-f32")
    suite = builtin_suite()
    spec = BenchmarkSpec(
        (gguf.id,), type(suite)("two", suite.prompts[:2]), repeats=2, warmups=0, max_tokens=4
    )
    store = RunStore()
    store.benchmark_started("crashed", spec.to_dict(), "interleaved")
    with sqlite3.connect(store.path) as db:  # its process is gone
        db.execute("UPDATE benchmarks SET pid = 999999999 WHERE benchmark_id = 'crashed'")
    at = make_app(tiny_dir)
    at.switch_page("pages/benchmark.py").run()
    no_exception(at)
    past = next(d.value for d in at.dataframe if "status" in d.value)
    assert list(past["status"]) == ["incomplete"] and list(past["runs"]) == ["0/4"]
    at.selectbox(key="bench_open").set_value("crashed").run()
    at.button(key="bench_resume").click().run()
    no_exception(at)
    assert not at.error, [e.value for e in at.error]
    wait_until_finished(at)
    assert session.benchmark().benchmark_id == "crashed"
    runs = store.benchmark_runs("crashed")
    assert sorted((r.bench["prompt_id"], r.bench["repeat"]) for r in runs) == sorted(
        (p.id, r) for p in suite.prompts[:2] for r in range(2)
    )
    assert store.benchmark("crashed").status == "complete"


def test_a_resumed_benchmarks_table_counts_the_runs_made_before_the_resume(make_app, tiny_dir):
    """After Resume, the live table holds every run of the benchmark, not only the resumed ones."""
    import sqlite3

    from llm_compare.services.bench.persistence import record_status, save_bench_run
    from llm_compare.services.bench.runner import BenchmarkRunner, BenchmarkSpec
    from llm_compare.services.bench.suites import builtin_suite
    from llm_compare.services.engine.engine import InferenceEngine

    models = ModelManager([tiny_dir]).scan()
    for model in models:
        ConfigManager().save(model, quick_config())
    gguf = next(m for m in models if m.name == "tiny-llama-f32")
    suite = builtin_suite()
    first, second = suite.prompts[:2]
    spec = BenchmarkSpec((gguf.id,), type(suite)("two", (first, second)), repeats=2, warmups=0, max_tokens=4)
    store, engine = RunStore(), InferenceEngine()
    try:  # the first half: the first prompt's two repetitions, then the process "crashes"
        BenchmarkRunner(
            engine,
            spec,
            {gguf.id: gguf},
            {gguf.id: quick_config()},
            save=lambda outcome: save_bench_run(store, outcome),
            on_status=record_status(store),
            done=[(gguf.id, second.id, 0), (gguf.id, second.id, 1)],
            benchmark_id="half",
        ).run()
    finally:
        engine.shutdown()
    with sqlite3.connect(store.path) as db:
        db.execute("UPDATE benchmarks SET status = 'running', pid = 999999999 WHERE benchmark_id = 'half'")
    assert len(store.benchmark_runs("half")) == 2
    at = make_app(tiny_dir)
    at.switch_page("pages/benchmark.py").run()
    at.selectbox(key="bench_open").set_value("half").run()
    at.button(key="bench_resume").click().run()
    wait_until_finished(at)
    no_exception(at)
    at.toggle(key="bench_include_busy").set_value(True).run()  # the machine may be busy
    table = next(d.value for d in at.dataframe if "n" in d.value and "prompt" not in d.value)
    assert list(table["n"]) == [4]  # 2 stored before the resume + 2 made by it
    progress = session.benchmark().progress()
    assert (progress.runs_done, progress.runs_planned) == (4, 4)  # the runs before the resume count


def _stopped_after_first_run(spec, models, engine):
    """Run `spec` as the CLI does (each run stored the moment it ends) and stop it once its first
    run is stored, as Stop or Ctrl-C would: its status is "stopped", something is left to run."""
    from llm_compare.services.bench.persistence import record_status, save_bench_run
    from llm_compare.services.bench.runner import BenchmarkRunner

    store = RunStore()

    def save_then_stop(outcome):
        note = save_bench_run(store, outcome)
        runner.cancel()
        return note

    runner = BenchmarkRunner(
        engine,
        spec,
        {m.id: m for m in models},
        {m.id: quick_config() for m in models},
        save=save_then_stop,
        on_status=record_status(store),
    )
    runner.run()
    return runner.benchmark_id


@pytest.mark.slow
def test_a_benchmark_of_an_unsaved_endpoint_model_started_by_the_cli_resumes_from_the_page(
    make_app, tiny_dir, llama_server
):
    """A benchmark of BASE_URL#MODEL (a real llama_cpp.server, no saved endpoint) keeps only a
    reference to its model: Resume on the page reaches the server through it, as `bench --resume`
    does, and runs the rest under the same id."""
    from llm_compare.services.bench.runner import BenchmarkSpec
    from llm_compare.services.bench.suites import builtin_suite
    from llm_compare.services.engine.engine import InferenceEngine

    suite = builtin_suite()
    two = type(suite)("two", suite.prompts[:2])
    # The CLI's way to a new benchmark: its references resolved, the spec keeping how to reach them.
    [model] = ModelManager([tiny_dir]).select_models([f"{llama_server}#tiny"], usable_only=False)
    ConfigManager().save(model, quick_config())
    spec = BenchmarkSpec((model.id,), two, repeats=2, warmups=0, max_tokens=4, temperature=0.0).for_models(
        [model]
    )
    engine = InferenceEngine()
    try:
        benchmark_id = _stopped_after_first_run(spec, [model], engine)
    finally:
        engine.shutdown()
    store = RunStore()
    before = {r.run_id for r in store.benchmark_runs(benchmark_id)}
    assert len(before) == 1 and store.benchmark(benchmark_id).status == "stopped"

    at = make_app(tiny_dir)  # the dashboard's model directories: no endpoint saved, the model is not listed
    assert model.id not in ids_by_name(at).values()
    at.switch_page("pages/benchmark.py").run()
    at.selectbox(key="bench_open").set_value(benchmark_id).run()
    at.button(key="bench_resume").click().run()
    no_exception(at)
    assert not at.error, [e.value for e in at.error]
    wait_until_finished(at)
    no_exception(at)
    assert session.benchmark().benchmark_id == benchmark_id
    runs = store.benchmark_runs(benchmark_id)
    assert sorted((r.model["id"], r.bench["prompt_id"], r.bench["repeat"]) for r in runs) == sorted(
        (model.id, p.id, r) for p in two.prompts for r in range(2)
    )  # each planned run once: the stored one kept, the three others made by the resume
    assert before <= {r.run_id for r in runs}
    assert {r.model["type"] for r in runs} == {"openai"} and all(
        r.finish_reason in ("stop", "length") for r in runs
    )
    assert store.benchmark(benchmark_id).status == "complete"


@pytest.mark.parametrize("gone", ["file", "server"])
def test_resuming_a_benchmark_whose_model_is_gone_says_so_in_one_line(make_app, tiny_dir, tmp_path, gone):
    """A model file removed since, or an unsaved endpoint whose server is down: one line naming
    what is missing and what to do, nothing runs, no traceback."""
    from llm_compare.services.bench.runner import BenchmarkSpec
    from llm_compare.services.bench.suites import builtin_suite
    from tests.support.dashboard_driver import free_port

    if gone == "file":
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        (elsewhere / "moved.gguf").symlink_to(tiny_dir / "tiny-llama-f32.gguf")
        [model] = ModelManager([elsewhere]).scan()
        (elsewhere / "moved.gguf").unlink()
    else:
        [model] = ModelManager([tiny_dir]).select_models(
            [f"http://127.0.0.1:{free_port()}/v1#tiny"], usable_only=False
        )
    suite = builtin_suite()
    spec = BenchmarkSpec((model.id,), type(suite)("one", suite.prompts[:1]), repeats=1, warmups=0).for_models(
        [model]
    )
    store = RunStore()
    store.benchmark_started("orphan", spec.to_dict(), "interleaved")
    store.benchmark_ended("orphan", "stopped")
    at = make_app(tiny_dir)
    at.switch_page("pages/benchmark.py").run()
    at.selectbox(key="bench_open").set_value("orphan").run()
    previous = session.benchmark()
    at.button(key="bench_resume").click().run()
    no_exception(at)
    [error] = [rendered(e.value) for e in at.error]  # as the reader sees it
    assert "\n" not in error.strip() and "Traceback" not in error
    if gone == "file":
        assert model.id in error and "put it back in a model directory" in error
    else:
        assert f"connection refused at {model.metadata.endpoint.base_url}" in error
    assert session.benchmark() is previous and store.benchmark_runs("orphan") == []  # nothing ran


@pytest.mark.slow
def test_a_benchmark_of_a_saved_endpoint_started_on_the_page_keeps_how_to_reach_its_model(
    make_app, tiny_dir, llama_server
):
    """As `bench` does, the page's benchmark keeps each endpoint model's reference: resuming it
    finds the model even after its saved endpoint was removed."""
    from llm_compare.core.endpoints import Endpoint
    from llm_compare.services.bench.jobs import find_models
    from llm_compare.services.bench.runner import BenchmarkSpec
    from llm_compare.services.endpoints.registry import EndpointRegistry

    EndpointRegistry().add(Endpoint.parse({"name": "local", "base_url": llama_server}))
    at = select(make_app(tiny_dir), "local#tiny")
    model_id = ids_by_name(at)["local#tiny"]
    run_from_the_form(at, repeats=1, warmups=0, max_tokens=4)
    wait_until_finished(at)
    stored = RunStore().benchmark(session.benchmark().benchmark_id)
    assert stored.spec["endpoint_refs"] == {
        model_id: {"base_url": llama_server, "model": "tiny", "api_key_env": None}
    }

    EndpointRegistry().remove("local")
    [found] = find_models(BenchmarkSpec.from_dict(stored.spec), ModelManager([tiny_dir]))
    assert (found.id, found.metadata.server_model) == (model_id, "tiny")


def test_past_benchmarks_show_when_they_started_in_local_time(make_app, empty_dir, monkeypatch):
    import sqlite3

    from llm_compare.services.bench.runner import BenchmarkSpec
    from llm_compare.services.bench.suites import builtin_suite

    monkeypatch.setenv("TZ", "Asia/Kolkata")  # UTC+05:30 all year, whatever this machine's zone
    time.tzset()
    try:
        store = RunStore()
        store.benchmark_started(
            "past", BenchmarkSpec(("m",), builtin_suite(), repeats=1).to_dict(), "interleaved"
        )
        with sqlite3.connect(store.path) as db:
            db.execute("UPDATE benchmarks SET created_at = '2026-11-26T06:00:00+00:00'")
        at = make_app(empty_dir)
        at.switch_page("pages/benchmark.py").run()
        no_exception(at)
        past = next(d.value for d in at.dataframe if "status" in d.value)
        assert list(past["started"]) == ["2026-11-26 11:30"]  # not the stored ISO text in UTC
    finally:
        monkeypatch.undo()
        time.tzset()
