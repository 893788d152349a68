"""ModelConfig validation and ConfigManager persistence."""

import json
from pathlib import Path

import pytest

from llm_compare.core.config import GENERATION_FIELDS, LOAD_FIELDS, ModelConfig, field_errors
from llm_compare.core.errors import ConfigurationError
from llm_compare.core.models import ModelInfo, ModelMetadata, ModelType
from llm_compare.services.discovery.config_manager import PRESETS, ConfigManager


def make_model(**metadata) -> ModelInfo:
    return ModelInfo(
        id="m-1234",
        name="m",
        type=ModelType.GGUF,
        path="/x/m.gguf",
        size_bytes=1,
        metadata=ModelMetadata(**metadata),
    )


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"temperature": 2.5}, "temperature", "less than or equal to 2"),
        ({"temperature": -0.1}, "temperature", "greater than or equal to 0"),
        ({"top_p": 0}, "top_p", "greater than 0"),
        ({"top_k": -1}, "top_k", "greater than or equal to 0"),
        ({"max_tokens": 0}, "max_tokens", "greater than or equal to 1"),
        ({"mode": "poetry"}, "mode", "'auto', 'chat' or 'raw'"),
        ({"stop": ["ok", ""]}, "stop", "empty stop strings"),
        ({"n_ctx": 8}, "n_ctx", "greater than or equal to 16"),
        ({"dtype": "int3"}, "dtype", "float32"),
        ({"colour": "red"}, "colour", "unknown setting"),
    ],
)
def test_invalid_values_name_the_field_and_the_rule(changes, field, words):
    errors = field_errors({**ModelConfig().model_dump(), **changes})
    assert list(errors) == [field]
    assert words in errors[field]
    with pytest.raises(ConfigurationError) as caught:
        ModelConfig.parse(changes)
    message = str(caught.value)
    assert message.startswith(f"{field}: ") and "\n" not in message


def test_valid_values_have_no_errors():
    assert field_errors({"temperature": 0, "top_k": 0, "seed": 7, "stop": ["\n\n"], "mode": "chat"}) == {}


def test_temperature_zero_means_greedy():
    assert ModelConfig(temperature=0).greedy
    assert not ModelConfig(temperature=0.1).greedy


def test_defaults_come_from_the_models_own_metadata():
    model = make_model(generation_defaults={"temperature": 0.3, "top_k": 12}, context_length=512)
    config = ConfigManager().defaults_for(model)
    assert (config.temperature, config.top_k, config.n_ctx) == (0.3, 12, 512)
    assert config.top_p == ModelConfig().top_p


def test_invalid_model_defaults_are_ignored_not_fatal():
    config = ConfigManager().defaults_for(make_model(generation_defaults={"temperature": 99}))
    assert config == ModelConfig()


def test_saved_settings_round_trip_through_a_readable_file(private_home):
    model = make_model()
    manager = ConfigManager()
    saved = ModelConfig(temperature=0.0, stop=["###"], seed=42, system_prompt="Be brief.", mode="raw")
    path = manager.save(model, saved)
    assert path.parent == private_home / "configs"
    document = json.loads(path.read_text())
    assert document["model"]["path"] == "/x/m.gguf"
    assert document["config"]["stop"] == ["###"]
    assert ConfigManager().get(model) == saved  # a new manager: as after a restart


def test_reset_returns_to_defaults_and_forgets_the_file():
    model = make_model(generation_defaults={"top_p": 0.5})
    manager = ConfigManager()
    manager.save(model, ModelConfig(top_p=0.9))
    assert manager.reset(model).top_p == 0.5
    assert not manager.has_saved(model)
    assert manager.get(model).top_p == 0.5


def test_a_corrupt_saved_file_falls_back_to_defaults():
    model = make_model()
    manager = ConfigManager()
    path = manager.save(model, ModelConfig(top_k=3))
    path.write_text("{not json")
    assert manager.get(model) == ModelConfig()


def test_presets_set_the_sampling_fields():
    manager = ConfigManager()
    names = ("Precise", "Balanced", "Creative")
    precise, balanced, creative = (manager.apply_preset(ModelConfig(max_tokens=99), name) for name in names)
    assert precise.greedy and precise.temperature < balanced.temperature < creative.temperature
    assert precise.max_tokens == balanced.max_tokens == creative.max_tokens == 99  # sampling only
    assert set(PRESETS) >= {"Precise", "Balanced", "Creative"}
    with pytest.raises(ConfigurationError, match="unknown preset"):
        manager.apply_preset(ModelConfig(), "Wild")


