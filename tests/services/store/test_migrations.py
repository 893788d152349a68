"""Stores written by earlier versions (the first, and the one at migration 3) open with every run
kept, and every run's columns filled with its record's values; new saves fill them too."""

import dataclasses
import json
import sqlite3

import pytest
from test_run_store import failed_run, finished_run, older_run

from llm_compare.core.results import STAT_HELP
from llm_compare.services.bench.aggregate import FIGURES
from llm_compare.services.store.run_store import MIGRATIONS, RunStore
from tests.support.synthetic_runs import synthetic_runs

NUMBERS = [name for name in STAT_HELP if name not in ("warm", "busy", "finish_reason")]


def runs_of_every_kind():
    bench_runs = list(synthetic_runs(40, seed=5, benchmark_share=0.5))
    return [older_run(), finished_run(), failed_run(), *bench_runs]


def old_store(home, version: int, records) -> None:
    """A store as version `version` of the schema left it, with `records` stored the way that
    version stored them (version 1: no benchmark_id column, no benchmarks table)."""
    home.mkdir()
    db = sqlite3.connect(home / "runs.sqlite3")
    for step in MIGRATIONS[:version]:
        step(db)
    db.execute(f"PRAGMA user_version = {version}")
    for record in records:
        row = dataclasses.asdict(record)
        if version == 1:
            del row["bench"]  # the first version's records had no benchmark part
        values = (record.run_id, record.comparison_id, record.created_at, record.model["id"], json.dumps(row))
        if version >= 2:
            db.execute(
                "INSERT INTO runs (run_id, comparison_id, created_at, model_id, record, benchmark_id) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (*values, record.bench.get("benchmark_id")),
            )
        else:
            db.execute(
                "INSERT INTO runs (run_id, comparison_id, created_at, model_id, record) VALUES (?, ?, ?, "
                "?, ?)",
                values,
            )
    db.execute(
        "INSERT INTO runs (run_id, comparison_id, created_at, model_id, record) VALUES ('broken', 'c', "
        "'2026-01-01', 'm', '{not json')"
    )
    if version >= 3:
        db.execute(
            "INSERT INTO benchmarks VALUES ('bench0000001', '2026-01-01T00:00:00+00:00', '{}', 'complete', "
            "NULL, 'interleaved')"
        )
    db.commit()
    db.close()


def expected_columns(record) -> dict:
    """What each column must hold, read straight from the record (not through the store's code)."""
    stats, model = record.stats, record.model
    return {
        "model_name": model["name"],
        "backend": model["type"],
        "quantization": model.get("quantization"),
        "parameters": model.get("parameters"),
        "size_bytes": model.get("size_bytes"),
        "model_path": model["path"],
        "schedule": record.schedule,
        **{name: stats.get(name) for name in NUMBERS},
        "warm": None if stats.get("warm") is None else int(stats["warm"]),
        "busy": None if stats.get("busy") is None else int(stats["busy"]),
        "finish_reason": stats.get("finish_reason"),
        "error": record.error,
        "prompt_id": record.bench.get("prompt_id"),
        "repeat": record.bench.get("repeat"),
        "benchmark_id": record.bench.get("benchmark_id"),
        "readable": 1,
        "read_note": None,
    }


def stored_rows(home) -> dict[str, dict]:
    with sqlite3.connect(home / "runs.sqlite3") as db:
        db.row_factory = sqlite3.Row
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert (
            db.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
            == db.execute("SELECT COUNT(*) FROM run_columns").fetchone()[0]
        )
        return {row["run_id"]: dict(row) for row in db.execute("SELECT * FROM run_columns")}


@pytest.mark.parametrize("version", [1, 3])
def test_an_old_store_keeps_every_run_and_fills_its_columns(tmp_path, version):
    records = runs_of_every_kind()
    if version == 1:
        records = [dataclasses.replace(r, bench={}) for r in records]
    home = tmp_path / f"v{version}"
    old_store(home, version, records)

    store = RunStore(home)
    assert sorted(r.run_id for r in store.list()) == sorted(r.run_id for r in records)
    rows = stored_rows(home)
    assert set(rows) == {r.run_id for r in records} | {"broken"}
    for record in records:
        row = rows[record.run_id]
        assert {name: row[name] for name in expected_columns(record)} == expected_columns(record), (
            record.run_id
        )
    assert (rows["broken"]["readable"], rows["broken"]["model_name"]) == (0, None)
    assert rows["broken"]["read_note"].startswith("the record is not valid JSON")
    assert set(FIGURES) <= set(rows["broken"])  # every figure a benchmark aggregates has its column
    if version == 3:
        [benchmark] = store.benchmarks()
        assert (
            benchmark.runs_stored == sum(r.bench.get("benchmark_id") == "bench0000001" for r in records) > 0
        )


def test_new_saves_fill_the_columns(private_home):
    store = RunStore()
    records = [finished_run(), failed_run(), *synthetic_runs(10, seed=9)]
    store.save(records[0])
    store.save_many(records[1:])
    rows = stored_rows(private_home)
    for record in records:
        assert {name: rows[record.run_id][name] for name in expected_columns(record)} == expected_columns(
            record
        )


def test_an_endpoint_runs_server_figures_land_in_their_own_columns(tmp_path):
    """Migration 6: server_* and cost get columns; a run's columns hold what its record says."""
    import dataclasses
    import sqlite3

    from llm_compare.services.store.run_store import RunStore
    from tests.support.synthetic_runs import synthetic_runs

    [record] = synthetic_runs(1, seed=3)
    server = {
        "server_prompt_ms": 12.5,
        "server_prefill_tps": 800.0,
        "server_decode_ms": 40.0,
        "server_decode_tps": 95.5,
        "server_cached_prompt_tokens": 7,
        "server_included_load": True,
        "cost": 0.0042,
    }
    record = dataclasses.replace(record, stats={**record.stats, **server})
    RunStore(tmp_path).save(record)
    with sqlite3.connect(tmp_path / "runs.sqlite3") as db:
        row = db.execute(
            f"SELECT {', '.join(server)} FROM run_columns WHERE run_id = ?", (record.run_id,)
        ).fetchone()
    assert row == (12.5, 800.0, 40.0, 95.5, 7, 1, 0.0042)
