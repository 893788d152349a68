"""End to end, in a real headless Chromium: once a run is over, each answer box shows the start of
its answer, not the end it followed while the answer streamed."""

import shutil
from pathlib import Path

import pytest

from tests.support.dashboard_driver import (
    browser_page,
    dashboard_server,
    open_page,
    run_prompt,
    select_models,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

# Three columns: the tiny model's default 256 tokens overflow a box this narrow.
MODELS = ["a", "b", "c"]

BOXES = """() => Array.from(document.querySelectorAll('[class*="st-key-answer_"]')).map(
    box => ({scrollTop: box.scrollTop, overflow: box.scrollHeight - box.clientHeight}))"""


@pytest.fixture
def models_dir(tmp_path, tiny_dir) -> Path:
    root = tmp_path / "models"
    root.mkdir()
    for name in MODELS:
        shutil.copy(tiny_dir / "tiny-llama-f32.gguf", root / f"{name}.gguf")
    return root


def test_after_the_run_each_answer_box_is_back_at_the_top(models_dir, private_home):
    with dashboard_server(models_dir, private_home) as url, browser_page() as page:
        select_models(page, url, MODELS)
        open_page(page, "Compare")
        run_prompt(page, "def main():", models=len(MODELS))
        page.wait_for_timeout(1000)  # the last redraw
        boxes = page.evaluate(BOXES)
    assert len(boxes) == len(MODELS)
    # At least one answer is longer than its box (a random tiny model may end one early).
    assert any(box["overflow"] > 0 for box in boxes), boxes
    assert all(box["scrollTop"] == 0 for box in boxes), boxes
