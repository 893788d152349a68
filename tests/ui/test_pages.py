"""Every page renders, with or without models, and shows what it found; the selection made on
the Models page is what the other pages work on."""

import shutil

from dashboard_testing import (
    APP,
    ids_by_name,
    models_table,
    no_exception,
    rendered,
    select,
    sidebar_selection,
    tick_rows,
    ticked,
)
from streamlit.testing.v1 import AppTest

from llm_compare.core.models import ModelType
from llm_compare.services.store.run_store import RunStore

PAGES = ["pages/models.py", "pages/configure.py", "pages/compare.py", "pages/results.py"]


def visit_every_page(at):
    for page in PAGES:
        at.switch_page(page).run()
        no_exception(at)
        assert at.title[0].value == page.removeprefix("pages/").removesuffix(".py").capitalize()
        assert not at.error, [e.value for e in at.error]
    return at


def test_every_page_renders_without_models(make_app, empty_dir):
    at = make_app(empty_dir)
    no_exception(at)
    assert any("No models found" in info.value for info in at.info)
    assert not at.dataframe and not ids_by_name(at)
    assert any("llm-compare demo" in m.value for m in at.markdown)  # where models go, how to get some
    visit_every_page(at)
    at.switch_page("pages/compare.py").run()
    assert any("Select the models to compare" in info.value for info in at.info)
    at.switch_page("pages/results.py").run()
    assert any("No runs stored yet" in info.value for info in at.info)


def test_every_page_renders_with_models(make_app, tiny_dir):
    at = make_app(tiny_dir)
    table = at.dataframe[0].value
    assert list(table["name"]) == ["tiny-llama", "tiny-llama-f32", "tiny-llama-q8_0"]
    assert list(table["backend"]) == ["PyTorch", "GGUF", "GGUF"]
    assert list(table["quantization"]) == ["float32", "F32", "Q8_0"]
    assert set(table["status"]) == {"ready"} and ticked(at) == []
    assert sorted(ids_by_name(at)) == ["tiny-llama", "tiny-llama-f32", "tiny-llama-q8_0"]
    visit_every_page(at)


def test_an_unreadable_model_file_shows_its_reason(make_app, broken_dir):
    at = make_app(broken_dir)
    table = at.dataframe[0].value.set_index("name")
    reason = table.loc["broken", "status"]
    assert reason != "ready" and "GGUF" in reason  # the reader's one-line reason, e.g. bad magic
    assert table.loc["tiny-llama-f32", "status"] == "ready"
    assert f"broken cannot be used: {reason}" in [rendered(w.value) for w in at.warning]
    tick_rows(at, ["broken"])  # a tick on a model that cannot be used is refused, with the reason
    no_exception(at)
    assert ticked(at) == [] and sidebar_selection(at) == []
    assert f"broken was not selected: {reason}" in [rendered(e.value) for e in at.error]
    select(at, "tiny-llama-f32")
    assert sidebar_selection(at) == ["tiny-llama-f32"]
    visit_every_page(at)


def test_a_hostile_config_shows_its_reason_and_the_other_models_stay(make_app, tiny_dir, tmp_path):
    (tmp_path / "tiny-llama-f32.gguf").symlink_to(tiny_dir / "tiny-llama-f32.gguf")
    shutil.copytree(tiny_dir / "tiny-llama", tmp_path / "hostile")
    (tmp_path / "hostile" / "generation_config.json").write_text("[" * 1000 + "]" * 1000)
    at = make_app(tmp_path)
    no_exception(at)
    status = at.dataframe[0].value.set_index("name")["status"]
    assert status.to_dict() == {
        "hostile": "generation_config.json nests JSON 1,000 levels deep; discovery reads at most 64",
        "tiny-llama-f32": "ready",
    }


def test_search_and_backend_filter_narrow_the_table(make_app, tiny_dir):
    at = make_app(tiny_dir)
    at.text_input(key="model_search").input("q8").run()
    assert list(at.dataframe[0].value["name"]) == ["tiny-llama-q8_0"]
    at.text_input(key="model_search").input("").run()
    at.button_group(key="backend_filter").select(ModelType.PYTORCH).run()
    assert list(at.dataframe[0].value["name"]) == ["tiny-llama"]


def test_selected_models_appear_on_configure_and_compare(make_app, tiny_dir):
    at = select(make_app(tiny_dir), "tiny-llama", "tiny-llama-f32")
    assert ticked(at) == ["tiny-llama", "tiny-llama-f32"]
    assert any("2 of up to 4 selected" in c.value for c in at.caption)

    at.switch_page("pages/configure.py").run()
    no_exception(at)
    assert [tab.label for tab in at.tabs] == ["tiny-llama", "tiny-llama-f32"]
    sidebar = [m.value for m in at.sidebar.markdown]  # drawn by app.py around every page
    assert [line.split("**")[1] for line in sidebar] == ["tiny-llama", "tiny-llama-f32"]

    at.switch_page("pages/compare.py").run()
    no_exception(at)
    assert "**tiny-llama**, **tiny-llama-f32**" in at.markdown[0].value
    assert at.button(key="run").label == "Run" and at.button(key="stop").disabled

    at.switch_page("pages/models.py").run()  # the selection survives a round trip
    assert ticked(at) == ["tiny-llama", "tiny-llama-f32"]
    tick_rows(at, ["tiny-llama-f32"])  # untick tiny-llama
    assert sidebar_selection(at) == ["tiny-llama-f32"]
    at.switch_page("pages/configure.py").run()
    assert [tab.label for tab in at.tabs] == ["tiny-llama-f32"]


