"""Takes a screenshot of the Quality page's table: two tiny models scored against a reference, in
headless Chromium.

.venv/bin/python scripts/screenshot_quality.py --models-dir DIR --out FILE.png
(DIR holds tiny-llama, tiny-llama-f32 and tiny-llama-q8_0, as the tests' tiny models do.)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.support, in the repository

from tests.support.dashboard_driver import browser_page, dashboard_server, open_page  # noqa: E402

MODELS = ["tiny-llama-f32", "tiny-llama-q8_0"]
REFERENCE = "tiny-llama"


def pick(page, label: str, option: str) -> None:
    """Choose `option` in the multiselect or selectbox labelled `label`."""
    box = page.locator('[data-testid="stMultiSelect"], [data-testid="stSelectbox"]').filter(has_text=label)
    box = box.locator("input").first
    box.click()
    box.fill(option)
    page.get_by_role("option", name=option, exact=True).first.click()
    page.keyboard.press("Escape")
    page.wait_for_timeout(500)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as home:
        with dashboard_server(args.models_dir.resolve(), Path(home)) as url, browser_page(1500, 1000) as page:
            page.goto(url)
            page.wait_for_load_state("networkidle")
            open_page(page, "Quality")
            page.get_by_text("Models to score").first.wait_for(timeout=60_000)
            for name in MODELS:
                pick(page, "Models to score", name)
            pick(page, "Reference", REFERENCE)
            page.get_by_text("Python code (built in)").click()
            ctx = page.get_by_test_id("stNumberInputField")
            ctx.fill("128")
            ctx.press("Enter")
            page.wait_for_timeout(1000)
            page.get_by_role("button", name="Score").click()
            page.get_by_text(f"{MODELS[-1]}: scored").wait_for(timeout=600_000)
            page.wait_for_timeout(2000)
            page.get_by_text("ppl only comparable").scroll_into_view_if_needed()
            page.mouse.wheel(0, 200)
            page.wait_for_timeout(1000)
            page.screenshot(path=str(args.out))
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
