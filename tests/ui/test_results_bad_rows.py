"""One bad stored row (written by an old version, a crash, a hand edit or a hostile prompt) stays
in its row: the Results page still shows every other run, says what it skipped, and the CSV
download still works."""

import csv
import io
import json
import os
import sqlite3
import subprocess
import sys

import pytest
from dashboard_testing import APP, no_exception, rendered
from streamlit.delta_generator import DeltaGenerator
from streamlit.testing.v1 import AppTest

from llm_compare.services.store.run_store import RunStore


@pytest.fixture
def good_runs(tiny_dir, private_home):
    """Two real runs, stored by the CLI: their run ids."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "llm_compare.cli",
            "run",
            "--model",
            str(tiny_dir / "tiny-llama-f32.gguf"),
            "--model",
            str(tiny_dir / "tiny-llama-q8_0.gguf"),
            "--prompt",
            "import os",
            "--max-tokens",
            "4",
            "--temperature",
            "0",
            "--mode",
            "raw",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=180,
        env=os.environ.copy(),
    )
    assert done.returncode == 0, done.stderr
    return {record.run_id for record in RunStore().list()}


def insert(db_path, run_id: str, record) -> None:
    """A row written straight into the SQLite file, the way a bug or a hand edit could."""
    with sqlite3.connect(db_path) as db:
        db.execute(
            "INSERT INTO runs (run_id, comparison_id, created_at, model_id, record) VALUES (?, 'bad', "
            "'2026-01-01T00:00:00+00:00', 'x', ?)",
            (run_id, record),
        )


def variant(base: dict, run_id: str, **changes) -> dict:
    record = json.loads(json.dumps(base))
    record["run_id"] = run_id
    for path, value in changes.items():
        *parents, last = path.split("__")
        target = record
        for key in parents:
            target = target[key]
        target[last] = value
    return record


def test_the_results_page_survives_bad_rows_and_still_offers_the_csv(good_runs, private_home, monkeypatch):
    db_path = private_home / "runs.sqlite3"
    with sqlite3.connect(db_path) as db:
        [base] = [json.loads(row[0]) for row in db.execute("SELECT record FROM runs LIMIT 1")]
    # Repairable: shown, with a note.
    insert(
        db_path, "surrogates", json.dumps(variant(base, "surrogates", prompt="caf\udcff", text="x\udcffy"))
    )
    insert(
        db_path,
        "garbage-figures",
        json.dumps(
            variant(
                base,
                "garbage-figures",
                stats__ttft_s="fast",
                stats__completion_tokens=None,
                stats__decode_tps=[1],
                stats__busy="maybe",
            )
        ),
    )
    insert(
        db_path,
        "odd-status",
        json.dumps(variant(base, "odd-status", finish_reason="exploded", stats__finish_reason="exploded")),
    )
    # Unreadable: skipped, and counted.
    insert(db_path, "not-json", "{not json")
    insert(db_path, "a-number", 42)
    insert(db_path, "bad-bytes", b"\xff\xfe{")
    with sqlite3.connect(db_path) as db:  # TEXT, not a blob: sqlite3 cannot decode it
        db.execute(
            "INSERT INTO runs (run_id, comparison_id, created_at, model_id, record) VALUES ('bad-text', "
            "'bad', '2026-01-01', 'x', CAST(? AS TEXT))",
            (b"\xff\xfe{",),
        )
    insert(db_path, "a-list", json.dumps([1, 2]))
    insert(db_path, "nested", "[" * 1000 + "]" * 1000)
    insert(db_path, "no-time", json.dumps(variant(base, "no-time", created_at="yesterday")))
    insert(db_path, "no-model", json.dumps(variant(base, "no-model", model=None)))

    downloads = []
    original = DeltaGenerator.download_button

    def recording_download_button(self, label, data, *args, **kwargs):
        downloads.append(data() if callable(data) else data)  # the CSV is built when clicked
        return original(self, label, data, *args, **kwargs)

    monkeypatch.setattr(DeltaGenerator, "download_button", recording_download_button)
    at = AppTest.from_file(str(APP), default_timeout=30)
    at.switch_page("pages/results.py").run()
    no_exception(at)
    assert not at.error, [e.value for e in at.error]

    shown = set(at.dataframe[0].value["run_id"])
    assert shown == good_runs | {"surrogates", "garbage-figures", "odd-status"}
    notes = [rendered(w.value) for w in at.warning]
    assert len(notes) == 1 and "8 stored runs could not be read and are not shown" in notes[0]
    assert "\n" not in notes[0]
    [repaired] = [rendered(c.value) for c in at.caption if "shown repaired" in c.value]
    assert repaired.startswith("2 stored runs held values that cannot be shown as they were")

    [data] = downloads
    assert not at.download_button(key="download_csv").disabled
    data.encode("utf-8")  # what the browser receives: valid UTF-8
    rows = {row["run_id"]: row for row in csv.DictReader(io.StringIO(data))}
    assert set(rows) == shown
    assert (rows["surrogates"]["prompt"], rows["surrogates"]["text"]) == ("caf\ufffd", "x\ufffdy")
    assert rows["garbage-figures"]["ttft_s"] == "" and rows["garbage-figures"]["completion_tokens"] == ""
    assert rows["odd-status"]["finish_reason"] == "exploded"
    for run_id in good_runs:  # the good runs are exported whole
        assert rows[run_id]["completion_tokens"] == "4" and float(rows[run_id]["ttft_s"]) > 0
