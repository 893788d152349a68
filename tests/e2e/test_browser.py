"""End to end, in a real headless Chromium: select two models, compare them live, download the CSV."""

import csv
import shutil
from pathlib import Path

import pytest

from tests.support.dashboard_driver import (
    browser_page,
    click_table_row,
    dashboard_server,
    download_csv,
    model_name_cell,
    open_page,
    run_prompt,
    select_models,
    wait_for_sidebar_selection,
)

# Each waits up to 180 s for the answers (a loaded machine), and says which step was slow.
pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

# A name and a prompt that Markdown would change ("init" in bold): the page must show them as typed.
MODELS = ["__init__", "tiny-llama"]
PROMPT = "def __init__(self, path):"


@pytest.fixture
def models_dir(tmp_path, tiny_dir) -> Path:
    root = tmp_path / "models"
    root.mkdir()
    shutil.copy(tiny_dir / "tiny-llama-f32.gguf", root / "__init__.gguf")
    shutil.copytree(tiny_dir / "tiny-llama", root / "tiny-llama")
    return root


def test_compare_two_models_in_a_real_browser_and_download_the_csv(models_dir, private_home, tmp_path):
    with dashboard_server(models_dir, private_home) as url, browser_page() as page:
        select_models(page, url, MODELS)
        open_page(page, "Compare")
        run_prompt(page, PROMPT, models=len(MODELS))
        for name in MODELS:
            assert page.get_by_text(name, exact=True).count() >= 1
        assert page.get_by_text(f"“{PROMPT}”", exact=False).count() == 1  # the run's caption
        stats_lines = page.get_by_text("TTFT", exact=False).filter(has_text="decode").all_inner_texts()
        assert len(stats_lines) == 2 and all("tok/s" in line and "peak RSS" in line for line in stats_lines)
        page.screenshot(path=str(tmp_path / "compare.png"), full_page=True)
        rows = list(csv.DictReader(download_csv(page, tmp_path / "runs.csv").open()))
        page.screenshot(path=str(tmp_path / "results.png"), full_page=True)
    assert sorted(row["model_name"] for row in rows) == sorted(MODELS)
    for row in rows:
        assert row["finish_reason"] in ("length", "stop") and not row["error"]
        assert int(row["completion_tokens"]) > 0 and float(row["ttft_s"]) > 0
        assert row["prompt"] == PROMPT and row["text"]
    assert (tmp_path / "compare.png").stat().st_size > 10_000


def test_a_dns_rebinding_page_sees_only_the_refusal(models_dir, private_home):
    """evil.example resolving to 127.0.0.1: the browser sends `Host: evil.example:PORT` (and a
    matching Origin, which Streamlit accepts); the dashboard draws one line, no model, no page."""
    with (
        dashboard_server(models_dir, private_home) as url,
        browser_page(resolve_to_loopback=("evil.example",)) as page,
    ):
        port = url.rsplit(":", 1)[1]
        page.goto(f"http://evil.example:{port}/")
        refusal = page.get_by_text("This dashboard answers only on localhost", exact=False)
        refusal.wait_for(timeout=30_000)
        assert "evil.example" in refusal.inner_text()
        assert page.get_by_text("tiny-llama", exact=False).count() == 0
        assert page.get_by_role("heading", name="Models").count() == 0
        assert page.title() != "llm-compare"
        page.goto(f"{url}/")  # the same server under its own address
        # The model list (the table's cells are drawn on a canvas, their text is in hidden cells).
        model_name_cell(page, "tiny-llama").first.wait_for(state="attached", timeout=30_000)
        assert page.get_by_role("heading", name="Models").count() == 1


def test_models_are_chosen_in_the_table_and_stay_listed_through_a_search(models_dir, private_home):
    with dashboard_server(models_dir, private_home) as url, browser_page() as page:
        select_models(page, url, MODELS)  # ticks the rows' boxes in the Models table
        wait_for_sidebar_selection(page, MODELS)
        search = page.get_by_role("textbox", name="Search")
        search.fill("no such model")
        search.press("Enter")
        page.get_by_text("2 selected models not matching the search stay listed", exact=False).wait_for(
            timeout=60_000
        )
        click_table_row(page, "__init__")  # unselect a model the search hides
        page.get_by_text("SELECTED FOR COMPARISON · 1/").wait_for(timeout=60_000)
        wait_for_sidebar_selection(page, ["tiny-llama"])
        page.get_by_text("No model matches the search or filter.", exact=False).wait_for(state="hidden")
        model_name_cell(page, "tiny-llama").first.wait_for(state="attached", timeout=60_000)
        # Unselected, it follows the search again: its row leaves the table (once the grid redraws).
        model_name_cell(page, "__init__").first.wait_for(state="detached", timeout=60_000)
