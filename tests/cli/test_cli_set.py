"""`llm-compare run --set KEY=VALUE`: any setting for one run, checked, never saved; and what
--json says about where a run ran and which settings could not take effect."""

import json

import pytest
from test_cli import cli

from llm_compare.core.config import ModelConfig
from llm_compare.core.models import ModelInfo
from llm_compare.services.discovery.config_manager import ConfigManager
from llm_compare.services.store.run_store import RunStore


def scanned(tiny_dir) -> dict[str, ModelInfo]:
    return {
        m["name"]: ModelInfo.from_dict(m) for m in json.loads(cli("scan", str(tiny_dir), "--json").stdout)
    }


def test_set_applies_to_the_run_only_and_json_says_what_could_not_take_effect(tiny_dir, private_home):
    import llama_cpp

    model = scanned(tiny_dir)["tiny-llama-f32"]
    saved = ModelConfig(max_tokens=3, temperature=0.0, mode="raw", n_gpu_layers=0)
    path = ConfigManager().save(model, saved)
    before = path.read_bytes()
    done = cli(
        "run",
        "--model",
        str(tiny_dir / "tiny-llama-f32.gguf"),
        "--prompt",
        "import sys",
        "--set",
        "n_gpu_layers=5",
        "--set",
        "max_tokens=2",
        "--set",
        'stop=["never"]',
        "--json",
    )
    assert done.returncode == 0, done.stderr
    (line,) = map(json.loads, done.stdout.splitlines())
    assert line["stats"]["completion_tokens"] == 2
    assert "peak_vram_bytes" in line["stats"] and line["stats"]["peak_vram_bytes"] is None
    assert path.read_bytes() == before  # --set is for this run only
    (record,) = RunStore().list()
    assert (record.config["n_gpu_layers"], record.config["max_tokens"], record.config["stop"]) == (
        5,
        2,
        ["never"],
    )
    if llama_cpp.llama_supports_gpu_offload():
        pytest.skip("this llama.cpp can offload: the CPU-only warning cannot show here")
    assert line["device"].startswith("CPU, ")
    assert line["warnings"] == [
        "n_gpu_layers: this llama.cpp is built for the CPU only, so no layer can go to a GPU: run "
        "scripts/setup.sh on a machine with a GPU (see llm-compare doctor)"
    ]
    assert record.runtime["n_gpu_layers"] == "0" and record.device == line["device"]
    assert (line["stats"]["gpu_layers_offloaded"], line["stats"]["gpu_layers_total"]) == (
        0,
        model.metadata.block_count + 1,
    )


def test_auto_on_a_cpu_build_warns_about_nothing(tiny_dir, private_home):
    done = cli(
        "run",
        "--model",
        str(tiny_dir / "tiny-llama-f32.gguf"),
        "--prompt",
        "x",
        "--max-tokens",
        "1",
        "--set",
        "n_gpu_layers=auto",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    (line,) = map(json.loads, done.stdout.splitlines())
    assert line["warnings"] == []
    assert line["device"]


@pytest.mark.parametrize(
    ("setting", "words"),
    [
        (
            "n_gpu_layers=lots",
            "argument --set: n_gpu_layers: input should be a valid integer, or auto (got 'lots')",
        ),
        ("colour=red", "argument --set: colour: unknown setting (valid ones: temperature, "),
        ("device=tpu", "argument --set: device: input should be 'auto', 'cpu', 'cuda' or 'mps' (got 'tpu')"),
        ("max_tokens", "'max_tokens' is not KEY=VALUE"),
        ("=3", "is not KEY=VALUE"),
        ("temperature=9", "temperature: input should be less than or equal to 2 (got 9)"),
    ],
)
def test_a_bad_set_is_a_one_line_usage_error_naming_the_setting(tiny_dir, setting, words):
    done = cli("run", "--model", str(tiny_dir / "tiny-llama-f32.gguf"), "--prompt", "x", "--set", setting)
    assert done.returncode == 2
    [message] = [line for line in done.stderr.splitlines() if "error: " in line]
    assert words in message
    assert "Traceback" not in done.stderr


def test_set_reads_json_when_it_fits_and_text_otherwise():
    from llm_compare.cli.run import parse_setting

    assert parse_setting("n_gpu_layers=auto") == ("n_gpu_layers", "auto")
    assert parse_setting("n_gpu_layers=-1") == ("n_gpu_layers", -1)
    assert parse_setting("seed=null") == ("seed", None)
    assert parse_setting("trust_remote_code=false") == ("trust_remote_code", False)
    assert parse_setting("system_prompt=42") == ("system_prompt", "42")
    assert parse_setting("system_prompt=Be brief.") == ("system_prompt", "Be brief.")
    assert parse_setting("mode=chat") == ("mode", "chat")
