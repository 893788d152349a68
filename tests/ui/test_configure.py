"""The settings form: drawn from the schema, validated beside each field, saved only when valid."""

import json

from dashboard_testing import ids_by_name, no_exception, rendered, select

from llm_compare.core.config import ModelConfig
from llm_compare.services.discovery.config_manager import ConfigManager


def open_configure(make_app, tiny_dir, *names):
    at = select(make_app(tiny_dir), *names)
    ids = ids_by_name(at)
    at.switch_page("pages/configure.py").run()
    no_exception(at)
    return at, ids


def key(model_id, field):
    return f"cfg:{model_id}:{field}"


def test_the_form_has_a_widget_for_every_setting(make_app, tiny_dir):
    at, ids = open_configure(make_app, tiny_dir, "tiny-llama-f32")
    gguf = ids["tiny-llama-f32"]
    widgets = [*at.slider, *at.number_input, *at.selectbox, *at.toggle, *at.text_area, *at.text_input]
    form_keys = {w.key for w in widgets if w.key.startswith(f"cfg:{gguf}:")}
    assert form_keys == {key(gguf, name) for name in ModelConfig.model_fields}
    assert at.slider(key=key(gguf, "temperature")).value == 0.7  # the model's own default
    assert at.number_input(key=key(gguf, "max_tokens")).value == 256
    assert at.number_input(key=key(gguf, "n_ctx")).value == 512  # capped at the model's context
    assert at.number_input(key=key(gguf, "seed")).value is None  # unset
    assert at.selectbox(key=key(gguf, "mode")).options == ["auto", "chat", "raw"]
    assert at.text_area(key=key(gguf, "stop")).value == ""
    assert at.text_input(key=key(gguf, "n_gpu_layers")).value == "auto"
    assert at.selectbox(key=key(gguf, "device")).options == ["auto", "cpu", "cuda", "mps"]
    # Settings llama.cpp ignores are shown disabled, with the reason.
    assert (
        at.selectbox(key=key(gguf, "dtype")).disabled
        and at.toggle(key=key(gguf, "trust_remote_code")).disabled
    )
    assert any("GGUF files carry no code" in c.value for c in at.caption)


def test_saved_settings_persist_and_reset_restores_the_defaults(make_app, tiny_dir, private_home):
    at, ids = open_configure(make_app, tiny_dir, "tiny-llama-f32")
    gguf = ids["tiny-llama-f32"]
    at.slider(key=key(gguf, "temperature")).set_value(0.2).run()
    at.number_input(key=key(gguf, "seed")).set_value(42).run()
    at.text_area(key=key(gguf, "stop")).input("###\\n\nEND").run()
    at.button(key=f"cfg-save:{gguf}").click().run()
    no_exception(at)
    assert any(s.value.startswith("Saved") for s in at.success)
    saved = json.loads((private_home / "configs" / f"{gguf}.json").read_text())["config"]
    assert (saved["temperature"], saved["seed"], saved["stop"]) == (0.2, 42, ["###\n", "END"])

    at.button(key=f"cfg-reset:{gguf}").click().run()
    assert not (private_home / "configs" / f"{gguf}.json").exists()
    assert at.slider(key=key(gguf, "temperature")).value == 0.7
    assert at.number_input(key=key(gguf, "seed")).value is None


def test_an_invalid_value_is_shown_beside_its_field_and_never_saved(make_app, tiny_dir, private_home):
    at, ids = open_configure(make_app, tiny_dir, "tiny-llama-f32")
    gguf = ids["tiny-llama-f32"]
    at.slider(key=key(gguf, "temperature")).set_value(0.3).run()
    at.button(key=f"cfg-save:{gguf}").click().run()
    saved_file = private_home / "configs" / f"{gguf}.json"
    before = saved_file.read_text()

    at.text_area(key=key(gguf, "stop")).input("\n".join(f"stop{i}" for i in range(17))).run()
    no_exception(at)
    assert [e.value for e in at.error] == [
        "**Stop strings**: list should have at most 16 items after validation, not 17"
    ]
    assert at.button(key=f"cfg-save:{gguf}").disabled and at.button(key=f"cfg-copy:{gguf}").disabled
    at.switch_page("pages/compare.py").run()  # leaving the page drops the invalid draft
    assert saved_file.read_text() == before
    assert ConfigManager().get(at_model(tiny_dir, "tiny-llama-f32")).stop == []


