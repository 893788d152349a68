"""The run store keeps every field of every run, and exports them as CSV with the documented columns."""

import csv
import dataclasses
import io
import json
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from llm_compare.core.config import ModelConfig
from llm_compare.core.models import ModelInfo, ModelMetadata, ModelType
from llm_compare.core.results import FinishReason, InferenceResult, InferenceStats
from llm_compare.services.store.run_store import MIGRATIONS, RunRecord, RunStore, to_csv

CSV_DOC = Path(__file__).resolve().parents[3] / "docs" / "csv-export.md"


def documented_columns() -> list[str]:
    """The first cell of every row of the doc's column table, in order."""
    return re.findall(r"^\| `(\w+)` \|", CSV_DOC.read_text(encoding="utf-8"), flags=re.MULTILINE)


def finished_run() -> RunRecord:
    """A GGUF run that went to max_tokens, with text full of CSV's special characters."""
    model = ModelInfo(
        "m-1",
        "m",
        ModelType.GGUF,
        "/models/m.gguf",
        123,
        ModelMetadata(architecture="llama", parameters=1_400_000, quantization="Q8_0", mtime=1.5),
    )
    stats = InferenceStats(
        load_s=0.5,
        warm=False,
        prompt_tokens=3,
        completion_tokens=7,
        ttft_s=0.1,
        prefill_tps=30.0,
        decode_tps=20.0,
        tpot_ms=50.0,
        e2e_s=0.4,
        peak_rss_bytes=123_456_789,
        finish_reason=FinishReason.LENGTH,
        other_cpu_share=0.25,
        busy=True,
    )
    result = InferenceResult(
        "m-1",
        'a, "b"\nnaïve 東京 🙂\r\n',
        FinishReason.LENGTH,
        None,
        stats,
        ignored_settings={"dtype": "GGUF files fix their own types"},
        backend_versions={"llama_cpp_python": "0.3.36"},
        runtime={"dtype": "float32", "n_threads": "2"},
    )
    config = ModelConfig(temperature=0.2, seed=7, stop=["\n", "END"], system_prompt="Be brief.", mode="chat")
    record = RunRecord.from_result(
        comparison_id="c1",
        prompt='p, with "quotes"\nand lines',
        system_prompt="Answer in French.",
        schedule="sequential",
        model=model,
        config=config,
        result=result,
    )
    return dataclasses.replace(record, created_at="2026-01-01T00:00:01+00:00")


def failed_run() -> RunRecord:
    """A PyTorch model that failed to load: no text, no figures, nothing optional set."""
    model = ModelInfo("h-2", "hollow", ModelType.PYTORCH, "/models/hollow", 9, ModelMetadata())
    result = InferenceResult(
        "h-2",
        "",
        FinishReason.ERROR,
        "weights are missing from the checkpoint",
        InferenceStats(finish_reason=FinishReason.ERROR),
    )
    record = RunRecord.from_result(
        comparison_id="c1",
        prompt="x",
        system_prompt=None,
        schedule="parallel",
        model=model,
        config=ModelConfig(),
        result=result,
    )
    return dataclasses.replace(record, created_at="2026-01-01T00:00:02+00:00")


def older_run() -> RunRecord:
    """A run stored by an earlier version: a setting since removed, settings and figures it
    did not have yet, no host."""
    config = ModelConfig().model_dump()
    del config["repeat_penalty"], config["n_threads"]
    return RunRecord(
        run_id="old-1",
        comparison_id="c0",
        created_at="2025-06-01T12:00:00+00:00",
        prompt="old prompt",
        system_prompt="",
        schedule="sequential",
        model={"id": "m-0", "name": "old", "type": "gguf", "path": "/models/old.gguf", "size_bytes": 1},
        config={**config, "mirostat": 2},
        text="old answer",
        finish_reason="stop",
        error=None,
        stats={"load_s": 1.0, "prompt_tokens": 2, "completion_tokens": 1, "finish_reason": "stop"},
    )


def test_every_field_of_every_run_survives_the_store(private_home):
    records = [older_run(), finished_run(), failed_run()]
    for record in records:
        RunStore().save(record)
    assert RunStore().list() == records[::-1]  # newest first, every field equal, nested ones too
    assert RunStore().list(limit=1) == [records[2]]
    with sqlite3.connect(private_home / "runs.sqlite3") as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


def test_runs_persist_with_a_snapshot_of_their_config():
    config = ModelConfig(temperature=0.2, stop=["\n"])
    first = dataclasses.replace(finished_run(), run_id="first", config=config.model_dump())
    RunStore().save(first)
    config = config.updated(temperature=0.9)  # changing settings later must not rewrite history
    RunStore().save(dataclasses.replace(first, run_id="second", config=config.model_dump()))
    by_id = {r.run_id: r for r in RunStore().list()}
    assert by_id["first"].config["temperature"] == 0.2 and by_id["second"].config["temperature"] == 0.9


