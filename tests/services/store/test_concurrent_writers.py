"""Two comparisons (as two dashboard tabs run them, each in its own thread) and a CLI loop (one
process after another) writing to one new data home at once: every run written is found in the
store, once. The browser version of this test is tests/e2e/test_concurrent_tabs.py."""

import os
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest

from llm_compare.core.config import ModelConfig
from llm_compare.services.engine.comparison import Comparison
from llm_compare.services.engine.engine import InferenceEngine
from llm_compare.services.store.run_store import PENDING_FILE_NAME, RunStore

pytestmark = pytest.mark.slow

QUICK = ModelConfig(temperature=0.0, mode="raw", max_tokens=4, n_ctx=128)
COMPARISONS_PER_TAB, CLI_RUNS = 4, 4


def cli_loop(model_path, written: list, errors: list) -> None:
    for i in range(CLI_RUNS):
        prompt = f"cli run {i}"
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "llm_compare.cli",
                "run",
                "--model",
                str(model_path),
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
            env=os.environ.copy(),
        )
        if done.returncode != 0 or "warning" in done.stderr:
            errors.append(done.stderr[-2000:])
        written.append((prompt, model_path.stem))


def tab(name: str, models, written: list, errors: list, start: threading.Barrier) -> None:
    engine = InferenceEngine()  # a tab of its own dashboard: one comparison at a time per engine
    try:
        start.wait()
        for i in range(COMPARISONS_PER_TAB):
            prompt = f"{name} comparison {i}"
            run = Comparison(engine, prompt, models, {m.id: QUICK for m in models}).start()
            if not run.wait(180):
                errors.append(f"{prompt} did not finish")
            notes = [state.save_note for state in run.snapshot() if state.save_note]
            errors.extend(notes + ([run.error] if run.error else []))
            written.extend((prompt, m.name) for m in models)
    finally:
        engine.shutdown()


def test_two_tabs_and_a_cli_loop_writing_at_once_lose_no_run(tiny_models, private_home):
    assert not private_home.exists(), "a new data home: the writers also race to create the store"
    models = [tiny_models["gguf_f32"], tiny_models["gguf_q8"]]
    written, errors, start = [], [], threading.Barrier(3)
    threads = [
        threading.Thread(target=tab, args=(name, models, written, errors, start)) for name in ("tab1", "tab2")
    ]
    threads.append(
        threading.Thread(target=lambda: (start.wait(), cli_loop(Path(models[0].path), written, errors)))
    )
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(600)
    assert not errors, errors
    stored = RunStore().list()
    found = Counter((run.prompt, run.model["name"]) for run in stored)
    print(
        f"runs written {len(written)}, runs found {len(stored)}, distinct run ids "
        f"{len({r.run_id for r in stored})}"
    )
    assert len(written) == 2 * COMPARISONS_PER_TAB * len(models) + CLI_RUNS
    assert found == Counter(written), "every run written is stored, none twice"
    assert len({run.run_id for run in stored}) == len(stored)
    assert not (private_home / PENDING_FILE_NAME).exists()
