"""End to end, in a real headless Chromium: a blind comparison, the vote, the names revealed and
the vote on the Leaderboard page and in its CSV."""

import csv
import shutil
import time

import pytest

from llm_compare.core.config import ModelConfig
from llm_compare.services.discovery.config_manager import ConfigManager
from llm_compare.services.discovery.model_manager import ModelManager
from tests.support.dashboard_driver import (
    DOWNLOAD_TIMEOUT_MS,
    browser_page,
    dashboard_server,
    open_page,
    select_models,
    send_prompt,
)

# Each waits up to 180 s for the answers (a loaded machine), and says which step was slow.
pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

MODELS = ["okapi", "zebra"]  # words the tiny model never writes


def assert_hidden(page) -> None:
    """No model name anywhere on the page (stale elements of an earlier run included), nor in the sidebar."""
    for name in MODELS:
        shown = page.get_by_text(name, exact=False)
        assert shown.count() == 0, shown.first.evaluate("e => e.outerHTML")


def test_cast_a_blind_vote_in_a_real_browser(tmp_path, tiny_dir, private_home):
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    shutil.copy(tiny_dir / "tiny-llama-f32.gguf", models_dir / "zebra.gguf")
    shutil.copytree(tiny_dir / "tiny-llama", models_dir / "okapi")
    for model in ModelManager([models_dir]).scan():  # short greedy answers, which never spell a name
        ConfigManager().save(model, ModelConfig(temperature=0.0, mode="raw", max_tokens=12, n_ctx=256))
    with dashboard_server(models_dir, private_home) as url, browser_page() as page:
        select_models(page, url, MODELS)
        open_page(page, "Compare")
        page.get_by_text("Blind", exact=True).click()
        send_prompt(page, "def main():")
        page.get_by_text("Blind comparison: ", exact=False).wait_for(timeout=30_000)
        question = page.get_by_text("Which answer is better?", exact=True)
        deadline = time.monotonic() + 180
        while question.count() == 0:  # while the models run, again and again
            assert_hidden(page)
            assert time.monotonic() < deadline, "the blind comparison did not finish in 3 minutes"
            page.wait_for_timeout(250)
        page.get_by_role("button", name="Vote", exact=True).wait_for(timeout=30_000)
        assert_hidden(page)
        assert (
            page.get_by_text("Model A", exact=True).count() == 1
            and page.get_by_text("Model B", exact=True).count() == 1
        )
        page.screenshot(path=str(tmp_path / "blind.png"), full_page=True)

        # Checked in the page is chosen in the widget state the Vote click sends along.
        page.get_by_role("radio", name="B is better").check(force=True)
        page.get_by_role("button", name="Vote", exact=True).click()
        stats = page.get_by_text("TTFT", exact=False).filter(has_text="decode")
        deadline = time.monotonic() + 60
        while stats.count() < 2:
            assert time.monotonic() < deadline, "the names and figures did not show after the vote"
            page.wait_for_timeout(250)
        winner = page.get_by_text("Model B · ", exact=False).first.inner_text().split(" · ")[1].strip()
        assert winner in MODELS
        assert page.get_by_text(f"Your vote: {winner} over", exact=False).count() == 1
        page.screenshot(path=str(tmp_path / "revealed.png"), full_page=True)

        open_page(page, "Leaderboard")
        page.get_by_role("button", name="Download votes CSV").wait_for(timeout=30_000)
        with page.expect_download(timeout=DOWNLOAD_TIMEOUT_MS) as download:
            page.get_by_role("button", name="Download votes CSV").click()
        download.value.save_as(tmp_path / "votes.csv")
    [vote] = list(csv.DictReader((tmp_path / "votes.csv").open()))
    assert (
        vote["outcome"] == "b"
        and vote["model_b_name"] == winner
        and {vote["model_a_name"], vote["model_b_name"]} == set(MODELS)
    )
    assert (tmp_path / "blind.png").stat().st_size > 10_000
