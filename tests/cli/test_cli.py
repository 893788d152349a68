"""The CLI contract other tools rely on: scan/run output shapes and exit codes."""

import json
import os
import shutil
import signal
import subprocess
import sys

import pytest

from llm_compare.core.results import STAT_HELP
from llm_compare.core.text import terminal_safe
from llm_compare.services.store.query import RunQuery
from llm_compare.services.store.run_store import RunStore

MODEL_KEYS = {"id", "name", "type", "path", "size_bytes", "metadata", "error"}


def cli(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "llm_compare.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=os.environ.copy(),
    )


@pytest.fixture(scope="module")
def models_with_broken(tiny_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("cli-models")
    shutil.copy(tiny_dir / "tiny-llama-f32.gguf", root)
    shutil.copytree(tiny_dir / "tiny-llama", root / "tiny-llama")
    (root / "noise.gguf").write_bytes(os.urandom(4096))
    return root


def test_scan_json_lists_models_and_unreadable_files(models_with_broken):
    done = cli("scan", str(models_with_broken), "--json")
    assert done.returncode == 0, done.stderr
    models = json.loads(done.stdout)
    assert all(set(m) == MODEL_KEYS for m in models)
    by_name = {m["name"]: m for m in models}
    assert by_name["tiny-llama"]["type"] == "pytorch" and by_name["tiny-llama-f32"]["type"] == "gguf"
    assert by_name["tiny-llama-f32"]["metadata"]["quantization"] == "F32"
    assert by_name["tiny-llama"]["error"] is None
    assert "not a GGUF file" in by_name["noise"]["error"]


def test_one_hostile_config_stops_neither_scan_nor_run_of_the_other_models(tiny_dir, tmp_path, private_home):
    """A 2 KB config.json of 1,000 nested `[` once made Python's parser raise RecursionError."""
    shutil.copy(tiny_dir / "tiny-llama-f32.gguf", tmp_path)
    shutil.copytree(tiny_dir / "tiny-llama", tmp_path / "hostile")
    (tmp_path / "hostile" / "config.json").write_text("[" * 1000 + "]" * 1000)
    done = cli("scan", str(tmp_path), "--json")
    assert done.returncode == 0, done.stderr
    errors = {m["name"]: m["error"] for m in json.loads(done.stdout)}
    assert errors == {
        "hostile": "config.json nests JSON 1,000 levels deep; discovery reads at most 64",
        "tiny-llama-f32": None,
    }
    done = cli(
        "run",
        "--models-dir",
        str(tmp_path),
        "--model",
        "tiny-llama-f32",
        "--prompt",
        "import os",
        "--max-tokens",
        "3",
        "--temperature",
        "0",
        "--mode",
        "raw",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    (result,) = map(json.loads, done.stdout.splitlines())
    assert (result["finish_reason"], result["stats"]["completion_tokens"]) == ("length", 3)


def test_scan_readable_output_names_each_model(models_with_broken):
    models = json.loads(cli("scan", str(models_with_broken), "--json").stdout)
    done = cli("scan", str(models_with_broken))
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    assert len(lines) == len(models) == 3
    for model, line in zip(models, lines):  # one line each: id, backend, then details or the reason
        assert line.split()[:2] == [model["id"], model["type"]]
        assert (model["error"] or model["metadata"]["quantization"]) in line


@pytest.mark.slow
def test_run_json_gives_one_object_per_model_and_saves_the_runs(tiny_dir, private_home):
    ids = {m["name"]: m["id"] for m in json.loads(cli("scan", str(tiny_dir), "--json").stdout)}
    done = cli(
        "run",
        "--models-dir",
        str(tiny_dir),
        "--model",
        ids["tiny-llama-f32"],
        "--model",
        str(tiny_dir / "tiny-llama"),
        "--prompt",
        "import sys",
        "--max-tokens",
        "6",
        "--temperature",
        "0",
        "--mode",
        "raw",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(lines) == 2
    for line in lines:
        assert set(line) == {"model", "text", "finish_reason", "error", "warnings", "device", "stats"}
        assert set(line["model"]) == MODEL_KEYS
        assert set(line["stats"]) == set(STAT_HELP)
        assert line["finish_reason"] == "length" and line["error"] is None
        assert line["stats"]["completion_tokens"] == 6
    assert lines[0]["text"] == lines[1]["text"]  # same weights, greedy
    stored = {record.model["id"]: record.stats for record in RunStore().list()}
    assert len(stored) == 2
    split = ("peak_private_bytes", "peak_file_bytes")
    for line in lines:  # the worker's own figures reach the output and the store unchanged
        stats = line["stats"]
        if sys.platform.startswith("linux"):
            assert 0 < stats["peak_private_bytes"] + stats["peak_file_bytes"] <= stats["peak_rss_bytes"]
        assert stats["peak_vram_bytes"] is None  # a CPU run
        assert {name: stored[line["model"]["id"]][name] for name in split} == {
            name: stats[name] for name in split
        }
    columns = RunStore().figures(RunQuery(), split, 10)
    assert sorted(map(tuple, map(dict.values, columns))) == sorted(
        tuple(line["stats"][name] for name in split) for line in lines
    )


def test_run_readable_output_streams_text_and_a_stats_line(tiny_dir, private_home):
    done = cli(
        "run",
        "--model",
        str(tiny_dir / "tiny-llama-q8_0.gguf"),
        "--prompt",
        "x = ",
        "--max-tokens",
        "4",
        "--seed",
        "1",
    )
    assert done.returncode == 0, done.stderr
    [stored] = RunStore().list()
    shown = terminal_safe(stored.text, keep="\n\t")
    assert stored.text and f"── tiny-llama-q8_0 (gguf) ──\n{shown}\n" in done.stdout
    assert "decode" in done.stdout and "→ 4 tokens" in done.stdout


@pytest.mark.slow
def test_run_exits_1_when_a_model_fails_and_says_why(tiny_dir, tmp_path):
    broken = tmp_path / "hollow"
    shutil.copytree(tiny_dir / "tiny-llama", broken)
    (broken / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    done = cli(
        "run",
        "--model",
        str(broken),
        "--model",
        str(tiny_dir / "tiny-llama-f32.gguf"),
        "--prompt",
        "a",
        "--max-tokens",
        "3",
        "--json",
    )
    assert done.returncode == 1
    results = {json.loads(line)["model"]["name"]: json.loads(line) for line in done.stdout.splitlines()}
    assert results["hollow"]["finish_reason"] == "error" and "missing" in results["hollow"]["error"]
    assert results["tiny-llama-f32"]["error"] is None


@pytest.fixture(scope="module")
def cut_ggufs(tiny_dir, tmp_path_factory):
    """Copies of a real GGUF cut short, as interrupted downloads leave them: by name, where cut."""
    root = tmp_path_factory.mktemp("cut")
    data = (tiny_dir / "tiny-llama-f32.gguf").read_bytes()
    cuts = {"cut-in-tensor-data": len(data) * 2 // 3, "cut-in-header": 100, "cut-to-nothing": 0}
    for name, size in cuts.items():
        (root / f"{name}.gguf").write_bytes(data[:size])
    return {name: root / f"{name}.gguf" for name in cuts}


@pytest.mark.slow
@pytest.mark.parametrize("as_json", [True, False], ids=["json", "text"])
def test_broken_models_fail_alone_and_the_others_run(tiny_dir, cut_ggufs, private_home, as_json):
    """Five models, more than the dashboard shows at once: three cut files and two good ones."""
    refs = [
        cut_ggufs["cut-in-tensor-data"],
        tiny_dir / "tiny-llama-q8_0.gguf",
        cut_ggufs["cut-in-header"],
        cut_ggufs["cut-to-nothing"],
        tiny_dir / "tiny-llama",
    ]
    done = cli(
        "run",
        *[a for ref in refs for a in ("--model", str(ref))],
        "--prompt",
        "import os",
        "--max-tokens",
        "4",
        "--temperature",
        "0",
        "--mode",
        "raw",
        *(["--json"] if as_json else []),
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    reasons = {
        "cut-in-tensor-data": "cut-in-tensor-data.gguf cannot be used: truncated tensor data",
        "cut-in-header": "cut-in-header.gguf cannot be used: truncated header",
        "cut-to-nothing": "cut-to-nothing.gguf cannot be used: not a GGUF file (the file is empty)",
    }
    if as_json:
        results = {line["model"]["name"]: line for line in map(json.loads, done.stdout.splitlines())}
        assert set(results) == {*reasons, "tiny-llama-q8_0", "tiny-llama"}
        for name, reason in reasons.items():
            broken = results[name]
            assert set(broken) == {"model", "text", "finish_reason", "error", "stats", "warnings", "device"}
            assert broken["finish_reason"] == "error" and broken["text"] == ""
            assert broken["error"].startswith(reason) and "\n" not in broken["error"]
            assert set(broken["stats"]) == set(STAT_HELP)
            assert broken["stats"]["ttft_s"] is None and broken["stats"]["load_s"] is None
        for name in ("tiny-llama-q8_0", "tiny-llama"):
            assert results[name]["error"] is None and results[name]["finish_reason"] == "length"
            assert results[name]["text"] and results[name]["stats"]["completion_tokens"] == 4
    else:
        for name, reason in reasons.items():
            assert f"── {name} (gguf) ──" in done.stdout and f"error: {reason}" in done.stdout
        for header in ("── tiny-llama-q8_0 (gguf) ──", "── tiny-llama (pytorch) ──"):
            answer = done.stdout.split(header)[1].split("──")[0]
            assert "→ 4 tokens" in answer and "error:" not in answer
    stored = {run.model["name"]: run.finish_reason for run in RunStore().list()}
    assert stored == {**dict.fromkeys(reasons, "error"), "tiny-llama-q8_0": "length", "tiny-llama": "length"}


def test_only_broken_models_exit_1_with_an_object_each(cut_ggufs):
    done = cli("run", "--model", str(cut_ggufs["cut-in-header"]), "--prompt", "x", "--json")
    assert done.returncode == 1, done.stderr
    (line,) = map(json.loads, done.stdout.splitlines())
    assert line["finish_reason"] == "error" and "cut-in-header.gguf cannot be used" in line["error"]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["run", "--model", "no-such-model", "--prompt", "x"], "no model matches 'no-such-model'"),
        # Bad usage stays bad usage when a named model is broken too.
        (["run", "--model", "{cut}", "--model", "no-such-model", "--prompt", "x"], "no model matches"),
        (["run", "--model", "{cut}", "--prompt", "  "], "the prompt is empty"),
        (
            ["run", "--model", "{cut}", "--model", "{gguf}", "--prompt", "x", "--top-p", "0"],
            "top_p: input should be",
        ),
        (["run", "--model", "{cut}"], "one of the arguments --prompt --prompt-file is required"),
        (["run", "--model", "{cut}", "--prompt", "x", "--colour"], "unrecognized arguments: --colour"),
        (
            ["run", "--model", "{gguf}", "--prompt", "x", "--temperature", "9"],
            "temperature: input should be less than or equal to 2",
        ),
        (["run", "--model", "{gguf}", "--prompt", "  "], "the prompt is empty"),
        (["run", "--model", "{gguf}"], "one of the arguments --prompt --prompt-file is required"),
        (["run", "--model", "{gguf}", "--prompt", "x", "--mode", "poem"], "invalid choice"),
    ],
)
def test_bad_usage_exits_2_with_one_line(tiny_dir, cut_ggufs, args, words):
    paths = {"{gguf}": str(tiny_dir / "tiny-llama-f32.gguf"), "{cut}": str(cut_ggufs["cut-in-tensor-data"])}
    done = cli(*[paths.get(a, a) for a in args])
    assert done.returncode == 2
    [message] = [line for line in done.stderr.splitlines() if "error: " in line]
    assert words in message
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_ctrl_c_cancels_prints_each_partial_answer_in_its_own_block_and_exits_130(
    long_context_dir, tiny_dir, private_home
):
    command = [
        sys.executable,
        "-m",
        "llm_compare.cli",
        "run",
        "--model",
        str(long_context_dir / "long-llama"),
        "--model",
        str(tiny_dir / "tiny-llama-f32.gguf"),
        "--prompt",
        "import os",
        "--max-tokens",
        "3000",
        "--temperature",
        "0",
        "--mode",
        "raw",
    ]
    # Unbuffered: readline() then takes only the header, and communicate() gets all the rest.
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0, env=os.environ.copy()
    )
    try:
        header = process.stdout.readline().decode()  # printed with the first streamed text
        process.send_signal(signal.SIGINT)
        rest, err = (stream.decode() for stream in process.communicate(timeout=60))
    finally:
        process.kill()
    assert header.startswith("── long-llama (pytorch) ──"), err
    assert process.returncode == 130  # interrupted, as shells report it
    stored = {run.model["name"]: run for run in RunStore().list()}
    first, second = stored["long-llama"], stored["tiny-llama-f32"]
    assert first.finish_reason == "cancelled" and 0 < first.stats["completion_tokens"] < 3000
    assert second.finish_reason == "cancelled" and second.text == ""  # never started
    # The partial answer as it was saved, its line ended, its stats; then the next model's block
    # (which reports first, as it never started, but must not be glued to the streamed text).
    first_block, second_block = rest.split("── tiny-llama-f32 (gguf) ──\n")
    assert first_block.startswith(terminal_safe(first.text, keep="\n\t") + "\n")
    assert " · cancelled" in first_block.rstrip().splitlines()[-1]
    assert " · cancelled" in second_block.rstrip().splitlines()[-1]


@pytest.mark.slow
def test_run_keeps_the_valid_saved_settings_and_warns_about_the_rest(tiny_dir, private_home):
    ids = {m["name"]: m["id"] for m in json.loads(cli("scan", str(tiny_dir), "--json").stdout)}
    configs = private_home / "configs"
    configs.mkdir(parents=True)
    (configs / f"{ids['tiny-llama-f32']}.json").write_text(
        json.dumps({"config": {"max_tokens": 3, "temperature": 0.0, "mode": "raw", "top_k": True}})
    )
    (configs / f"{ids['tiny-llama-q8_0']}.json").mkdir()  # a directory where a settings file belongs
    done = cli(
        "run",
        "--models-dir",
        str(tiny_dir),
        "--model",
        ids["tiny-llama-f32"],
        "--model",
        ids["tiny-llama-q8_0"],
        "--prompt",
        "import sys",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    results = {json.loads(line)["model"]["name"]: json.loads(line) for line in done.stdout.splitlines()}
    assert results["tiny-llama-f32"]["stats"]["completion_tokens"] == 3  # the valid saved max_tokens held
    assert results["tiny-llama-q8_0"]["error"] is None  # ran on its defaults
    warnings = [line for line in done.stderr.splitlines() if line.startswith("warning: ")]
    assert (
        "warning: Saved setting top_k of tiny-llama-f32 not used: input should be a valid integer (got "
        "True); using the default instead." in warnings
    )
    assert any("tiny-llama-q8_0 not used" in w and "is a directory" in w for w in warnings)
    assert "Traceback" not in done.stderr


def test_the_cli_searches_the_model_folders_saved_on_the_dashboard(tiny_dir, tmp_path, monkeypatch):
    """The Models page's folders apply to both: without --models-dir or $LLM_COMPARE_MODELS_DIR,
    `scan` and `run` find the models there; --models-dir replaces them."""
    from llm_compare.ui import settings

    settings.save_model_dirs([str(tiny_dir)])  # as the Models page's Apply does
    monkeypatch.delenv("LLM_COMPARE_MODELS_DIR", raising=False)
    monkeypatch.chdir(tmp_path)  # no ./models here

    scanned = json.loads(cli("scan", "--json").stdout)
    assert {m["name"] for m in scanned} == {"tiny-llama", "tiny-llama-f32", "tiny-llama-q8_0"}
    ran = cli("run", "--model", "tiny-llama-f32", "--prompt", "def", "--max-tokens", "2", "--json")
    assert ran.returncode == 0, ran.stderr
    other = tmp_path / "other"
    other.mkdir()
    assert json.loads(cli("scan", str(other), "--json").stdout) == []
    refused = cli("run", "--models-dir", str(other), "--model", "tiny-llama-f32", "--prompt", "def")
    assert refused.returncode == 2 and "no model matches 'tiny-llama-f32'" in refused.stderr
