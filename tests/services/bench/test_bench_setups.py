"""What a benchmark pins of each model: its key, and the spec that keeps it across a resume."""

from llm_compare.core.config import ModelConfig
from llm_compare.services.bench.runner import BenchmarkSpec
from llm_compare.services.bench.setups import pin_setups, setup_key
from llm_compare.services.bench.suites import Suite, SuitePrompt
from llm_compare.services.discovery.fingerprint import why_changed


def test_a_setup_key_is_the_model_id_alone_or_with_its_overrides_in_one_order():
    assert setup_key("tiny-1a2b") == "tiny-1a2b"
    assert setup_key("tiny-1a2b", {"flash_attn": "on"}) == "tiny-1a2b [flash_attn=on]"
    assert setup_key("m", {"n_ctx": 4096, "flash_attn": "on"}) == setup_key(
        "m", {"flash_attn": "on", "n_ctx": 4096}
    )


def test_a_stored_spec_gives_back_each_models_settings_path_and_fingerprint(tiny_models):
    hf, gguf = tiny_models["hf"], tiny_models["gguf_f32"]
    configs = {hf.id: ModelConfig(top_k=7), gguf.id: ModelConfig(n_ctx=256, temperature=0.0)}
    spec = BenchmarkSpec((hf.id, gguf.id), Suite("one", (SuitePrompt("a", "def f"),)))
    pinned = BenchmarkSpec.from_dict(
        BenchmarkSpec(**{**spec.__dict__, "setups": pin_setups([hf, gguf], configs)}).to_dict()
    )
    for model in (hf, gguf):
        setup = pinned.setups[model.id]
        assert setup.model_config() == configs[model.id] and setup.path == model.path
        assert why_changed(model, setup.fingerprint) is None
    assert set(pinned.setups[hf.id].fingerprint) == set(hf.metadata.files)  # every file of the folder
