"""Takes the README's screenshot: the dashboard comparing demo models, in headless Chromium.

.venv/bin/python scripts/screenshot.py [--models-dir models] [--out docs/screenshot.png] [--model NAME ...]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.support, in the repository

from llm_compare.services.discovery.model_manager import ModelManager  # noqa: E402
from tests.support.dashboard_driver import (  # noqa: E402
    browser_page,
    dashboard_server,
    open_page,
    run_prompt,
    select_models,
)

PROMPT = "def read_config(path):\n"


def default_models(models_dir: Path) -> list[str]:
    """Up to three usable models, largest first: what a user would put side by side."""
    usable = [m for m in ModelManager([models_dir]).scan() if m.usable]
    usable.sort(key=lambda m: (-(m.metadata.parameters or 0), m.type.value, m.name))
    return [m.name for m in usable[:3]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", type=Path, default=Path("models"))
    parser.add_argument("--out", type=Path, default=Path("docs/screenshot.png"))
    parser.add_argument("--model", action="append", dest="models", help="model name to select (repeat)")
    args = parser.parse_args()
    names = args.models or default_models(args.models_dir)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as home:
        with dashboard_server(args.models_dir.resolve(), Path(home)) as url, browser_page(1500, 1250) as page:
            select_models(page, url, names)
            open_page(page, "Compare")
            run_prompt(page, PROMPT, models=len(names))
            stats = page.get_by_text("TTFT", exact=False).filter(has_text="decode")
            stats.first.scroll_into_view_if_needed()
            page.mouse.wheel(0, 200)  # the stats lines and the summary table below them
            page.wait_for_timeout(500)
            page.screenshot(path=str(args.out))
    print(f"saved {args.out} ({', '.join(names)})")


if __name__ == "__main__":
    main()