def test_a_search_keeps_the_selected_models_listed_so_they_can_be_unselected(make_app, tiny_dir):
    at = select(make_app(tiny_dir), "tiny-llama", "tiny-llama-q8_0")
    at.text_input(key="model_search").input("f32").run()
    no_exception(at)
    # tiny-llama-f32 matches; the two selected models do not, and stay listed, ticked.
    assert list(models_table(at).value["name"]) == ["tiny-llama", "tiny-llama-f32", "tiny-llama-q8_0"]
    assert ticked(at) == ["tiny-llama", "tiny-llama-q8_0"]
    assert any("2 selected models not matching the search stay listed" in c.value for c in at.caption)
    tick_rows(at, ["tiny-llama-q8_0"])  # untick tiny-llama while the search hides it
    no_exception(at)
    assert sidebar_selection(at) == ["tiny-llama-q8_0"]
    assert list(models_table(at).value["name"]) == ["tiny-llama-f32", "tiny-llama-q8_0"]  # it left the list
    at.switch_page("pages/compare.py").run()
    assert rendered(at.markdown[0].value) == "Models: tiny-llama-q8_0"


def test_no_more_than_the_limit_can_be_selected(make_app, tiny_dir, monkeypatch):
    monkeypatch.setattr("llm_compare.ui.session.MAX_MODELS", 2)
    at = select(make_app(tiny_dir), "tiny-llama", "tiny-llama-f32")
    tick_rows(at, ["tiny-llama", "tiny-llama-f32", "tiny-llama-q8_0"])
    no_exception(at)
    assert ticked(at) == ["tiny-llama", "tiny-llama-f32"]  # the third tick is taken back
    assert sidebar_selection(at) == ["tiny-llama", "tiny-llama-f32"]
    refusals = [rendered(e.value) for e in at.error]
    assert any("tiny-llama-q8_0 was not selected" in r and "unselect one" in r for r in refusals)


def test_changing_the_model_directories_rescans_and_is_remembered(make_app, empty_dir, tiny_dir, monkeypatch):
    at = make_app(empty_dir)
    at.text_area(key="model_dirs_text").input(f"{empty_dir}\n{tiny_dir}\n").run()
    at.button(key="apply_dirs").click().run()
    no_exception(at)
    assert len(at.dataframe[0].value) == 3
    # Without the environment variable, the next start uses the saved list.
    monkeypatch.delenv("LLM_COMPARE_MODELS_DIR")
    from llm_compare.ui import settings

    assert settings.initial_model_dirs() == [str(empty_dir), str(tiny_dir)]


def test_a_service_failure_shows_one_line_not_a_traceback(make_app, tiny_dir, monkeypatch):
    def broken_read(self):
        raise RuntimeError("disk on fire\nTraceback (most recent call last): ...")

    monkeypatch.setattr(RunStore, "facets", broken_read)  # the page's first read of the store
    at = make_app(tiny_dir)
    at.switch_page("pages/results.py").run()
    no_exception(at)
    assert [e.value for e in at.error] == [
        "Reading the stored runs failed: RuntimeError: disk on fire (the log has the details)"
    ]


def test_opening_a_page_directly_still_goes_through_the_app(monkeypatch, tiny_dir):
    """A bookmark to /compare as the first visit: Streamlit would run the page alone (pages/
    folder), without app.py's navigation; the page hands over to app.py instead."""
    monkeypatch.setenv("LLM_COMPARE_MODELS_DIR", str(tiny_dir))
    at = AppTest.from_file(str(APP), default_timeout=30)
    at.switch_page("pages/compare.py").run()
    no_exception(at)
    assert at.title[0].value == "Compare"
    assert any("SELECTED FOR COMPARISON" in c.value for c in at.sidebar.caption)


def test_rescan_finds_models_added_since(make_app, tiny_dir, tmp_path):
    models_dir = tmp_path / "growing"
    models_dir.mkdir()
    (models_dir / "tiny-llama-f32.gguf").symlink_to(tiny_dir / "tiny-llama-f32.gguf")
    at = make_app(models_dir)
    assert list(at.dataframe[0].value["name"]) == ["tiny-llama-f32"]
    (models_dir / "tiny-llama-q8_0.gguf").symlink_to(tiny_dir / "tiny-llama-q8_0.gguf")
    at.button(key="rescan").click().run()
    no_exception(at)
    assert list(at.dataframe[0].value["name"]) == ["tiny-llama-f32", "tiny-llama-q8_0"]


def test_the_selection_survives_a_reload(make_app, tiny_dir):
    select(make_app(tiny_dir), "tiny-llama-q8_0")
    at = make_app(tiny_dir)  # a new browser session, as after F5 or a restart
    assert ticked(at) == ["tiny-llama-q8_0"] and sidebar_selection(at) == ["tiny-llama-q8_0"]


def test_models_and_configure_show_a_files_size_in_the_same_iec_units(make_app, tiny_dir):
    at = select(make_app(tiny_dir), "tiny-llama-q8_0")
    size = models_table(at).value.set_index("name").loc["tiny-llama-q8_0", "size"]
    assert size.endswith((" KiB", " MiB", " GiB"))
    at.switch_page("pages/configure.py").run()
    no_exception(at)
    badges = [rendered(m.value) for m in at.markdown if "badge[" in m.value]
    assert any(f":gray-badge[{size}]" in line for line in badges), (size, badges)
