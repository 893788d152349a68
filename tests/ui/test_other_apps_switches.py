"""The Models page lists other apps' model stores, each with a switch that hides its models
(remembered in the data home, for the next start and for the CLI)."""

from dashboard_testing import ids_by_name, no_exception, rendered, select, ticked

from llm_compare.services.discovery import other_apps
from tests.support.other_app_folders import add_lmstudio_model, add_ollama_model


def switch(at, kind):
    return at.toggle(key=f"store:{kind}")


def test_a_stores_switch_hides_its_models_and_is_remembered(
    make_app, empty_dir, apps_home, tiny_dir, monkeypatch
):
    ollama = apps_home / "big-disk"  # $OLLAMA_MODELS moved the store: no "ollama" in its paths
    monkeypatch.setenv("OLLAMA_MODELS", str(ollama))
    add_ollama_model(ollama, "llama3.2", "3b", tiny_dir / "tiny-llama-f32.gguf")
    add_lmstudio_model(
        apps_home / ".lmstudio" / "models", "someone", "tiny-GGUF", tiny_dir / "tiny-llama-q8_0.gguf"
    )
    at = make_app(empty_dir)
    no_exception(at)
    assert set(ids_by_name(at)) == {"llama3.2:3b", "tiny-llama-q8_0"}
    assert switch(at, "ollama").value is True and switch(at, "lmstudio").value is True
    label = rendered(switch(at, "ollama").label)
    assert label == f"Ollama: {ollama} — 1 model"

    at.text_input(key="model_search").input("ollama").run()  # the store's name finds its models
    assert set(ids_by_name(at)) == {"llama3.2:3b"}
    at.text_input(key="model_search").input("").run()

    select(at, "llama3.2:3b", "tiny-llama-q8_0")
    switch(at, "ollama").set_value(False).run()
    no_exception(at)
    assert set(ids_by_name(at)) == {"tiny-llama-q8_0"}
    assert other_apps.app_folders_off() == {
        "ollama"
    }  # saved in the data home: the CLI and the next start follow it
    assert rendered(switch(at, "ollama").label) == f"Ollama: {ollama}"
    assert ticked(at) == ["tiny-llama-q8_0"]  # its models left the selection with it

    again = make_app(empty_dir)  # a new session starts with the store still off
    assert switch(again, "ollama").value is False and set(ids_by_name(again)) == {"tiny-llama-q8_0"}
    switch(again, "ollama").set_value(True).run()
    no_exception(again)
    assert (
        set(ids_by_name(again)) == {"llama3.2:3b", "tiny-llama-q8_0"}
        and other_apps.app_folders_off() == set()
    )


def test_without_stores_the_page_says_where_it_looked(make_app, empty_dir, apps_home):
    at = make_app(empty_dir)
    no_exception(at)
    assert not [t for t in at.toggle if t.key.startswith("store:")]
    assert any("None found. Looked in" in rendered(c.value) for c in at.caption)


def test_no_stores_in_the_environment_switches_every_store_off_and_says_why(
    make_app, empty_dir, apps_home, tiny_dir, monkeypatch
):
    add_ollama_model(apps_home / ".ollama" / "models", "llama3.2", "3b", tiny_dir / "tiny-llama-f32.gguf")
    monkeypatch.setenv(other_apps.NO_OTHER_APPS_ENV, "1")  # what `llm-compare ui --no-other-apps` passes
    at = make_app(empty_dir)
    no_exception(at)
    assert ids_by_name(at) == {}
    assert switch(at, "ollama").disabled
    assert any("All are off in this dashboard" in rendered(c.value) for c in at.caption)