def test_an_out_of_range_number_says_the_range_and_keeps_save_disabled(make_app, tiny_dir, private_home):
    """The number boxes carry no bounds of their own: the browser used to refuse -5 silently, keep
    the old value and leave Save enabled, so Save wrote the old values and said "Saved"."""
    at, ids = open_configure(make_app, tiny_dir, "tiny-llama-f32")
    gguf = ids["tiny-llama-f32"]
    saved_file = private_home / "configs" / f"{gguf}.json"
    for widget in at.number_input:
        assert (widget.min, widget.max) in ((None, None), (-(2**53) + 1, 2**53 - 1)), widget.key

    at.number_input(key=key(gguf, "top_k")).set_value(-5).run()
    at.number_input(key=key(gguf, "max_tokens")).set_value(99999999).run()
    no_exception(at)
    assert [e.value for e in at.error] == [
        "**Top-k**: must be between 0 and 1000 (got -5)",
        "**Max new tokens**: must be between 1 and 32768 (got 99999999)",
    ]
    assert at.button(key=f"cfg-save:{gguf}").disabled and at.button(key=f"cfg-copy:{gguf}").disabled
    assert any("2 invalid" in m.value for m in at.markdown)
    assert not any("Saved" in m.value for m in [*at.markdown, *at.success])
    assert not saved_file.exists()

    at.number_input(key=key(gguf, "top_k")).set_value(1000).run()
    at.number_input(key=key(gguf, "max_tokens")).set_value(32768).run()
    assert not at.error and not at.button(key=f"cfg-save:{gguf}").disabled
    at.button(key=f"cfg-save:{gguf}").click().run()
    saved = json.loads(saved_file.read_text())["config"]
    assert (saved["top_k"], saved["max_tokens"]) == (1000, 32768)


def test_every_setting_has_a_readable_label_and_its_name_in_the_help(make_app, tiny_dir):
    at, ids = open_configure(make_app, tiny_dir, "tiny-llama-f32")
    gguf = ids["tiny-llama-f32"]
    widgets = [*at.slider, *at.number_input, *at.selectbox, *at.toggle, *at.text_area, *at.text_input]
    by_name = {w.key.removeprefix(f"cfg:{gguf}:"): w for w in widgets if w.key.startswith(f"cfg:{gguf}:")}
    assert by_name.keys() == ModelConfig.model_fields.keys()
    for name, widget in by_name.items():
        assert ModelConfig.model_fields[name].title, f"{name} has no title in ModelConfig"
        assert widget.label == ModelConfig.model_fields[name].title != name
        assert widget.help.startswith(f"`{name}` — "), name
    assert by_name["top_p"].label == "Top-p"
    assert by_name["n_threads"].label == "CPU threads"
    assert by_name["repeat_last_n"].label == "Repeat window (tokens)"


def test_gpu_layers_take_auto_or_a_whole_number_and_say_so_beside_the_field(make_app, tiny_dir, private_home):
    at, ids = open_configure(make_app, tiny_dir, "tiny-llama-f32")
    gguf = ids["tiny-llama-f32"]
    layers = key(gguf, "n_gpu_layers")
    at.text_input(key=layers).input("lots").run()
    no_exception(at)
    assert [e.value for e in at.error] == [
        "**GPU layers**: input should be a valid integer, or auto (got 'lots')"
    ]
    assert at.button(key=f"cfg-save:{gguf}").disabled
    at.text_input(key=layers).input("1001").run()
    assert [e.value for e in at.error] == ["**GPU layers**: must be between -1 and 1000, or auto (got 1001)"]
    at.text_input(key=layers).input(" 12 ").run()
    assert not at.error
    at.button(key=f"cfg-save:{gguf}").click().run()
    saved_file = private_home / "configs" / f"{gguf}.json"
    assert json.loads(saved_file.read_text())["config"]["n_gpu_layers"] == 12
    at.text_input(key=layers).input("AUTO").run()
    at.button(key=f"cfg-save:{gguf}").click().run()
    assert json.loads(saved_file.read_text())["config"]["n_gpu_layers"] == "auto"
    at.switch_page("pages/compare.py").run()
    at.switch_page("pages/configure.py").run()
    assert at.text_input(key=layers).value == "auto"  # read back from the saved file