def test_copy_to_all_copies_generation_settings_and_never_load_or_security_settings(private_home):
    gguf = make_model(context_length=512)
    hf = ModelInfo("n-1", "n", ModelType.PYTORCH, "/x/n", 1)
    manager = ConfigManager()
    manager.save(hf, ModelConfig(dtype="float16", n_threads=2))  # vetted and set up by the user
    before = {m.id: manager.get(m) for m in (gguf, hf)}
    source = ModelConfig(
        temperature=0.1,
        top_p=0.5,
        top_k=5,
        max_tokens=99,
        repeat_penalty=1.2,
        repeat_last_n=16,
        seed=7,
        stop=["END"],
        system_prompt="Be brief.",
        mode="raw",
        n_ctx=4096,
        n_gpu_layers=-1,
        dtype="bfloat16",
        device="cuda",
        n_threads=1,
        **{"trust_remote_code": True},  # the source model's own opt-in, which must not spread
    )
    copied = manager.copy_to_all(source, [gguf, hf])
    for model in (gguf, hf):
        stored = json.loads((private_home / "configs" / f"{model.id}.json").read_text())["config"]
        assert stored == copied[model.id].model_dump()
        for name in GENERATION_FIELDS:
            assert stored[name] == getattr(source, name), name
        for name in set(ModelConfig.model_fields) - set(GENERATION_FIELDS):
            assert stored[name] == getattr(before[model.id], name), name
        assert stored["trust_remote_code"] is False
    assert (copied[gguf.id].n_ctx, copied[hf.id].dtype, copied[hf.id].n_threads) == (512, "float16", 2)


def test_every_setting_is_either_copied_or_kept_per_model():
    """A new field must be classified: generation (copied to all) or load / machine (kept)."""
    assert set(GENERATION_FIELDS) | set(LOAD_FIELDS) | {"n_threads"} == set(ModelConfig.model_fields)
    assert not set(GENERATION_FIELDS) & set(LOAD_FIELDS)


# A value other than the default for every setting; those that change how a model is loaded
# need a fresh worker, the others apply to the next generation.
OTHER_VALUES = {
    "temperature": 0.1,
    "top_p": 0.5,
    "top_k": 3,
    "max_tokens": 9,
    "repeat_penalty": 1.2,
    "repeat_last_n": 16,
    "seed": 4,
    "stop": ["x"],
    "system_prompt": "s",
    "mode": "raw",
    "n_threads": 1,
    "n_ctx": 1024,
    "n_gpu_layers": 2,
    "main_gpu": 1,
    "dtype": "bfloat16",
    "device": "mps",
    "trust_remote_code": True,
}
NEED_A_RELOAD = {"n_ctx", "n_gpu_layers", "main_gpu", "dtype", "device", "trust_remote_code"}


def test_only_load_settings_change_the_load_key():
    assert set(OTHER_VALUES) == set(ModelConfig.model_fields), "a new setting: does it need a reload?"
    base = ModelConfig()
    changed = {
        name
        for name, value in OTHER_VALUES.items()
        if base.updated(**{name: value}).load_key() != base.load_key()
    }
    assert changed == NEED_A_RELOAD


def test_n_ctx_default_follows_the_context_length_only_for_gguf():
    pytorch = ModelInfo("p-1", "p", ModelType.PYTORCH, "/x/p", 1, ModelMetadata(context_length=512))
    assert ConfigManager().defaults_for(pytorch).n_ctx == ModelConfig().n_ctx
    assert ConfigManager().defaults_for(make_model(context_length=512)).n_ctx == 512


# --- saved settings files that are broken, hostile or half valid -------------------------------

NESTED = "[" * 1000 + "]" * 1000


def settings_file(private_home, model) -> Path:
    path = private_home / "configs" / f"{model.id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


@pytest.mark.parametrize(
    ("write", "words"),
    [
        (lambda path: path.mkdir(), "is a directory"),
        (lambda path: path.write_text(NESTED), "nested too deeply"),
        (
            lambda path: path.write_text(json.dumps({"config": json.loads("[" * 900 + "]" * 900)})),
            'no "config" object',
        ),
        (lambda path: path.write_text('{"config": ' + NESTED + "}"), "nested too deeply"),
        (lambda path: path.write_bytes(b'{"config": {"top_k": 3}}\xff'), "not UTF-8"),
        (lambda path: path.write_text("{not json"), "not valid JSON"),
        (lambda path: path.write_text('["config"]'), 'no "config" object'),
        (lambda path: path.write_text('{"config": null}'), 'no "config" object'),
        (lambda path: path.write_text(" " * (1 << 20) + '{"config": {}}'), "larger than any settings file"),
    ],
)
def test_an_unusable_settings_file_costs_only_its_model_one_line_and_is_left_as_it_is(
    private_home, write, words
):
    broken, fine = make_model(), ModelInfo("ok-1", "ok", ModelType.GGUF, "/x/ok.gguf", 1)
    manager = ConfigManager()
    manager.save(fine, ModelConfig(top_k=3))
    path = settings_file(private_home, broken)
    write(path)
    before = (path.stat().st_mtime_ns, None if path.is_dir() else path.read_bytes())

    loaded = manager.load(broken)
    assert loaded.config == manager.defaults_for(broken) and not loaded.dropped
    assert words in loaded.problem and str(path) in loaded.problem
    [warning] = loaded.warnings(broken.name)
    assert "\n" not in warning and warning.startswith("Saved settings of m not used: ")
    assert manager.get(broken) == loaded.config
    assert manager.get(fine).top_k == 3  # the other model's settings are untouched
    assert (
        path.stat().st_mtime_ns,
        None if path.is_dir() else path.read_bytes(),
    ) == before  # never rewritten