def test_csv_columns_are_the_documented_ones():
    documented = documented_columns()
    assert len(documented) == len(set(documented)) > 30
    assert set(InferenceStats().to_dict()) <= set(documented), "every figure of a run is exported"
    assert {f"config_{name}" for name in ModelConfig.model_fields} <= set(documented), "and every setting"
    for records in ([finished_run(), failed_run(), older_run()], [older_run()], [failed_run()]):
        assert next(csv.reader(io.StringIO(to_csv(records)))) == documented
    assert to_csv([]) == ""


# Where each column's value comes from in a record (the rest: stats, config_*, or the record's own field).
FROM_MODEL = {
    "model_name": "name",
    "model_id": "id",
    "backend": "type",
    "quantization": "quantization",
    "parameters": "parameters",
    "size_bytes": "size_bytes",
    "model_path": "path",
}
FROM_HOST = {"host_cpu": "cpu", "host_cores": "cores", "host_ram_bytes": "ram_bytes"}
FROM_RUNTIME = {
    "dtype_used": "dtype",
    "n_threads_used": "n_threads",
    "n_gpu_layers_used": "n_gpu_layers",
    "torch_device_used": "torch_device",
}


def expected_cell(record: RunRecord, column: str) -> str:
    if column in FROM_MODEL:
        value = record.model.get(FROM_MODEL[column])
    elif column in FROM_HOST:
        value = record.host.get(FROM_HOST[column])
    elif column in FROM_RUNTIME:
        value = record.runtime.get(FROM_RUNTIME[column])
    elif column.startswith("config_"):
        value = record.config.get(column.removeprefix("config_"))
    elif column in InferenceStats().to_dict():
        value = record.stats.get(column)
    else:
        value = getattr(record, column)
    if value is None:
        return ""
    return json.dumps(value) if isinstance(value, (list, dict)) else str(value)


@pytest.mark.parametrize("make_record", [finished_run, failed_run, older_run])
def test_csv_cells_hold_every_value_of_the_run(make_record):
    record = make_record()
    [row] = list(csv.DictReader(io.StringIO(to_csv([record]), newline="")))
    assert row == {column: expected_cell(record, column) for column in documented_columns()}


def test_csv_keeps_the_rows_in_the_order_given():
    records = [failed_run(), finished_run(), older_run()]
    rows = list(csv.DictReader(io.StringIO(to_csv(records), newline="")))
    assert [row["run_id"] for row in rows] == [r.run_id for r in records]


def test_an_empty_store_lists_nothing():
    assert RunStore().list() == []


WRITER = """
import dataclasses, os, sys
sys.path.insert(0, {tests!r})
from test_run_store import failed_run
from llm_compare.services.store.run_store import RunStore
store = RunStore({home!r})
open(os.path.join({gate!r}, "ready-" + sys.argv[1]), "w").close()
while not os.path.exists(os.path.join({gate!r}, "go")):  # all three open the new store at once
    pass
for i in range({count}):
    store.save(dataclasses.replace(failed_run(), run_id=f"{{sys.argv[1]}}-{{i}}"))
"""


def test_three_processes_writing_to_a_new_store_lose_no_run(tmp_path):
    import subprocess
    import sys

    home, count = tmp_path / "fresh-home", 200
    source = WRITER.format(tests=str(Path(__file__).parent), home=str(home), count=count, gate=str(tmp_path))
    writers = [
        subprocess.Popen([sys.executable, "-c", source, f"w{n}"], stderr=subprocess.PIPE, text=True)
        for n in range(3)
    ]
    deadline = time.monotonic() + 120
    while len(list(tmp_path.glob("ready-*"))) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    (tmp_path / "go").touch()
    errors = [w.communicate(timeout=300)[1] for w in writers]
    assert [w.returncode for w in writers] == [0, 0, 0], errors
    stored = RunStore(home).list()
    assert len(stored) == 3 * count and len({r.run_id for r in stored}) == 3 * count


def test_csv_cells_a_spreadsheet_would_run_are_made_inert_and_numbers_stay_numbers():
    payloads = ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"]
    records = [
        dataclasses.replace(
            finished_run(),
            run_id=f"r{i}",
            prompt=p,
            system_prompt=p,
            text=p,
            error=p,
            model={**finished_run().model, "name": p, "path": f"/m/{p}.gguf"},
        )
        for i, p in enumerate(payloads)
    ]
    records[0].stats["other_cpu_share"] = -2.5  # a number that starts with "-" stays a number
    rows = list(csv.DictReader(io.StringIO(to_csv(records), newline="")))
    for payload, row in zip(payloads, rows):
        for column in ("prompt", "system_prompt", "text", "error", "model_name"):
            assert row[column] == "'" + payload, (column, row[column])
    assert rows[0]["other_cpu_share"] == "-2.5"
    assert records[0].text == payloads[0], "the record itself stays exact (the JSON export too)"


