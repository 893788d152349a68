"""A run the database cannot take (locked by another process past the busy timeout) waits in the
pending file, and is stored, once, the next time the store opens; nothing half-written is lost."""

import dataclasses
import json

from test_run_store import failed_run, finished_run, older_run

from llm_compare.core.config import ModelConfig
from llm_compare.services.engine.comparison import Comparison
from llm_compare.services.engine.engine import InferenceEngine
from llm_compare.services.store.run_store import PENDING_FILE_NAME, RunRecord, RunStore
from tests.support.store_lock import database_locked


def test_a_record_survives_its_json_line_with_every_field():
    for record in (finished_run(), failed_run(), older_run()):
        line = record.to_json()
        assert "\n" not in line, "one line per run in the pending file"
        assert set(json.loads(line)) == {f.name for f in dataclasses.fields(RunRecord)}
        assert RunRecord.from_json(line) == record
        assert RunRecord.from_json(line.encode("utf-8")) == record


def pending_records(path) -> list[RunRecord]:
    return [RunRecord.from_json(line) for line in path.read_bytes().split(b"\n") if line]


def test_a_run_saved_while_the_database_is_locked_waits_and_is_stored_once_after(private_home):
    old, finished, failed = older_run(), finished_run(), failed_run()
    store = RunStore(busy_timeout_s=0.2)
    store.save(old)  # the store exists, as it does once the dashboard has been used
    pending = private_home / PENDING_FILE_NAME
    with database_locked(store.path):
        note = store.save_or_keep(finished)
        assert note.startswith("not saved: database is locked (kept in pending file ")
        assert str(pending) in note
        assert pending_records(pending) == [finished]
        assert store.save_or_keep(failed) is not None  # the import waits too; both kept
    assert pending_records(pending) == [finished, failed]
    assert RunStore().list() == [failed, finished, old]
    assert not pending.exists(), "the import removes what it stored"
    assert RunStore().list() == [failed, finished, old]


def test_the_import_stores_each_run_once_and_keeps_what_it_cannot_read(private_home):
    old, finished, failed = older_run(), finished_run(), failed_run()
    RunStore().save(old)
    pending = private_home / PENDING_FILE_NAME
    half = finished.to_json()[:40].encode()  # its writer was killed mid-write
    pending.write_bytes(
        (old.to_json() + "\n").encode()  # already stored: an import cut short after its commit
        + b'{"not": "a run"}\n'
        + (failed.to_json() + "\n").encode()
        + half
    )
    assert RunStore().list() == [failed, old]
    assert pending.read_bytes() == b'{"not": "a run"}\n' + half, "only what was stored is removed"
    # A new pending run after the half line starts a line of its own: both are kept.
    with database_locked(RunStore().path):
        assert RunStore(busy_timeout_s=0.2).save_or_keep(finished) is not None
    assert pending.read_bytes() == b'{"not": "a run"}\n' + half + b"\n" + (finished.to_json() + "\n").encode()
    assert RunStore().list() == [failed, finished, old]
    assert pending.read_bytes() == b'{"not": "a run"}\n' + half + b"\n"


def test_the_compare_column_says_a_run_was_not_saved_and_where_it_waits(private_home, tiny_models, greedy):
    store = RunStore(busy_timeout_s=0.2)
    store.save(older_run())
    model = tiny_models["gguf_f32"]
    engine = InferenceEngine()
    try:
        with database_locked(store.path):
            run = Comparison(engine, "import os", [model], {model.id: greedy}, store=store).start()
            assert run.wait(120)
            [state] = run.snapshot()
        assert state.result.finish_reason.value == "length" and state.result.text
        assert state.save_note.startswith("not saved: database is locked (kept in pending file ")
        assert state.unsaved_record is None
        assert run.error is None
        [stored, _] = RunStore().list()
        assert (stored.model["id"], stored.text, stored.comparison_id) == (
            model.id,
            state.result.text,
            run.comparison_id,
        )
        assert not (private_home / PENDING_FILE_NAME).exists()
    finally:
        engine.shutdown()


def test_the_compare_column_holds_the_record_when_the_data_directory_is_unusable(
    tmp_path, tiny_models, greedy
):
    home = tmp_path / "home-is-a-file"
    home.write_text("not a directory")
    model = tiny_models["gguf_f32"]
    engine = InferenceEngine()
    try:
        run = Comparison(engine, "import os", [model], {model.id: greedy}, store=RunStore(home)).start()
        assert run.wait(120)
        [state] = run.snapshot()
    finally:
        engine.shutdown()
    assert state.result.text and state.save_note.startswith("not saved: ")
    assert "could not be written either" in state.save_note and str(home) in state.save_note
    record = RunRecord.from_json(state.unsaved_record)
    assert (record.text, record.model["id"]) == (state.result.text, model.id)
    assert ModelConfig.parse(record.config) == greedy


FLICKERING_LOCK = """
import os, sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
while not os.path.exists(sys.argv[2]):  # locked 150 ms, free 50 ms, until told to stop
    db.execute("BEGIN EXCLUSIVE")
    time.sleep(0.15)
    db.execute("ROLLBACK")
    time.sleep(0.05)
"""

PENDING_WRITER = """
import dataclasses, sys
sys.path.insert(0, {tests!r})
from test_run_store import failed_run
from llm_compare.services.store.run_store import RunStore
store = RunStore({home!r}, busy_timeout_s=0.02)
kept = sum(store.save_or_keep(dataclasses.replace(failed_run(), run_id=f"{{sys.argv[1]}}-{{i}}")) is not None
           for i in range({count}))
print(kept)
"""


def test_writers_falling_back_to_the_pending_file_while_others_import_it_lose_no_run(tmp_path):
    """Three processes save while another holds the database on and off: each save lands in the
    store or in the pending file, which the next successful save imports, while the others append."""
    import subprocess
    import sys
    from pathlib import Path

    home, count = tmp_path / "home", 60
    RunStore(home).clear()
    stop = tmp_path / "stop"
    locker = subprocess.Popen([sys.executable, "-c", FLICKERING_LOCK, str(home / "runs.sqlite3"), str(stop)])
    source = PENDING_WRITER.format(tests=str(Path(__file__).parent), home=str(home), count=count)
    writers = [
        subprocess.Popen([sys.executable, "-c", source, f"w{n}"], stdout=subprocess.PIPE, text=True)
        for n in range(3)
    ]
    kept = [int(w.communicate(timeout=300)[0]) for w in writers]
    stop.touch()
    locker.wait(timeout=30)
    stored = RunStore(home).list()
    print(
        f"runs written {3 * count}, of which went through the pending file {sum(kept)}, runs found "
        f"{len(stored)}"
    )
    assert sum(kept) > 0, "the lock made some saves fall back to the pending file"
    assert sorted(r.run_id for r in stored) == sorted(f"w{n}-{i}" for n in range(3) for i in range(count))
    assert not (home / PENDING_FILE_NAME).exists()
