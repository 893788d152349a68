"""`run --json` when the store cannot take the runs: the answers are printed all the same, a
failed save is a warning, and no run is lost (it waits in the pending file, or goes to stderr)."""

import json
import os
import subprocess
import sys

import pytest

from llm_compare.services.store.run_store import BUSY_TIMEOUT_ENV, PENDING_FILE_NAME, RunRecord, RunStore
from tests.support.store_lock import database_locked

RESULT_KEYS = {"model", "text", "finish_reason", "error", "stats", "warnings", "device"}


def run_json(model_path, home) -> subprocess.CompletedProcess:
    env = {**os.environ, "LLM_COMPARE_HOME": str(home), BUSY_TIMEOUT_ENV: "0.5"}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "llm_compare.cli",
            "run",
            "--model",
            str(model_path),
            "--prompt",
            "import sys",
            "--max-tokens",
            "5",
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


@pytest.mark.slow
def test_a_locked_store_keeps_the_run_pending_and_the_next_open_stores_it_once(tiny_dir, private_home):
    store = RunStore()
    store.clear()  # the store exists (empty), as it does once the dashboard has been used
    with database_locked(store.path):
        done = run_json(tiny_dir / "tiny-llama-f32.gguf", private_home)
        pending = (private_home / PENDING_FILE_NAME).read_text().splitlines()
    assert done.returncode == 0, done.stderr
    [result] = [json.loads(line) for line in done.stdout.splitlines()]
    assert set(result) == RESULT_KEYS and result["finish_reason"] == "length" and result["text"]
    assert result["stats"]["completion_tokens"] == 5
    [warning] = [line for line in done.stderr.splitlines() if line.startswith("warning:")]
    assert warning.startswith("warning: the run of tiny-llama-f32 was not saved: database is locked")
    assert str(private_home / PENDING_FILE_NAME) in warning
    [line] = pending
    kept = RunRecord.from_json(line)
    assert (kept.text, kept.model["name"], kept.prompt) == (result["text"], "tiny-llama-f32", "import sys")
    assert kept.stats == result["stats"]
    assert RunStore().list() == [kept]  # the lock released: the next open stores it, once
    assert not (private_home / PENDING_FILE_NAME).exists()
    assert RunStore().list() == [kept]


def test_a_data_directory_that_is_a_file_still_prints_the_answers_and_the_record(tiny_dir, tmp_path):
    home = tmp_path / "home-is-a-file"
    home.write_text("not a directory")
    done = run_json(tiny_dir / "tiny-llama-f32.gguf", home)
    assert done.returncode == 0, done.stderr
    [result] = [json.loads(line) for line in done.stdout.splitlines()]
    assert result["finish_reason"] == "length" and result["text"] and result["error"] is None
    warning, record_line = done.stderr.splitlines()[-2:]
    assert warning.startswith("warning: the run of tiny-llama-f32 was not saved: ")
    assert f"the pending file {home / PENDING_FILE_NAME} could not be written either" in warning
    assert warning.endswith("its record follows on stderr as one JSON line")
    record = RunRecord.from_json(record_line)
    assert (record.text, record.stats, record.model["name"]) == (
        result["text"],
        result["stats"],
        "tiny-llama-f32",
    )
    assert home.read_text() == "not a directory"
