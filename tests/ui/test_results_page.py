"""The Results page over a few hundred stored runs: it shows one page of the runs its filters
find, newest first, pages through them, and builds the CSV of all of them only when asked."""

import csv
import io
import re
from pathlib import Path

import pytest
from dashboard_testing import APP, no_exception
from streamlit.delta_generator import DeltaGenerator
from streamlit.testing.v1 import AppTest

from llm_compare.services.store.run_store import RunStore
from tests.support.synthetic_runs import synthetic_runs

CSV_DOC = Path(__file__).resolve().parents[2] / "docs" / "csv-export.md"


@pytest.fixture
def records(private_home):
    runs = list(synthetic_runs(300, seed=11))
    RunStore().save_many(runs)
    return sorted(runs, key=lambda r: r.created_at, reverse=True)  # newest first, as the page lists them


@pytest.fixture
def downloads(monkeypatch):
    """What each run of the page handed its CSV download button, in order."""
    handed = []
    original = DeltaGenerator.download_button

    def recording(self, label, data, *args, **kwargs):
        handed.append(data)
        return original(self, label, data, *args, **kwargs)

    monkeypatch.setattr(DeltaGenerator, "download_button", recording)
    return handed


def shown(at) -> list[str]:
    return list(at.dataframe[0].value["run_id"])


def test_filters_and_pages_show_the_right_runs_and_the_csv_holds_every_run_found(
    records, downloads, tmp_path, monkeypatch
):
    monkeypatch.setenv("LLM_COMPARE_MODELS_DIR", str(tmp_path))
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    at.switch_page("pages/results.py").run()
    no_exception(at)
    assert shown(at) == [r.run_id for r in records[:50]]
    assert any("300 of 300 stored runs" in c.value for c in at.caption)

    at.multiselect(key="runs_models").select("demo-starter").select("demo-medium-q8_0").run()
    found = [r for r in records if r.model["name"] in ("demo-starter", "demo-medium-q8_0")]
    assert 50 < len(found) < 300
    assert shown(at) == [r.run_id for r in found[:50]]
    assert any(f"{len(found)} of 300 stored runs" in c.value for c in at.caption)

    at.number_input(key="runs_page").set_value(2).run()
    assert shown(at) == [r.run_id for r in found[50:100]]

    at.multiselect(key="runs_reasons").select("stop").run()  # a new filter starts again at page 1
    found = [r for r in found if r.stats["finish_reason"] == "stop"]
    assert at.number_input(key="runs_page").value == 1
    assert shown(at) == [r.run_id for r in found[:50]]

    build = downloads[-1]
    assert callable(build), "the CSV is built when the button is clicked, not on every rerun"
    rows = list(csv.DictReader(io.StringIO(build())))
    assert [row["run_id"] for row in rows] == [r.run_id for r in found]  # every page, not only the one shown
    documented = re.findall(r"^\| `(\w+)` \|", CSV_DOC.read_text(encoding="utf-8"), flags=re.MULTILINE)
    assert list(rows[0]) == documented
    by_id = {r.run_id: r for r in found}
    for row in rows:
        record = by_id[row["run_id"]]
        assert (row["model_name"], row["finish_reason"]) == (record.model["name"], "stop")
        assert float(row["decode_tps"]) == record.stats["decode_tps"]


def test_a_page_past_the_end_shows_the_last_page_and_says_so(records, tmp_path, monkeypatch):
    """The box has no bounds of its own: a browser refused "page 9 of 6" silently, showing the page before."""
    monkeypatch.setenv("LLM_COMPARE_MODELS_DIR", str(tmp_path))
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    at.switch_page("pages/results.py").run()
    page = at.number_input(key="runs_page")
    assert (page.min, page.max) in ((None, None), (-(2**53) + 1, 2**53 - 1))

    page.set_value(9).run()  # 300 runs, 50 a page: 6 pages
    no_exception(at)
    assert at.number_input(key="runs_page").value == 6
    assert shown(at) == [r.run_id for r in records[250:300]]
    assert any(c.value.startswith("There are 6 pages: showing the last.") for c in at.caption)

    at.number_input(key="runs_page").set_value(0).run()
    assert at.number_input(key="runs_page").value == 1
    assert shown(at) == [r.run_id for r in records[:50]]
    assert any(c.value.startswith("Pages start at 1: showing the first.") for c in at.caption)

    at.number_input(key="runs_page").set_value(3).run()
    assert shown(at) == [r.run_id for r in records[100:150]]
    assert not any("showing the" in c.value for c in at.caption)


def test_benchmark_runs_and_comparison_runs_apart(records, tmp_path, monkeypatch):
    monkeypatch.setenv("LLM_COMPARE_MODELS_DIR", str(tmp_path))
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    at.switch_page("pages/results.py").run()
    at.selectbox(key="runs_page_size").select(500).run()
    at.button_group(key="runs_source").set_value("benchmarks").run()
    no_exception(at)
    assert shown(at) == [r.run_id for r in records if r.bench]
    at.button_group(key="runs_source").set_value("comparisons").run()
    assert shown(at) == [r.run_id for r in records if not r.bench]
