"""The CLI sees other apps' model stores: Ollama's models by their Ollama names, unless switched
off (on the Models page, saved in the data home) or left out with --no-other-apps."""

import json

import pytest
from test_cli import cli

from llm_compare.services.discovery import other_apps
from tests.support.other_app_folders import add_ollama_model

RUN = ("--prompt", "import os", "--max-tokens", "6", "--temperature", "0", "--mode", "raw", "--json")


@pytest.fixture
def empty_models_dir(tmp_path):
    path = tmp_path / "models"
    path.mkdir()
    return path


@pytest.mark.slow
def test_an_ollama_name_is_listed_and_runs_like_its_file(apps_home, tiny_dir, empty_models_dir):
    add_ollama_model(apps_home / ".ollama" / "models", "llama3.2", "3b", tiny_dir / "tiny-llama-f32.gguf")
    done = cli("scan", str(empty_models_dir), "--json")
    assert done.returncode == 0, done.stderr
    (model,) = json.loads(done.stdout)
    assert (model["name"], model["type"], model["metadata"]["app"], model["error"]) == (
        "llama3.2:3b",
        "gguf",
        "Ollama",
        None,
    )
    text = cli("scan", str(empty_models_dir))
    assert "llama3.2:3b" in text.stdout and "Ollama" in text.stdout

    by_name = cli("run", "--models-dir", str(empty_models_dir), "--model", "llama3.2:3b", *RUN)
    by_file = cli(
        "run", "--models-dir", str(empty_models_dir), "--model", str(tiny_dir / "tiny-llama-f32.gguf"), *RUN
    )
    assert by_name.returncode == by_file.returncode == 0, by_name.stderr + by_file.stderr
    ours, theirs = json.loads(by_name.stdout), json.loads(by_file.stdout)
    assert ours["model"]["name"] == "llama3.2:3b" and ours["model"]["path"] != theirs["model"]["path"]
    assert ours["text"] and ours["text"] == theirs["text"]
    assert ours["stats"]["completion_tokens"] == theirs["stats"]["completion_tokens"] == 6


def test_no_stores_and_a_store_switched_off_leave_ollamas_models_out(apps_home, tiny_dir, empty_models_dir):
    add_ollama_model(apps_home / ".ollama" / "models", "llama3.2", "3b", tiny_dir / "tiny-llama-f32.gguf")
    assert json.loads(cli("scan", str(empty_models_dir), "--no-other-apps", "--json").stdout) == []
    done = cli(
        "run", "--models-dir", str(empty_models_dir), "--model", "llama3.2:3b", "--no-other-apps", *RUN
    )
    assert done.returncode == 2 and "no model matches 'llama3.2:3b'" in done.stderr
    other_apps.set_app_folder_on(other_apps.OLLAMA, False)  # what the Models page's switch saves
    assert json.loads(cli("scan", str(empty_models_dir), "--json").stdout) == []
    other_apps.set_app_folder_on(other_apps.OLLAMA, True)
    assert [m["name"] for m in json.loads(cli("scan", str(empty_models_dir), "--json").stdout)] == [
        "llama3.2:3b"
    ]


@pytest.mark.slow
def test_bench_takes_an_ollama_name(apps_home, tiny_dir, empty_models_dir, tmp_path):
    add_ollama_model(apps_home / ".ollama" / "models", "llama3.2", "3b", tiny_dir / "tiny-llama-f32.gguf")
    suite = tmp_path / "one.jsonl"
    suite.write_text('{"id": "a", "prompt": "def f", "max_tokens": 3}\n')
    out = tmp_path / "runs.csv"
    args = (
        "bench",
        "--models-dir",
        str(empty_models_dir),
        "--model",
        "llama3.2:3b",
        "--prompts",
        str(suite),
        "--repeat",
        "1",
        "--warmup",
        "0",
        "--include-busy",
        "--csv",
        str(out),
    )
    done = cli(*args)
    assert done.returncode == 0, done.stderr
    assert "| llama3.2:3b |" in done.stdout and "llama3.2:3b" in out.read_text()
    assert cli(*args, "--no-stores").returncode == 2  # the flag's name before --no-other-apps still works
