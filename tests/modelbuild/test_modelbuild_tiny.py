import json

import pytest

from llm_compare.modelbuild.tiny import build_random_llama, build_tiny_models
from llm_compare.services.discovery.model_manager import ModelManager


@pytest.mark.slow
def test_tiny_build_is_byte_for_byte_reproducible(built_tiny, tmp_path):
    again = build_tiny_models(tmp_path)
    for original, rebuilt in [
        (built_tiny.gguf_f32, again.gguf_f32),
        (built_tiny.gguf_q8, again.gguf_q8),
        (built_tiny.hf_dir / "model.safetensors", again.hf_dir / "model.safetensors"),
        (built_tiny.hf_dir / "tokenizer.json", again.hf_dir / "tokenizer.json"),
    ]:
        assert original.read_bytes() == rebuilt.read_bytes(), original.name


def test_tiny_folder_has_what_discovery_reads(built_tiny):
    config = json.loads((built_tiny.hf_dir / "config.json").read_text())
    assert (config["model_type"], config["hidden_size"], config["num_hidden_layers"]) == ("llama", 64, 2)
    assert config["tie_word_embeddings"] is False
    generation = json.loads((built_tiny.hf_dir / "generation_config.json").read_text())
    assert (generation["temperature"], generation["top_p"], generation["top_k"]) == (0.7, 0.95, 40)
    assert (built_tiny.hf_dir / "chat_template.jinja").exists()


@pytest.mark.slow
def test_random_llama_of_any_size_in_both_formats(tmp_path):
    built = build_random_llama(tmp_path, hidden=96, layers=3, heads=4, intermediate=256, vocab=640, name="r")
    assert built.hf_dir == tmp_path / "r" and built.gguf_f32 == tmp_path / "r-f32.gguf"
    per_layer = 4 * 96 * 96 + 3 * 96 * 256 + 2 * 96
    assert built.parameters == 2 * 640 * 96 + 3 * per_layer + 96
    assert built.gguf_f32.stat().st_size > built.parameters * 4
    # Both files hold every weight, as discovery counts them from their headers.
    counted = {m.name: (m.type.value, m.metadata.parameters) for m in ModelManager([tmp_path]).scan()}
    assert counted == {"r": ("pytorch", built.parameters), "r-f32": ("gguf", built.parameters)}
