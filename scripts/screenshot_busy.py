"""Takes issue 25's screenshots: the Benchmark page showing a stored benchmark whose runs were all
busy, and the Leaderboard page, in headless Chromium at 1500×1000 (no model is run: the runs are
written into a private data folder).

.venv/bin/python scripts/screenshot_busy.py [--out-dir docs/screenshots/issue-25] [--suffix after]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.support, in the repository

from llm_compare.services.store.run_store import RunStore  # noqa: E402
from tests.support.bench_records import store_busy_benchmark  # noqa: E402
from tests.support.dashboard_driver import browser_page, dashboard_server, open_page  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=Path("docs/screenshots/issue-25"))
    parser.add_argument("--suffix", default="after")
    args = parser.parse_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as home, tempfile.TemporaryDirectory() as models:
        benchmark_id = store_busy_benchmark(RunStore(home))
        with dashboard_server(Path(models), Path(home)) as url, browser_page(1500, 1000) as page:
            page.goto(url)
            page.wait_for_load_state("networkidle")
            open_page(page, "Benchmark")
            box = page.locator('[data-testid="stSelectbox"]').filter(has_text="Open a benchmark")
            box.locator("input").first.click()
            page.get_by_role("option", name=benchmark_id).first.click()
            page.wait_for_timeout(4000)
            page.get_by_text("Open a benchmark").first.scroll_into_view_if_needed()
            page.mouse.wheel(0, 250)
            page.wait_for_timeout(1500)
            page.screenshot(path=str(args.out_dir / f"benchmark-busy-{args.suffix}.png"))
            open_page(page, "Leaderboard")
            page.get_by_text("Frontier", exact=True).first.scroll_into_view_if_needed()
            page.wait_for_timeout(3000)
            page.screenshot(path=str(args.out_dir / f"leaderboard-{args.suffix}.png"))
    print(f"saved to {args.out_dir}")


if __name__ == "__main__":
    main()
