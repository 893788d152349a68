"""A dashboard with two browser tabs comparing, and a CLI loop, all writing to one new data home at
once: every run written is found in the store, once (issue 7 item 4)."""

import os
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest

from llm_compare.core.config import ModelConfig
from llm_compare.services.discovery.config_manager import ConfigManager
from llm_compare.services.discovery.model_manager import ModelManager
from llm_compare.services.store.run_store import PENDING_FILE_NAME, RunStore
from tests.support.dashboard_driver import browser_pages, dashboard_server, open_page, select_models

# Each waits up to 180 s for the answers (a loaded machine), and says which step was slow.
pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

MODELS = ["tiny-llama-f32", "tiny-llama-q8_0"]
COMPARISONS_PER_TAB, CLI_RUNS = 3, 4
BUSY = "another comparison is still running"


@pytest.fixture
def models_dir(tmp_path, tiny_dir):
    root = tmp_path / "models"
    root.mkdir()
    for name in MODELS:
        shutil.copy(tiny_dir / f"{name}.gguf", root)
    return root


def tab_loop(page, name: str, accepted: list):
    """Run COMPARISONS_PER_TAB comparisons in `page`, one step per next(); a comparison the
    dashboard refuses (the other tab's is running) is tried again with a new prompt."""
    stats = page.get_by_text("TTFT", exact=False).filter(has_text="decode")
    run_button, busy = page.get_by_role("button", name="Run"), page.get_by_text(BUSY)
    attempt = 0
    while len(accepted) < COMPARISONS_PER_TAB:
        prompt = f"{name} comparison {len(accepted)} attempt {attempt}"
        attempt += 1
        box = page.get_by_label("Prompt", exact=True)
        box.fill(prompt)
        box.press("Control+Enter")
        while not run_button.is_enabled():
            yield
        run_button.click()
        clicked, caption = time.monotonic(), page.get_by_text(f"“{prompt}”", exact=False)
        outcome, since = None, None
        while True:  # until the page has settled on this attempt's outcome for a second
            seen = None
            if caption.count() and run_button.is_enabled():
                seen = "refused" if busy.count() else "done" if stats.count() == len(MODELS) else None
            if seen != outcome:
                outcome, since = seen, time.monotonic()
            elif outcome and time.monotonic() - since > 1:
                break
            if time.monotonic() - clicked > 180:
                raise TimeoutError(f"{prompt}: did not finish")
            yield
        if outcome == "done":
            accepted.append(prompt)


def cli_loop(models_dir, home, written: list, errors: list) -> None:
    env = {**os.environ, "LLM_COMPARE_HOME": str(home)}
    for i in range(CLI_RUNS):
        prompt = f"cli run {i}"
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "llm_compare.cli",
                "run",
                "--model",
                str(models_dir / "tiny-llama-f32.gguf"),
                "--prompt",
                prompt,
                "--max-tokens",
                "4",
                "--temperature",
                "0",
                "--mode",
                "raw",
                "--json",
            ],
            check=False,
            capture_output=True,
            text=True,
            timeout=180,
            env=env,
        )
        if done.returncode != 0 or "warning" in done.stderr:
            errors.append(done.stderr[-2000:])
        written.append((prompt, "tiny-llama-f32"))


def writing_times(stored) -> dict[str, list[str]]:
    """When each writer (cli, tab1, tab2) stored its runs (created_at, to the second)."""
    times = {}
    for run in stored:
        times.setdefault(run.prompt.split()[0], []).append(run.created_at[11:19])
    return times


def test_two_tabs_and_a_cli_loop_writing_at_once_lose_no_run(models_dir, private_home):
    for model in ModelManager([models_dir]).scan():
        ConfigManager().save(model, ModelConfig(temperature=0.0, mode="raw", max_tokens=4, n_ctx=128))
    assert not RunStore().path.exists(), "a new store: the writers also race to create it"
    cli_written, cli_errors = [], []
    accepted = {"tab1": [], "tab2": []}
    with dashboard_server(models_dir, private_home) as url, browser_pages(2) as pages:
        select_models(pages[0], url, MODELS)
        pages[1].goto(url)  # a second tab: its session picks up the saved selection
        for page in pages:
            open_page(page, "Compare")
        cli = threading.Thread(target=cli_loop, args=(models_dir, private_home, cli_written, cli_errors))
        cli.start()
        loops = [tab_loop(page, name, accepted[name]) for page, name in zip(pages, accepted)]
        try:
            while loops:
                for loop in list(loops):
                    try:
                        next(loop)
                    except StopIteration:
                        loops.remove(loop)
                pages[0].wait_for_timeout(100)
        except Exception:
            for name, page in zip(accepted, pages):
                page.screenshot(path=f"/tmp/conc-{name}.png", full_page=True)
            raise
        cli.join(600)
        open_page(pages[0], "Results")  # and a reader while nothing writes: the store opens cleanly
    assert not cli_errors, cli_errors
    written = cli_written + [
        (prompt, model) for prompts in accepted.values() for prompt in prompts for model in MODELS
    ]
    stored = RunStore().list()
    print(
        f"runs written {len(written)} (tabs {sum(map(len, accepted.values())) * len(MODELS)}, cli "
        f"{len(cli_written)}), runs found {len(stored)}, distinct run ids {len({r.run_id for r in stored})}; "
        "written between "
        + ", ".join(f"{who} {min(times)}-{max(times)}" for who, times in writing_times(stored).items())
    )
    assert Counter((run.prompt, run.model["name"]) for run in stored) == Counter(written)
    assert (
        len({run.run_id for run in stored}) == len(stored) == 2 * COMPARISONS_PER_TAB * len(MODELS) + CLI_RUNS
    )
    assert not (private_home / PENDING_FILE_NAME).exists()
