"""End to end, in a real headless Chromium: a small benchmark of two models, its table, both CSVs."""

import csv
import re
import shutil
import time

import pytest

from tests.support.dashboard_driver import (
    browser_page,
    click_to_download,
    dashboard_server,
    open_page,
    select_models,
    wait_until_idle,
)

# Each waits up to 180 s for the answers (a loaded machine), and says which step was slow.
pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

MODELS = ["tiny-llama", "tiny-llama-f32"]


def test_benchmark_two_models_in_a_real_browser_and_download_both_csvs(tmp_path, tiny_dir, private_home):
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    shutil.copy(tiny_dir / "tiny-llama-f32.gguf", models_dir)
    shutil.copytree(tiny_dir / "tiny-llama", models_dir / "tiny-llama")
    with dashboard_server(models_dir, private_home) as url, browser_page() as page:
        select_models(page, url, MODELS)
        open_page(page, "Benchmark")
        page.get_by_text("One prompt", exact=True).click()
        box = page.get_by_label("Prompt", exact=True)
        box.fill("def main():")
        box.press("Control+Enter")
        for label, value in (("Repetitions", "3"), ("Max tokens", "6")):
            field = page.get_by_label(label, exact=True)
            field.fill(value)
            field.press("Enter")
            wait_until_idle(page)  # the rerun the new value started is over
        page.get_by_role("button", name="Run", exact=True).click()
        # The machine may be busy: show busy runs too, or the table waits for quiet runs.
        page.get_by_text("Include busy runs", exact=True).click(timeout=60_000)
        # 2 models x 3 repetitions, counted as Past benchmarks counts them, then the 2 warm-ups
        done = page.get_by_text(re.compile(r"\b6 / 6 runs .*· finished"))
        deadline = time.monotonic() + 240
        while done.count() == 0:
            assert time.monotonic() < deadline, "the benchmark did not finish in 4 minutes"
            page.wait_for_timeout(500)
        # When the benchmark ends, the whole page runs again (Run enabled, Stop disabled) and draws
        # its download buttons anew: a click on the buttons of the draw before is lost.
        run_button = page.get_by_role("button", name="Run", exact=True)
        while not run_button.is_enabled():
            assert time.monotonic() < deadline, "the Run button did not come back after the benchmark"
            page.wait_for_timeout(250)
        wait_until_idle(page)
        page.get_by_role("button", name="Runs CSV").wait_for(timeout=30_000)
        page.screenshot(path=str(tmp_path / "benchmark.png"), full_page=True)
        files = {}
        for name in ("Runs CSV", "Aggregate CSV"):
            download = click_to_download(page, page.get_by_role("button", name=name))
            files[name] = tmp_path / download.suggested_filename
            download.save_as(files[name])
    runs = list(csv.DictReader(files["Runs CSV"].open()))
    assert sorted({r["model_name"] for r in runs}) == sorted(MODELS) and len(runs) == 6
    assert {r["completion_tokens"] for r in runs} == {"6"} and all(float(r["ttft_s"]) > 0 for r in runs)
    aggregate = list(csv.DictReader(files["Aggregate CSV"].open()))
    decode = {r["model_name"]: r for r in aggregate if r["figure"] == "decode_tps" and not r["prompt_id"]}
    assert sorted(decode) == sorted(MODELS) and {r["n"] for r in decode.values()} == {"3"}
    assert (tmp_path / "benchmark.png").stat().st_size > 10_000