def test_presets_and_copy_to_all_copy_generation_settings_only(make_app, tiny_dir):
    at, ids = open_configure(make_app, tiny_dir, "tiny-llama", "tiny-llama-f32")
    hf, gguf = ids["tiny-llama"], ids["tiny-llama-f32"]
    at.selectbox(key=f"cfg-preset:{hf}").set_value("Precise").run()
    assert at.slider(key=key(hf, "temperature")).value == 0.0
    assert at.number_input(key=key(hf, "top_k")).value == 0
    # Settings that belong to the PyTorch model alone: remote code vetted for it, its dtype, threads.
    at.toggle(key=key(hf, "trust_remote_code")).set_value(True).run()
    at.selectbox(key=key(hf, "dtype")).set_value("bfloat16").run()
    at.number_input(key=key(hf, "n_threads")).set_value(1).run()
    at.number_input(key=key(hf, "max_tokens")).set_value(77).run()
    copy = at.button(key=f"cfg-copy:{hf}")
    assert "trust_remote_code" in copy.help and "never copied" in copy.help
    copy.click().run()
    no_exception(at)
    assert at.slider(key=key(gguf, "temperature")).value == 0.0
    assert at.number_input(key=key(gguf, "max_tokens")).value == 77
    assert at.toggle(key=key(gguf, "trust_remote_code")).value is False
    assert at.number_input(key=key(gguf, "n_ctx")).value == 512  # its own, from its context length
    copied = ConfigManager().get(at_model(tiny_dir, "tiny-llama-f32"))
    source = ConfigManager().get(at_model(tiny_dir, "tiny-llama"))
    assert (copied.temperature, copied.top_k, copied.max_tokens) == (0.0, 0, 77)
    assert (copied.trust_remote_code, copied.dtype, copied.n_threads, copied.n_ctx) == (
        False,
        "auto",
        None,
        512,
    )
    assert (source.trust_remote_code, source.dtype, source.n_threads) == (True, "bfloat16", 1)
    assert source.max_tokens == 77


def at_model(models_dir, name):
    from llm_compare.services.discovery.model_manager import ModelManager

    return ModelManager([models_dir]).get(name)


def test_a_half_valid_settings_file_keeps_the_valid_ones_and_says_which_were_dropped(
    make_app, tiny_dir, private_home
):
    """One wrong value (and one of the wrong type) must not cost the model its other settings;
    the page names each dropped one in one line, and a broken file of another model is one line too."""
    gguf, hf = at_model(tiny_dir, "tiny-llama-f32"), at_model(tiny_dir, "tiny-llama")
    configs = private_home / "configs"
    configs.mkdir(parents=True)
    (configs / f"{gguf.id}.json").write_text(
        json.dumps({"config": {"temperature": 0.2, "seed": 42, "max_tokens": True, "top_k": "5"}})
    )
    (configs / f"{hf.id}.json").write_text("[" * 1000 + "]" * 1000)
    before = {path: path.read_text() for path in configs.iterdir()}

    at, ids = open_configure(make_app, tiny_dir, "tiny-llama-f32", "tiny-llama")
    no_exception(at)
    assert not at.error
    assert at.slider(key=key(gguf.id, "temperature")).value == 0.2  # kept
    assert at.number_input(key=key(gguf.id, "seed")).value == 42  # kept
    assert at.number_input(key=key(gguf.id, "max_tokens")).value == 256  # not 1: the default
    assert at.number_input(key=key(gguf.id, "top_k")).value == 40
    warnings = [rendered(w.value) for w in at.warning]
    assert (
        "Saved setting max_tokens of tiny-llama-f32 not used: input should be a valid integer (got True); "
        "using the default instead." in warnings
    )
    assert any(w.startswith("Saved setting top_k of tiny-llama-f32 not used") for w in warnings)
    [nested] = [w for w in warnings if "tiny-llama not used" in w]
    assert "nested too deeply" in nested and "\n" not in nested
    badges = [m.value for m in at.markdown if ":orange-badge[" in m.value]
    assert any("Saved, in part" in b for b in badges) and any("Saved file not used" in b for b in badges)
    assert {path: path.read_text() for path in configs.iterdir()} == before  # shown, never rewritten


def test_the_checkpoint_recommendation_is_a_button_on_pytorch_models(make_app, tiny_dir):
    at, ids = open_configure(make_app, tiny_dir, "tiny-llama", "tiny-llama-f32")
    hf, gguf = ids["tiny-llama"], ids["tiny-llama-f32"]
    at.slider(key=key(hf, "temperature")).set_value(0.2).run()
    at.number_input(key=key(hf, "top_k")).set_value(5).run()
    button = at.button(key=f"cfg-checkpoint:{hf}")
    assert "never applies" in button.help
    button.click().run()
    no_exception(at)
    # The tiny model's generation_config.json recommends temperature 0.7, top_p 0.95, top_k 40.
    assert at.slider(key=key(hf, "temperature")).value == 0.7
    assert at.number_input(key=key(hf, "top_k")).value == 40
    applied = "Applied the checkpoint's recommended settings (not saved yet)"
    assert any(s.value.startswith(applied) for s in at.success)
    assert f"cfg-checkpoint:{gguf}" not in {b.key for b in at.button}  # a GGUF file has no such file
