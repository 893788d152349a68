"""End to end, in a real headless Chromium: add an OpenAI-compatible endpoint (llama-cpp-python's
own server) on the Models page, see its model and health, compare it with a local GGUF, then kill
the server: the next comparison gives a clear error in the endpoint's column only. And serve the
local GGUF from the dashboard itself, compare it with its served copy, and stop both together."""

import re
import shutil
from contextlib import ExitStack
from pathlib import Path

import psutil
import pytest

from tests.support.dashboard_driver import (
    browser_page,
    dashboard_server,
    model_name_cell,
    open_page,
    run_prompt,
    select_models,
    wait_for_model_row,
)
from tests.support.endpoint_servers import llama_cpp_server

# Each waits up to 180 s for the answers (a loaded machine), and says which step was slow.
pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


@pytest.fixture
def models_dir(tmp_path, tiny_dir) -> Path:
    root = tmp_path / "models"
    root.mkdir()
    shutil.copy(tiny_dir / "tiny-llama-f32.gguf", root / "local-gguf.gguf")
    return root


def test_compare_a_local_model_with_an_endpoint_model_in_a_real_browser(
    models_dir, tiny_dir, private_home, tmp_path
):
    with ExitStack() as server, dashboard_server(models_dir, private_home) as url, browser_page() as page:
        base_url = server.enter_context(llama_cpp_server(tiny_dir / "tiny-llama-f32.gguf", alias="tiny"))
        page.goto(url)
        model_name_cell(page, "local-gguf").first.wait_for(state="attached", timeout=60_000)
        page.get_by_text("HTTP endpoints (0)", exact=False).first.click()
        page.get_by_label("Name", exact=True).fill("srv")
        page.get_by_label("Base URL", exact=True).fill(base_url)
        page.get_by_role("button", name="Add endpoint").click()
        saved = page.get_by_text(base_url, exact=True).locator("xpath=ancestor::p[1]")
        saved.wait_for(timeout=120_000)  # added and checked: its health is on the line
        assert "healthy" in saved.inner_text() and " ms" in saved.inner_text()
        wait_for_model_row(page, "srv#tiny", timeout_s=90)

        select_models(page, url, ["local-gguf", "srv#tiny"])
        open_page(page, "Compare")
        run_prompt(page, "def add(a, b):", models=2)
        stats = page.get_by_text("TTFT", exact=False).filter(has_text="decode").all_inner_texts()
        assert len(stats) == 2 and all(" ms" in line for line in stats)
        assert page.get_by_text("srv#tiny", exact=True).count() >= 1
        assert page.locator("[data-testid='stAlertContentError']").count() == 0
        page.screenshot(path=str(tmp_path / "compare-endpoint.png"), full_page=True)

        server.close()  # the endpoint's server dies (stopped by its PID); the dashboard keeps its worker
        run_prompt(page, "def add(a, b):", models=2)  # returns at once: the last run's stats are still shown
        page.locator("[data-testid='stAlertContentError']").first.wait_for(timeout=120_000)
        run_button = page.get_by_role("button", name="Run")
        for _ in range(480):  # enabled again once the run is over
            if run_button.is_enabled():
                break
            page.wait_for_timeout(250)
        errors = page.locator("[data-testid='stAlertContentError']").all_inner_texts()
        assert (
            len(errors) == 1 and "connection refused at" in errors[0] and "is the server running" in errors[0]
        )
        stats = page.get_by_text("TTFT", exact=False).filter(has_text="decode").all_inner_texts()
        assert (
            sum("tok/s" in line and "decode –" not in line for line in stats) == 1
        )  # the local model answered
        page.screenshot(path=str(tmp_path / "killed-endpoint.png"), full_page=True)


def test_serve_a_local_model_from_the_dashboard_and_compare_it_with_itself(
    models_dir, private_home, tmp_path
):
    """One click serves the local GGUF; its served copy runs beside it; stopping the dashboard
    (SIGTERM, as a service manager does) stops the server too."""
    with dashboard_server(models_dir, private_home) as url, browser_page() as page:
        page.goto(url)
        model_name_cell(page, "local-gguf").first.wait_for(state="attached", timeout=60_000)
        page.get_by_text("Serve over HTTP (0)", exact=False).first.click()
        page.get_by_role("button", name="Serve", exact=True).click()
        served = model_name_cell(page, re.compile(r"^served-local-gguf#"))
        failed = page.locator("[data-testid='stAlertContentError']")
        for _ in range(720):  # the served model's row (a hidden cell) or an error, within 180 s
            if served.count() or failed.count():
                break
            page.wait_for_timeout(250)
        assert failed.count() == 0, f"serving failed: {failed.first.inner_text()}"
        name = (
            wait_for_model_row(page, re.compile(r"^served-local-gguf#"), timeout_s=60).text_content().strip()
        )
        pid = int(
            re.search(r"pid (\d+)", page.get_by_text(re.compile(r"· pid \d+")).first.inner_text()).group(1)
        )
        assert psutil.pid_exists(pid)
        assert page.get_by_text("loaded a second time", exact=False).count() == 1

        select_models(page, url, ["local-gguf", name])
        open_page(page, "Compare")
        run_prompt(page, "def add(a, b):", models=2)
        assert page.locator("[data-testid='stAlertContentError']").count() == 0
        page.screenshot(path=str(tmp_path / "compare-served.png"), full_page=True)
    try:
        psutil.Process(pid).wait(timeout=15)  # the dashboard has exited: its server must follow at once
    except psutil.NoSuchProcess:
        pass
    except psutil.TimeoutExpired:
        psutil.Process(pid).kill()  # an orphan: the test fails, without leaving it running
        pytest.fail(f"the served model (pid {pid}) outlived the dashboard")