def test_one_invalid_saved_setting_drops_only_itself(private_home):
    model = make_model()
    manager = ConfigManager()
    path = settings_file(private_home, model)
    saved = {"temperature": 0.2, "top_k": 7, "stop": ["END"], "max_tokens": 0, "colour": "red"}
    path.write_text(json.dumps({"config": saved}))
    text = path.read_text()

    loaded = manager.load(model)
    assert (loaded.config.temperature, loaded.config.top_k, loaded.config.stop) == (0.2, 7, ["END"])
    assert loaded.config.max_tokens == ModelConfig().max_tokens  # the default takes its place
    assert set(loaded.dropped) == {"max_tokens", "colour"} and loaded.problem is None
    assert "greater than or equal to 1" in loaded.dropped["max_tokens"]
    assert "unknown setting" in loaded.dropped["colour"]
    assert loaded.warnings("m") == [
        f"Saved setting max_tokens of m not used: {loaded.dropped['max_tokens']}; using the default instead.",
        f"Saved setting colour of m not used: {loaded.dropped['colour']}; using the default instead.",
    ]
    assert path.read_text() == text  # reading never rewrites it


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("max_tokens", True, "valid integer"),  # not 1
        ("max_tokens", 12.0, "valid integer"),  # an int field takes a JSON integer only
        ("top_k", "5", "valid integer"),  # strings are never converted
        ("seed", False, "valid integer"),
        ("n_threads", 2.5, "valid integer"),
        ("temperature", True, "valid number"),
        ("temperature", "0.5", "valid number"),
        ("temperature", float("nan"), "finite number"),
        ("trust_remote_code", 1, "valid boolean"),
        ("trust_remote_code", "yes", "valid boolean"),
        ("stop", "END", "valid list"),
        ("stop", ["END", 3], "valid string"),
        ("system_prompt", 42, "valid string"),
    ],
)
def test_saved_values_of_the_wrong_type_are_dropped_not_converted(private_home, name, value, words):
    model = make_model()
    settings_file(private_home, model).write_text(json.dumps({"config": {name: value, "top_p": 0.5}}))
    loaded = ConfigManager().load(model)
    assert list(loaded.dropped) == [name] and words in loaded.dropped[name]
    assert getattr(loaded.config, name) == getattr(ModelConfig(), name) and loaded.config.top_p == 0.5


def test_integers_are_still_accepted_for_float_settings():
    assert ModelConfig.parse({"temperature": 1, "top_p": 1}).temperature == 1.0


def test_a_long_bad_value_is_quoted_short():
    [why] = field_errors({**ModelConfig().model_dump(), "system_prompt": "x" * 30000}).values()
    assert len(why) < 200 and "at most 20000 characters" in why


# --- auto: the hardware decides, and old files keep their values -------------------------------


def test_auto_is_the_default_for_gpu_layers_and_device():
    config = ModelConfig()
    assert (config.n_gpu_layers, config.device, config.main_gpu) == ("auto", "auto", 0)
    assert ModelConfig.parse({"n_gpu_layers": 7, "device": "cpu"}).n_gpu_layers == 7


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("all", "input should be a valid integer, or auto (got 'all')"),
        (1001, "less than or equal to 1000, or auto (got 1001)"),
        (-2, "greater than or equal to -1, or auto (got -2)"),
        ("5", "a valid integer, or auto (got '5')"),
        (True, "a valid integer, or auto (got true)"),
    ],
)
def test_a_bad_gpu_layer_count_is_one_message_naming_both_choices(value, words):
    with pytest.raises(ConfigurationError) as caught:
        ModelConfig.parse({"n_gpu_layers": value})
    message = str(caught.value)
    assert message.count("n_gpu_layers") == 1 and words in message.replace("True", "true")
    assert field_errors({"n_gpu_layers": value}).keys() == {"n_gpu_layers"}


def test_old_saved_settings_keep_their_cpu_values(private_home):
    """Files written before auto hold n_gpu_layers 0 and device cpu: still valid, still kept."""
    model = make_model()
    old = {"temperature": 0.2, "n_gpu_layers": 0, "device": "cpu", "dtype": "auto", "n_ctx": 1024}
    settings_file(private_home, model).write_text(json.dumps({"config": old}))
    loaded = ConfigManager().load(model)
    assert not loaded.dropped and loaded.problem is None
    assert (loaded.config.n_gpu_layers, loaded.config.device, loaded.config.temperature) == (0, "cpu", 0.2)
    assert loaded.config.main_gpu == 0


def test_only_an_explicit_gpu_setting_asks_for_a_gpu():
    # auto takes what is there: a CPU run under auto is no news; a layer count or cuda/mps is a request.
    assert not ModelConfig().asks_for_gpu
    assert not ModelConfig(n_gpu_layers=0, device="cpu").asks_for_gpu
    assert ModelConfig(n_gpu_layers=5).asks_for_gpu and ModelConfig(n_gpu_layers=-1).asks_for_gpu
    assert ModelConfig(device="cuda").asks_for_gpu and ModelConfig(device="mps").asks_for_gpu
