"""`run` and `bench` take endpoint models: NAME#MODEL for a saved endpoint, BASE_URL#MODEL or
BASE_URL with --api-key-env. The key reaches the server and nothing else: no output, log, stored
run or export holds it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from llm_compare.core.endpoints import Endpoint
from llm_compare.services.endpoints.registry import EndpointRegistry
from llm_compare.services.store.run_store import RunStore, to_csv
from tests.support.endpoint_servers import OK_PIECES, misbehaving_server

KEY = "sk-llm-compare-test-7f3a9c1e"


def cli(*args: str, env: dict | None = None, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "llm_compare.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.slow
def test_run_a_saved_endpoints_model_beside_a_local_one(tiny_models):
    with misbehaving_server() as server:
        EndpointRegistry().add(Endpoint.parse({"name": "srv", "base_url": server.base_url}))
        done = cli(
            "run",
            "--model",
            "srv#ok",
            "--model",
            tiny_models["gguf_f32"].path,
            "--prompt",
            "def f",
            "--max-tokens",
            "4",
            "--temperature",
            "0",
            "--json",
        )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    by_type = {line["model"]["type"]: line for line in lines}
    assert by_type["openai"]["text"] == "".join(OK_PIECES) and by_type["openai"]["model"]["name"] == "srv#ok"
    assert by_type["openai"]["stats"]["completion_tokens"] == 4
    assert by_type["gguf"]["finish_reason"] == "length"


def test_a_failing_endpoint_model_exits_1_and_says_why_in_one_line():
    with misbehaving_server() as server:
        done = cli("run", "--model", f"{server.base_url}#status-404", "--prompt", "hi")
    assert done.returncode == 1
    errors = [line for line in done.stdout.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "404 not found" in errors[0] and "'status-404'" in errors[0]


def test_an_unset_key_variable_is_named_before_anything_runs():
    with misbehaving_server() as server:
        done = cli(
            "run",
            "--model",
            f"{server.base_url}#ok",
            "--api-key-env",
            "LLM_COMPARE_UNSET_KEY_VAR",
            "--prompt",
            "hi",
            env={"LLM_COMPARE_UNSET_KEY_VAR": ""},
        )
    assert done.returncode == 1
    assert "LLM_COMPARE_UNSET_KEY_VAR" in done.stdout and "is not set" in done.stdout
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_the_api_key_is_in_no_output_log_store_or_export(tmp_path, private_home):
    prompts = tmp_path / "suite.jsonl"
    prompts.write_text(
        json.dumps({"id": "p1", "prompt": "Say hello", "checks": {"contains": "Hello"}}) + "\n"
    )
    exports = tmp_path / "exports"
    exports.mkdir()
    env = {"LLM_COMPARE_TEST_KEY": KEY}
    with misbehaving_server(required_key=KEY) as server:
        ref = f"{server.base_url}#ok"
        ran = cli(
            "run",
            "--model",
            ref,
            "--api-key-env",
            "LLM_COMPARE_TEST_KEY",
            "--prompt",
            "hi",
            "--json",
            env=env,
        )
        benched = cli(
            "bench",
            "--model",
            ref,
            "--api-key-env",
            "LLM_COMPARE_TEST_KEY",
            "--prompts",
            str(prompts),
            "--repeat",
            "1",
            "--warmup",
            "0",
            "--csv",
            str(exports / "runs.csv"),
            "--json",
            str(exports / "bench.json"),
            "--md",
            str(exports / "bench.md"),
            env=env,
        )
        failed = cli(
            "run",
            "--model",
            f"{server.base_url}#status-500",
            "--api-key-env",
            "LLM_COMPARE_TEST_KEY",
            "--prompt",
            "hi",
            env=env,
        )
        sent = [
            {k.lower(): v for k, v in headers.items()}.get("authorization")
            for method, _, headers, _ in server.requests
            if method == "POST"
        ]
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert benched.returncode == 0, benched.stderr
    assert failed.returncode == 1
    assert json.loads(ran.stdout)["text"] == "".join(OK_PIECES)  # the key worked: the server demands it
    assert sent and all(value == f"Bearer {KEY}" for value in sent)
    (exports / "results.csv").write_text(to_csv(RunStore().list()))  # the Results page's export
    assert len(RunStore().list()) == 3
    searched = {
        "output and logs": [
            ran.stdout,
            ran.stderr,
            benched.stdout,
            benched.stderr,
            failed.stdout,
            failed.stderr,
        ],
        "files": _texts_of_files(private_home, exports),
    }
    assert len(searched["files"]) >= 6  # the store, its journal files, endpoint health, the exports
    for where, texts in searched.items():
        assert not any(KEY in text for text in texts), f"the API key was found in {where}"
        assert not any(KEY[3:] in text for text in texts), f"part of the API key was found in {where}"


def _texts_of_files(*roots: Path) -> list[str]:
    """The text of every file under `roots`. Read again when one vanished meanwhile: SQLite removes
    its -wal file when the store's last connection closes, after copying it into the database."""
    for _ in range(5):
        try:
            return [
                p.read_bytes().decode("utf-8", "replace")
                for root in roots
                for p in root.rglob("*")
                if p.is_file()
            ]
        except FileNotFoundError:
            continue
    raise AssertionError(f"files kept vanishing under {roots}")
