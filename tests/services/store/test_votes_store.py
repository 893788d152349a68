"""The store keeps blind comparisons and their votes; the migration that adds them keeps every run."""

import dataclasses
import json
import sqlite3

from llm_compare.services.quality.votes import PairVote, pairs_from_ranking
from llm_compare.services.store import migrations
from llm_compare.services.store.run_store import MIGRATIONS, RunStore


def test_the_votes_migration_keeps_every_stored_run_and_benchmark(tmp_path):
    home = tmp_path / "old"
    home.mkdir()
    db = sqlite3.connect(home / "runs.sqlite3")
    before = MIGRATIONS.index(migrations._create_votes_tables)
    for migrate in MIGRATIONS[:before]:  # the schema a store had before votes existed
        migrate(db)
    db.execute(f"PRAGMA user_version = {before}")
    for i in range(3):
        record = {
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
            "bench": {"benchmark_id": "b1"},
        }
        db.execute(
            "INSERT INTO runs VALUES (?, 'c', ?, 'm', ?, 'b1')",
            (record["run_id"], record["created_at"], json.dumps(record)),
        )
    db.execute(
        "INSERT INTO benchmarks VALUES ('b1', '2026-11-20T00:00:00+00:00', '{}', 'complete', NULL, '')"
    )
    db.commit()
    db.close()

    store = RunStore(home)
    assert sorted((r.run_id, r.text) for r in store.list()) == [(f"r{i}", f"answer {i}") for i in range(3)]
    assert [b.benchmark_id for b in store.benchmarks()] == ["b1"] and len(store.benchmark_runs("b1")) == 3
    assert store.votes() == [] and store.hidden_comparisons() == set()
    with sqlite3.connect(home / "runs.sqlite3") as check:
        assert check.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


def test_a_blind_comparison_is_hidden_until_its_votes_are_stored(tmp_path):
    store = RunStore(tmp_path)
    store.mark_blind("c1")
    store.mark_blind("c2")
    assert store.hidden_comparisons() == {"c1", "c2"}
    votes = pairs_from_ranking(
        {"x": 2, "y": 1, "z": 2},
        "ballot-1",
        comparison_id="c1",
        created_at="2026-11-26T06:00:00+00:00",
        names={"x": "X", "y": "Y", "z": "Z"},
    )
    store.record_votes("c1", [dataclasses.asdict(v) for v in votes])
    assert store.hidden_comparisons() == {"c2"}
    assert [PairVote(**row) for row in store.votes()] == votes
    store.reveal("c2")
    assert store.hidden_comparisons() == set()
    assert len(RunStore(tmp_path).votes()) == 3  # kept on disk
