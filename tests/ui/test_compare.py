"""A comparison from the Compare page: text and stats in every column, every run saved, shown on
the Results page and exported as CSV."""

import csv
import io
import os
import time

import pytest
from dashboard_testing import RUN_TIMEOUT_S, no_exception, quick_config, select
from streamlit.delta_generator import DeltaGenerator

from llm_compare.core.config import ModelConfig
from llm_compare.core.results import STAT_HELP
from llm_compare.services.discovery.config_manager import ConfigManager
from llm_compare.services.discovery.model_manager import ModelManager
from llm_compare.services.store.run_store import RunStore

MODELS = ("tiny-llama", "tiny-llama-f32")  # one per backend


@pytest.fixture
def compared(make_app, tiny_dir):
    """The app after comparing the HF folder and the f32 GGUF (short greedy answers)."""
    for model in ModelManager([tiny_dir]).scan():
        ConfigManager().save(model, quick_config())
    at = select(make_app(tiny_dir), *MODELS)
    at.switch_page("pages/compare.py").run()
    at.text_area(key="prompt").input("def main():").run()
    at.button(key="run").click().run(timeout=RUN_TIMEOUT_S)
    no_exception(at)
    return at


def test_two_models_answer_side_by_side_with_their_stats(compared):
    at = compared
    assert not at.error, [e.value for e in at.error]
    answers = [t.value for t in at.text]
    assert len(answers) == 2 and all(answers)
    assert answers[0] == answers[1]  # same weights, greedy: the same answer from both backends
    stats = [c.value for c in at.caption if c.value.startswith("TTFT")]
    assert len(stats) == 2 and all("12 tokens" in line and "length" in line for line in stats)
    [summary] = [d.value for d in at.dataframe]
    assert list(summary["model"]) == list(MODELS)
    assert list(summary["completion_tokens"]) == [12, 12]
    assert (summary["decode_tps"] > 0).all() and (summary["ttft_ms"] > 0).all()
    # The run is over: Run is enabled again, Stop disabled.
    assert not at.button(key="run").disabled and at.button(key="stop").disabled


def test_every_run_is_saved_and_the_results_survive_a_page_switch(compared):
    at = compared
    runs = RunStore().list()
    assert sorted(r.model["name"] for r in runs) == sorted(MODELS)
    assert {r.finish_reason for r in runs} == {"length"} and len({r.comparison_id for r in runs}) == 1
    assert all(r.config["max_tokens"] == 12 and r.prompt == "def main():" for r in runs)

    texts = [t.value for t in at.text]
    assert sorted(r.text for r in runs) == sorted(texts) and all(texts)  # what was shown is what was saved
    at.switch_page("pages/models.py").run()
    at.switch_page("pages/compare.py").run()
    assert [t.value for t in at.text] == texts
    assert at.text_area(key="prompt").value == "def main():"


def test_the_results_page_lists_charts_and_exports_the_runs(compared, monkeypatch):
    downloads = []
    original = DeltaGenerator.download_button

    def recording_download_button(self, label, data, *args, **kwargs):
        downloads.append((label, data, kwargs.get("file_name")))
        return original(self, label, data, *args, **kwargs)

    monkeypatch.setattr(DeltaGenerator, "download_button", recording_download_button)
    at = compared
    at.switch_page("pages/results.py").run()
    no_exception(at)
    table = at.dataframe[0].value
    assert sorted(table["model"]) == sorted(MODELS) and table["this_session"].all()
    assert len(at.get("plotly_chart")) == 4

    [(label, data, file_name)] = downloads
    assert (label, file_name) == ("Download CSV", "llm-compare-runs.csv")
    rows = list(csv.DictReader(io.StringIO(data())))  # built when clicked
    assert sorted(row["model_name"] for row in rows) == sorted(MODELS)
    for column in [
        *STAT_HELP,
        "model_name",
        "backend",
        "model_path",
        "config_temperature",
        "config_max_tokens",
        "text",
    ]:
        assert column in rows[0], column
    assert {row["completion_tokens"] for row in rows} == {"12"}
    assert {(row["run_id"], row["text"]) for row in rows} == {(r.run_id, r.text) for r in RunStore().list()}

    at.toggle(key="runs_this_session").set_value(True).run()  # filters keep this session's runs
    assert len(at.dataframe[0].value) == 2


def test_an_empty_prompt_is_one_clear_line(make_app, tiny_dir):
    at = select(make_app(tiny_dir), "tiny-llama-f32")
    at.switch_page("pages/compare.py").run()
    at.button(key="run").click().run()
    no_exception(at)
    assert [e.value for e in at.error] == ["the prompt is empty: type some text to send"]
    assert RunStore().list() == []


