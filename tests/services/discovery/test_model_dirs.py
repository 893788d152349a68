"""Which folders hold the user's models: one decision for the dashboard and the CLI."""

from __future__ import annotations

from llm_compare.services.discovery.model_dirs import model_dirs, save_model_dirs, saved_model_dirs


def test_a_relative_folder_is_saved_as_the_absolute_path_it_meant_where_it_was_typed(tmp_path, monkeypatch):
    monkeypatch.delenv("LLM_COMPARE_MODELS_DIR", raising=False)
    monkeypatch.chdir(tmp_path)  # the dashboard runs from its own folder
    save_model_dirs(["models", "~/more"])
    assert saved_model_dirs()[0] == str(tmp_path / "models")
    assert not saved_model_dirs()[1].startswith("~")
    monkeypatch.chdir("/")  # a command run from elsewhere searches the same folders
    assert model_dirs() == saved_model_dirs()


def test_given_folders_replace_the_usual_ones_and_the_environment_comes_before_the_saved(monkeypatch):
    save_model_dirs(["/saved"])
    monkeypatch.setenv("LLM_COMPARE_MODELS_DIR", "/a:/b")
    assert model_dirs() == ["/a", "/b"]
    assert model_dirs(["/given"]) == ["/given"]
    monkeypatch.delenv("LLM_COMPARE_MODELS_DIR")
    assert model_dirs() == ["/saved"]