def test_a_bad_row_costs_only_itself(private_home):
    """Rows written straight into the file: each is shown repaired (with a note) or left out
    (with its reason); the good run is read back whole."""
    store = RunStore()
    good = finished_run()
    store.save(good)
    base = dataclasses.asdict(good)
    rows = {
        "surrogate": json.dumps(
            {**base, "run_id": "surrogate", "prompt": "\udcff", "config": {"stop": ["\ud800"]}}
        ),
        "figures": json.dumps(
            {**base, "run_id": "figures", "stats": {**base["stats"], "ttft_s": "1", "load_s": 1e999}}
        ),
        "types": json.dumps({**base, "run_id": "types", "text": 5, "host": [], "error": {"a": 1}}),
        "bad-json": "{",
        "deep": "[" * 5000 + "]" * 5000,
        "no-time": json.dumps({**base, "run_id": "no-time", "created_at": None}),
        "no-model": json.dumps({**base, "run_id": "no-model", "model": {"name": 3}}),
    }
    with sqlite3.connect(store.path) as db:
        db.executemany(
            "INSERT INTO runs (run_id, comparison_id, created_at, model_id, record) VALUES (?, 'c', "
            "'2025-01-01', 'm', ?)",
            rows.items(),
        )
        db.execute(
            "INSERT INTO runs (run_id, comparison_id, created_at, model_id, record) VALUES ('blob', 'c', "
            "'2025-01-01', 'm', ?)",
            (b"\x00\xff",),
        )
    stored = store.read()
    by_id = {record.run_id: record for record in stored.records}
    assert by_id[good.run_id] == good
    assert set(by_id) == {good.run_id, "surrogate", "figures", "types"}
    assert by_id["surrogate"].prompt == "\ufffd" and by_id["surrogate"].config["stop"] == ["\ufffd"]
    assert (by_id["figures"].stats["ttft_s"], by_id["figures"].stats["load_s"]) == (None, None)
    assert (by_id["types"].text, by_id["types"].host, by_id["types"].error) == ("5", {}, "{'a': 1}")
    assert sorted(line.split(":")[0] for line in stored.unreadable) == [
        "run bad-json",
        "run blob",
        "run deep",
        "run no-model",
        "run no-time",
    ]
    assert sorted(line.split(":")[0] for line in stored.repaired) == [
        "run figures",
        "run surrogate",
        "run types",
    ]
    assert all("\n" not in line for line in stored.unreadable + stored.repaired)
    to_csv(stored.records).encode("utf-8")  # the export is valid UTF-8
    assert store.list() == stored.records


def test_the_benchmark_migrations_keep_every_stored_run(tmp_path):
    import sqlite3

    home = tmp_path / "old"
    home.mkdir()
    db = sqlite3.connect(home / "runs.sqlite3")
    MIGRATIONS[0](db)  # the first version's schema, as a user's store has it
    db.execute("PRAGMA user_version = 1")
    records = [
        {
            "run_id": f"r{i}",
            "comparison_id": "c",
            "created_at": f"2026-11-2{i}T00:00:00+00:00",
            "prompt": "p",
            "system_prompt": None,
            "schedule": "sequential",
            "model": {"id": "m", "name": "m", "type": "gguf", "path": "/m"},
            "config": {},
            "text": f"answer {i}",
            "finish_reason": "stop",
            "error": None,
            "stats": {"ttft_s": 0.1 * i},
        }
        for i in range(3)
    ]
    for record in records:
        db.execute(
            "INSERT INTO runs (run_id, comparison_id, created_at, model_id, record) VALUES (?, ?, ?, ?, ?)",
            (record["run_id"], "c", record["created_at"], "m", json.dumps(record)),
        )
    db.commit()
    db.close()
    runs = RunStore(home).list()
    assert sorted((r.run_id, r.text, r.stats["ttft_s"], r.bench) for r in runs) == [
        (f"r{i}", f"answer {i}", 0.1 * i, {}) for i in range(3)
    ]
    with sqlite3.connect(home / "runs.sqlite3") as check:
        assert check.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert check.execute("SELECT COUNT(*) FROM runs WHERE benchmark_id IS NULL").fetchone()[0] == 3


def test_a_benchmark_whose_pid_now_belongs_to_another_process_is_listed_as_incomplete(tmp_path):
    """A crashed benchmark's pid can be given to a later process; its start time tells them apart."""
    store = RunStore(tmp_path)
    store.benchmark_started("b1", {"model_ids": []}, "interleaved")
    assert store.benchmark("b1").status == "running"  # this process runs it
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with sqlite3.connect(tmp_path / "runs.sqlite3") as db:  # as if the pid had been reused
            db.execute("UPDATE benchmarks SET pid = ? WHERE benchmark_id = 'b1'", (other.pid,))
        assert store.benchmark("b1").status == "incomplete"
    finally:
        other.kill()
        other.wait()