def test_a_comparison_while_another_is_running_is_one_clear_line(make_app, tiny_dir, long_models):
    from llm_compare.services.engine.comparison import Comparison
    from llm_compare.ui import session

    model = long_models["gguf_f32"]
    busy = Comparison(
        session.engine(),
        "import os\n",
        [model],
        {model.id: ModelConfig(temperature=0.0, mode="raw", max_tokens=3000, n_ctx=4096)},
    ).start()
    try:
        while busy.snapshot()[0].version == 0:  # until its first event: it holds the engine
            time.sleep(0.01)
        at = select(make_app(tiny_dir), "tiny-llama-f32")
        at.switch_page("pages/compare.py").run()
        at.text_area(key="prompt").input("hello").run()
        at.button(key="run").click().run(timeout=RUN_TIMEOUT_S)
        no_exception(at)
        assert [e.value for e in at.error] == [
            "another comparison is still running: wait for it to finish or stop it"
        ]
        assert not at.text and not at.button(key="run").disabled
    finally:
        busy.cancel()
        busy.wait(15)


@pytest.mark.slow
@pytest.mark.alone  # a spinner on every core
def test_runs_made_while_other_programs_use_the_cpu_are_marked_busy_everywhere(
    make_app, tiny_dir, monkeypatch
):
    import subprocess
    import sys

    downloads = []
    original = DeltaGenerator.download_button
    monkeypatch.setattr(
        DeltaGenerator,
        "download_button",
        lambda self, label, data, *a, **k: downloads.append(data) or original(self, label, data, *a, **k),
    )
    for model in ModelManager([tiny_dir]).scan():
        ConfigManager().save(model, quick_config().updated(max_tokens=200))
    spin = "import time\nend = time.time() + 90\nwhile time.time() < end: pass"
    # One per core: "busy" is a share of the whole machine, which two spinners are not on many cores.
    spinners = [subprocess.Popen([sys.executable, "-c", spin]) for _ in range(os.cpu_count() or 2)]
    try:
        at = select(make_app(tiny_dir), "tiny-llama-f32")
        at.switch_page("pages/compare.py").run()
        at.text_area(key="prompt").input("def main():").run()
        at.button(key="run").click().run(timeout=RUN_TIMEOUT_S)
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()
    no_exception(at)
    [line] = [c.value for c in at.caption if c.value.startswith("TTFT")]
    assert "BUSY: other processes used" in line  # the column
    [summary] = [d.value for d in at.dataframe]
    assert list(summary["busy"]) == ["busy"] and summary["other_cpu_pct"][0] > 10  # the summary
    at.switch_page("pages/results.py").run()
    assert list(at.dataframe[0].value["busy"]) == [True]  # the Results page
    [row] = list(csv.DictReader(io.StringIO(downloads[-1]())))  # the CSV is built when clicked
    assert row["busy"] == "True" and float(row["other_cpu_share"]) > 0.10  # the export


def _answer_boxes(node) -> list:
    """The scrolling boxes the answers are drawn in (containers with a fixed height)."""
    found = []
    proto = getattr(node, "proto", None)
    if proto is not None and hasattr(proto, "autoscroll") and proto.HasField("height_config"):
        if proto.height_config.WhichOneof("height_spec") == "pixel_height":
            found.append(node)
    for child in getattr(node, "children", {}).values():
        found.extend(_answer_boxes(child))
    return found


def test_once_the_run_is_over_the_answer_boxes_stop_following_the_end(compared):
    boxes = _answer_boxes(compared.main)
    assert len(boxes) == 2 and all(not box.proto.autoscroll for box in boxes)


def test_a_reloaded_page_shows_the_last_comparison_again(compared, make_app, tiny_dir):
    texts = [t.value for t in compared.text]
    fresh = make_app(tiny_dir)  # a reload: a new browser session, nothing in its state
    fresh.switch_page("pages/compare.py").run()
    no_exception(fresh)
    assert fresh.text_area(key="prompt").value == "def main():"
    assert [t.value for t in fresh.text] == texts and all(texts)
    headers = [m.value for m in fresh.markdown if m.value.startswith("####")]
    assert headers == [f"#### {name}" for name in MODELS]
    assert len([c for c in fresh.caption if c.value.startswith("TTFT")]) == 2 and fresh.dataframe
    assert not fresh.button(key="run").disabled and fresh.button(key="stop").disabled
