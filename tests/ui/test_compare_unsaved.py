"""The Compare page when the store cannot take a run: the model's column says it was not saved
and where it waits; the answer is shown, and the run reaches the store once the lock is gone."""

import json

from dashboard_testing import RUN_TIMEOUT_S, no_exception, quick_config, select

from llm_compare.services.discovery.config_manager import ConfigManager
from llm_compare.services.discovery.model_manager import ModelManager
from llm_compare.services.store.run_store import BUSY_TIMEOUT_ENV, PENDING_FILE_NAME, RunStore
from tests.support.store_lock import database_locked


def test_a_run_the_locked_store_cannot_take_is_marked_in_its_column(
    make_app, tiny_dir, private_home, monkeypatch
):
    monkeypatch.setenv(BUSY_TIMEOUT_ENV, "0.3")
    for model in ModelManager([tiny_dir]).scan():
        ConfigManager().save(model, quick_config())
    RunStore().clear()  # the store exists
    at = select(make_app(tiny_dir), "tiny-llama-f32")
    at.switch_page("pages/compare.py").run()
    at.text_area(key="prompt").input("def main():").run()
    with database_locked(RunStore().path):
        at.button(key="run").click().run(timeout=RUN_TIMEOUT_S)
    no_exception(at)
    [column] = [c for c in at.columns if c.text]  # the model's column: its answer, and the note under it
    [answer] = [t.value for t in column.text]
    [warning] = [w.value for w in column.warning]
    assert [w.value for w in at.warning] == [warning]
    assert warning.startswith("not saved: database is locked (kept in pending file ")
    assert str(private_home / PENDING_FILE_NAME) in warning.replace("\\", "")
    [stored] = RunStore().list()
    assert stored.text == answer and stored.model["name"] == "tiny-llama-f32"


def test_a_run_no_file_can_take_is_shown_with_its_record_to_copy(make_app, tiny_dir, tmp_path, monkeypatch):
    at = select(make_app(tiny_dir), "tiny-llama-f32")
    home = tmp_path / "home-is-a-file"
    home.write_text("not a directory")
    monkeypatch.setenv("LLM_COMPARE_HOME", str(home))  # from now on: the data directory is unusable
    at.switch_page("pages/compare.py").run()
    at.text_area(key="prompt").input("def main():").run()
    at.button(key="run").click().run(timeout=RUN_TIMEOUT_S)
    no_exception(at)
    [column] = [c for c in at.columns if c.text]
    [answer] = [t.value for t in column.text]
    assert answer  # shown, as produced
    [warning] = [w.value for w in column.warning]
    assert warning.startswith("not saved: ") and "could not be written either" in warning
    [record] = [c.value for c in column.code]
    [result] = at.session_state["comparison"].results().values()
    assert json.loads(record)["text"] == result.text
