"""Other apps' model stores: Ollama's manifests and blobs, LM Studio's folders and the Hugging Face
hub cache, laid out as those apps write them around the tiny models, found, named and run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from llm_compare.core.models import ModelType
from llm_compare.services.discovery import other_apps
from llm_compare.services.discovery.model_manager import ModelManager
from llm_compare.services.discovery.ollama import MODEL_LAYER
from llm_compare.services.engine.engine import InferenceEngine
from llm_compare.system.settings_file import settings_path
from tests.support.other_app_folders import (
    add_hf_cache_repo,
    add_lmstudio_model,
    add_ollama_model,
    sha256_file,
    write_ollama_manifest,
)

PULL_AGAIN = "pull it again (`ollama pull {0}`) or remove it (`ollama rm {0}`)"


def scan_stores() -> dict[str, object]:
    """The models of the stores switched on (no model directory), by name."""
    return {m.name: m for m in ModelManager([], app_folders=other_apps.enabled_app_folders()).scan()}


def test_the_suite_never_sees_the_users_stores():
    assert other_apps.app_folders_disabled_by_env() and other_apps.enabled_app_folders() == []


def test_an_ollama_model_is_listed_under_its_ollama_name_with_its_files_header(
    apps_home, tiny_dir, tiny_models
):
    ollama = apps_home / ".ollama" / "models"
    gguf = tiny_dir / "tiny-llama-f32.gguf"
    add_ollama_model(ollama, "llama3.2", "3b", gguf)
    add_ollama_model(ollama, "llama3.2", "latest", gguf)  # a second tag of the same blob
    add_ollama_model(ollama, "tiny", "q8", tiny_dir / "tiny-llama-q8_0.gguf", namespace="someone")
    add_ollama_model(
        ollama, "tiny-GGUF", "Q8_0", tiny_dir / "tiny-llama-q8_0.gguf", registry="hf.co", namespace="org"
    )
    found = scan_stores()
    assert sorted(found) == ["hf.co/org/tiny-GGUF:Q8_0", "llama3.2:3b"]  # one row per file
    assert found["hf.co/org/tiny-GGUF:Q8_0"].metadata.aliases == ["someone/tiny:q8"]
    model = found["llama3.2:3b"]
    blob = ollama / "blobs" / f"sha256-{sha256_file(gguf)}"
    assert (model.type, model.path, model.size_bytes, model.error) == (
        ModelType.GGUF,
        str(blob),
        gguf.stat().st_size,
        None,
    )
    meta = model.metadata
    assert (meta.app, meta.architecture, meta.quantization, meta.aliases) == (
        "Ollama",
        "llama",
        "F32",
        ["llama3.2:latest", "llama3.2"],
    )
    # The same figures as the Hugging Face folder the file was converted from (read independently).
    hf = tiny_models["hf"].metadata
    assert (meta.parameters, meta.context_length, meta.vocab_size, meta.block_count) == (
        hf.parameters,
        hf.context_length,
        hf.vocab_size,
        hf.block_count,
    )
    assert found["hf.co/org/tiny-GGUF:Q8_0"].metadata.quantization == "Q8_0"
    manager = ModelManager([], app_folders=other_apps.enabled_app_folders())
    assert {manager.get(name).id for name in ("llama3.2:3b", "llama3.2:latest", "llama3.2", model.id)} == {
        model.id
    }
    assert manager.get("someone/tiny:q8").name == "hf.co/org/tiny-GGUF:Q8_0"


@pytest.mark.slow
def test_an_ollama_model_runs_exactly_like_its_gguf_file(apps_home, tiny_dir, tiny_models, greedy):
    add_ollama_model(apps_home / ".ollama" / "models", "tiny", "f32", tiny_dir / "tiny-llama-f32.gguf")
    ollama_model, direct = scan_stores()["tiny:f32"], tiny_models["gguf_f32"]
    engine = InferenceEngine()
    try:
        events = list(
            engine.run("import os\n", [ollama_model, direct], {ollama_model.id: greedy, direct.id: greedy})
        )
    finally:
        engine.shutdown()
    results = {e.model_id: e.result for e in events if e.kind == "done"}
    ours, theirs = results[ollama_model.id], results[direct.id]
    assert ours.error is None and theirs.error is None
    assert ours.text and ours.text == theirs.text
    assert (
        (ours.stats.prompt_tokens, ours.stats.completion_tokens)
        == (theirs.stats.prompt_tokens, theirs.stats.completion_tokens)
        == (theirs.stats.prompt_tokens, greedy.max_tokens)
    )


def test_each_broken_ollama_entry_is_one_row_with_its_reason(apps_home, tiny_dir):
    ollama = apps_home / ".ollama" / "models"
    add_ollama_model(ollama, "good", "1b", tiny_dir / "tiny-llama-f32.gguf")
    add_ollama_model(ollama, "gone", "1b", None, model_digest="sha256:" + "ab" * 32)
    write_ollama_manifest(ollama, "cut", "1b", '{"schemaVersion": 2, "layers": [')
    write_ollama_manifest(ollama, "nolayers", "1b", json.dumps({"schemaVersion": 2}))
    write_ollama_manifest(
        ollama,
        "template-only",
        "1b",
        json.dumps(
            {
                "layers": [
                    {"mediaType": "application/vnd.ollama.image.template", "digest": "sha256:" + "cd" * 32}
                ]
            }
        ),
    )
    write_ollama_manifest(
        ollama, "baddigest", "1b", json.dumps({"layers": [{"mediaType": MODEL_LAYER, "digest": "md5:1234"}]})
    )
    add_ollama_model(ollama, "tuned", "1b", tiny_dir / "tiny-llama-f32.gguf", adapter=True)
    add_ollama_model(ollama, "fake", "1b", tiny_dir / "tiny-llama" / "config.json")  # a blob that is no GGUF
    loop = ollama / "manifests" / "registry.ollama.ai" / "library" / "looping"
    loop.symlink_to("looping")  # a folder that cannot be read (as root, permissions would not stop us)
    errors = {name: m.error for name, m in scan_stores().items()}
    blobs = ollama / "blobs"
    assert errors == {
        "good:1b": None,
        "gone:1b": f"its model blob sha256-abababababab… is missing from {blobs}: "
        + PULL_AGAIN.format("gone:1b"),
        "cut:1b": "its manifest is not valid JSON (Expecting value at line 1 column 33): "
        + PULL_AGAIN.format("cut:1b"),
        "nolayers:1b": "its manifest has no list of layers: " + PULL_AGAIN.format("nolayers:1b"),
        "template-only:1b": (
            f"its manifest has no model layer ({MODEL_LAYER}): not a model llm-compare can read"
        ),
        "baddigest:1b": "its manifest's model layer has no valid digest (got 'md5:1234'): "
        + PULL_AGAIN.format("baddigest:1b"),
        "tuned:1b": (
            "it applies a LoRA adapter on its base model, which llm-compare does not: compare the base model"
        ),
        "fake:1b": "not a GGUF file (magic bytes are b'{\\n  ', expected b'GGUF')",
        "looping": "cannot read this folder of Ollama's manifests (Too many levels of symbolic links): "
        "check its permissions and links",
    }
    shutil.rmtree(ollama / "manifests")
    (ollama / "manifests").symlink_to("manifests")  # the whole folder unreadable: one row says so
    assert {name: m.error for name, m in scan_stores().items()} == {
        "Ollama's manifests": (
            "cannot read this folder of Ollama's manifests (Too many levels of symbolic links): "
            "check its permissions and links"
        ),
    }
    shutil.rmtree(ollama)
    ollama.mkdir()  # as Ollama leaves it before the first pull: no manifests folder, no models, no complaint
    assert scan_stores() == {}


def test_lm_studio_folders_are_found_where_lm_studio_keeps_them(apps_home, tiny_dir):
    add_lmstudio_model(
        apps_home / ".lmstudio" / "models", "someone", "tiny-GGUF", tiny_dir / "tiny-llama-q8_0.gguf"
    )
    old = apps_home / ".cache" / "lm-studio" / "models"  # LM Studio before 0.3
    add_lmstudio_model(old, "someone", "tiny-f32-GGUF", tiny_dir / "tiny-llama-f32.gguf")
    found = scan_stores()
    assert {name: (m.metadata.app, m.error) for name, m in found.items()} == {
        "tiny-llama-q8_0": ("LM Studio", None),
        "tiny-llama-f32": ("LM Studio", None),
    }
    moved = apps_home / "elsewhere" / ".lmstudio"  # the folder the user moved LM Studio to
    (apps_home / ".lmstudio-home-pointer").write_text(f"{moved}\n")
    add_lmstudio_model(moved / "models", "someone", "moved-GGUF", tiny_dir / "tiny-llama-q8_0.gguf")
    assert (
        next(s.path for s in other_apps.find_app_folders() if s.kind == other_apps.LMSTUDIO)
        == moved / "models"
    )


def test_the_hugging_face_hub_cache_is_read_through_its_symlinks(apps_home, tiny_dir, tiny_models):
    hub = apps_home / ".cache" / "huggingface" / "hub"
    snapshot = add_hf_cache_repo(hub, "someone/tiny-llama", tiny_dir / "tiny-llama")
    add_hf_cache_repo(hub, "someone/tiny-llama-GGUF", tiny_dir / "tiny-llama-f32.gguf")
    assert (snapshot / "config.json").is_symlink()
    found = scan_stores()
    # Named by the repository and the file, never by a bare blob's hash; each listed once.
    assert sorted(found) == ["tiny-llama", "tiny-llama-f32"]
    hf, gguf = found["tiny-llama"], found["tiny-llama-f32"]
    assert (hf.type, hf.path, hf.error, hf.metadata.app) == (
        ModelType.PYTORCH,
        str(snapshot),
        None,
        "Hugging Face cache",
    )
    assert hf.metadata.parameters == tiny_models["hf"].metadata.parameters
    assert gguf.error is None and Path(gguf.path).parent.name == "blobs"
    # $HF_HUB_CACHE, then $HF_HOME/hub, decide where the cache is, as in huggingface_hub.
    moved = apps_home / "hf-home"
    shutil.move(apps_home / ".cache" / "huggingface", moved)
    assert scan_stores() == {}
    assert set(stores_with_env("HF_HOME", moved)) == {"tiny-llama", "tiny-llama-f32"}
    assert set(stores_with_env("HF_HUB_CACHE", moved / "hub")) == {"tiny-llama", "tiny-llama-f32"}


def stores_with_env(name: str, value: Path) -> dict[str, object]:
    import os

    env = {**os.environ, name: str(value)}
    return {m.name: m for m in ModelManager([], app_folders=other_apps.enabled_app_folders(env)).scan()}


def test_where_each_app_keeps_its_models(tmp_path):
    home = tmp_path
    located = {(s.kind, s.path) for s in other_apps.app_folder_locations({}, home)}
    assert located == {
        (other_apps.OLLAMA, home / ".ollama" / "models"),
        (other_apps.OLLAMA, other_apps.OLLAMA_SERVICE_MODELS),
        (other_apps.LMSTUDIO, home / ".lmstudio" / "models"),
        (other_apps.LMSTUDIO, home / ".cache" / "lm-studio" / "models"),
        (other_apps.HUGGINGFACE, home / ".cache" / "huggingface" / "hub"),
    }
    env = {"OLLAMA_MODELS": "/srv/ollama", "XDG_CACHE_HOME": "/var/cache/me"}
    located = {(s.kind, s.path) for s in other_apps.app_folder_locations(env, home)}
    assert (other_apps.OLLAMA, Path("/srv/ollama")) in located and (
        other_apps.OLLAMA,
        other_apps.OLLAMA_SERVICE_MODELS,
    ) not in located
    assert (other_apps.HUGGINGFACE, Path("/var/cache/me/huggingface/hub")) in located
    assert (
        other_apps.find_app_folders({"OLLAMA_MODELS": str(home / "absent")}, home) == []
    )  # only what exists is offered


def test_a_store_switched_off_hides_its_models_until_switched_on(apps_home, tiny_dir):
    add_ollama_model(apps_home / ".ollama" / "models", "tiny", "f32", tiny_dir / "tiny-llama-f32.gguf")
    add_lmstudio_model(
        apps_home / ".lmstudio" / "models", "someone", "tiny-GGUF", tiny_dir / "tiny-llama-q8_0.gguf"
    )
    assert set(scan_stores()) == {"tiny:f32", "tiny-llama-q8_0"}
    other_apps.set_app_folder_on(other_apps.OLLAMA, False)
    assert set(scan_stores()) == {"tiny-llama-q8_0"}
    assert json.loads(settings_path().read_text())["stores_off"] == ["ollama"]  # kept in the data home
    assert [s.kind for s in other_apps.find_app_folders()] == [
        other_apps.OLLAMA,
        other_apps.LMSTUDIO,
    ]  # still offered
    other_apps.set_app_folder_on(other_apps.OLLAMA, True)
    assert set(scan_stores()) == {"tiny:f32", "tiny-llama-q8_0"}
    assert other_apps.enabled_app_folders({other_apps.NO_OTHER_APPS_ENV: "1"}) == []
    assert other_apps.enabled_app_folders({"LLM_COMPARE_NO_STORES": "1"}) == []  # its name before
    assert other_apps.enabled_app_folders({other_apps.NO_OTHER_APPS_ENV: "0"}) != []
