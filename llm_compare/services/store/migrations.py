"""The store's schema: numbered migrations applied in order, each once, and how a connection is
brought up to date. Never edit a migration that has shipped; append a new one."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable


def _create_runs_table(db: sqlite3.Connection) -> None:
    db.execute(
        "CREATE TABLE runs (run_id TEXT PRIMARY KEY, comparison_id TEXT NOT NULL, "
        "created_at TEXT NOT NULL, model_id TEXT NOT NULL, record TEXT NOT NULL)"
    )
    db.execute("CREATE INDEX runs_created_at ON runs (created_at)")


def _add_benchmark_id(db: sqlite3.Connection) -> None:
    """Benchmarks find their runs by id: a column, filled from the records already stored."""
    db.execute("ALTER TABLE runs ADD COLUMN benchmark_id TEXT")
    db.execute(
        "UPDATE runs SET benchmark_id = json_extract(record, '$.bench.benchmark_id') WHERE json_valid(record)"
    )
    db.execute("CREATE INDEX runs_benchmark_id ON runs (benchmark_id)")


def _create_benchmarks_table(db: sqlite3.Connection) -> None:
    db.execute(
        "CREATE TABLE benchmarks (benchmark_id TEXT PRIMARY KEY, created_at TEXT NOT NULL, spec TEXT NOT "
        "NULL, status TEXT NOT NULL, pid INTEGER, order_note TEXT)"
    )


# Migration 4's columns: what the Results page filters, counts and charts on, and every per-run
# figure. In a narrow table of their own beside `runs`, whose rows carry the whole record (a few
# kB each): a scan of 100,000 runs' columns then reads megabytes, not hundreds.
_RUN_COLUMNS_4 = (
    ("readable", "INTEGER"),
    ("read_note", "TEXT"),
    ("model_name", "TEXT"),
    ("backend", "TEXT"),
    ("quantization", "TEXT"),
    ("parameters", "INTEGER"),
    ("size_bytes", "INTEGER"),
    ("model_path", "TEXT"),
    ("schedule", "TEXT"),
    ("load_s", "REAL"),
    ("warm", "INTEGER"),
    ("prompt_tokens", "INTEGER"),
    ("completion_tokens", "INTEGER"),
    ("ttft_s", "REAL"),
    ("prefill_tps", "REAL"),
    ("decode_tps", "REAL"),
    ("tpot_ms", "REAL"),
    ("decode_bytes_per_s", "REAL"),
    ("e2e_s", "REAL"),
    ("peak_rss_bytes", "INTEGER"),
    ("finish_reason", "TEXT"),
    ("other_cpu_share", "REAL"),
    ("busy", "INTEGER"),
    ("error", "TEXT"),
    ("prompt_id", "TEXT"),
    ("repeat", "INTEGER"),
)


def _create_run_columns(db: sqlite3.Connection) -> None:
    """The figures in real columns, one row per run. Triggers keep one row per run whoever writes
    `runs` (an older version still running, a hand edit): a new row starts with `readable` NULL,
    as every existing run does here, and the store fills its columns from the record as it opens
    (store.columns.fill_columns). `seq` keeps the order runs were stored in."""
    columns = ", ".join(f"{name} {kind}" for name, kind in _RUN_COLUMNS_4)
    db.execute(
        "CREATE TABLE run_columns (seq INTEGER PRIMARY KEY, run_id TEXT NOT NULL UNIQUE, created_at TEXT, "
        f"comparison_id TEXT, benchmark_id TEXT, {columns})"
    )
    db.execute(
        "CREATE TRIGGER runs_insert_columns AFTER INSERT ON runs BEGIN INSERT INTO run_columns (run_id, "
        "created_at, comparison_id, benchmark_id) VALUES (new.run_id, new.created_at, new.comparison_id, "
        "new.benchmark_id); END"
    )
    db.execute(
        "CREATE TRIGGER runs_delete_columns AFTER DELETE ON runs BEGIN DELETE FROM run_columns WHERE run_id "
        "= old.run_id; END"
    )
    db.execute(
        "INSERT INTO run_columns (run_id, created_at, comparison_id, benchmark_id) "
        "SELECT run_id, created_at, comparison_id, benchmark_id FROM runs ORDER BY rowid"
    )
    # Each of the Results page's queries reads one index (EXPLAIN QUERY PLAN on 100,000 runs):
    # the newest first (seq is the rowid, so the order is the index's), counts and facets from
    # one covering index, the notes on repaired or unreadable rows, the model names, a session.
    for name, columns in (
        ("listing", "readable, created_at"),
        ("filters", "readable, backend, finish_reason, model_name, benchmark_id"),
        ("notes", "readable, read_note"),
        ("model_name", "model_name"),
        ("comparison_id", "comparison_id"),
    ):
        db.execute(f"CREATE INDEX run_columns_{name} ON run_columns ({columns})")


def _create_votes_tables(db: sqlite3.Connection) -> None:
    """Blind comparisons (their runs are hidden until voted on: voted_at is NULL) and the votes,
    one row per pairwise outcome, a ranking's pairs under one ballot_id."""
    db.execute(
        "CREATE TABLE blind_comparisons (comparison_id TEXT PRIMARY KEY, created_at TEXT NOT NULL, voted_at "
        "TEXT)"
    )
    db.execute(
        "CREATE TABLE votes (ballot_id TEXT NOT NULL, comparison_id TEXT NOT NULL, created_at TEXT NOT NULL, "
        "kind TEXT NOT NULL, model_a_id TEXT NOT NULL, model_a_name TEXT NOT NULL, model_b_id TEXT NOT NULL, "
        "model_b_name TEXT NOT NULL, outcome TEXT NOT NULL)"
    )


_ENDPOINT_COLUMNS_6 = (
    ("server_prompt_ms", "REAL"),
    ("server_prefill_tps", "REAL"),
    ("server_decode_ms", "REAL"),
    ("server_decode_tps", "REAL"),
    ("server_cached_prompt_tokens", "INTEGER"),
    ("server_included_load", "INTEGER"),
    ("cost", "REAL"),
)


def _add_endpoint_columns(db: sqlite3.Connection) -> None:
    """The figures of runs on HTTP endpoints (docs/metrics.md: `server_*`, `cost`). Runs stored before
    have none of them: NULL, as a figure that was not measured."""
    for name, kind in _ENDPOINT_COLUMNS_6:
        db.execute(f"ALTER TABLE run_columns ADD COLUMN {name} {kind}")


def _create_scores_table(db: sqlite3.Connection) -> None:
    """Likelihood scores (services/quality): one row per model per scoring, its ScoreResult as JSON."""
    db.execute(
        "CREATE TABLE scores (score_id TEXT NOT NULL, model_id TEXT NOT NULL, created_at TEXT NOT NULL, "
        "record TEXT NOT NULL, PRIMARY KEY (score_id, model_id))"
    )
    db.execute("CREATE INDEX scores_model_created ON scores (model_id, created_at)")


def _add_benchmark_process_start(db: sqlite3.Connection) -> None:
    """When the process running a benchmark started: a pid alone is reused by a later process,
    which would keep a crashed benchmark listed as running."""
    db.execute("ALTER TABLE benchmarks ADD COLUMN pid_started REAL")


_HARDWARE_COLUMNS_9 = (
    ("peak_private_bytes", "INTEGER"),
    ("peak_file_bytes", "INTEGER"),
    ("peak_vram_bytes", "INTEGER"),
    ("gpu_layers_offloaded", "INTEGER"),
    ("gpu_layers_total", "INTEGER"),
    ("energy_j", "REAL"),
    ("j_per_token", "REAL"),
    ("device", "TEXT"),
)


def _add_hardware_columns(db: sqlite3.Connection) -> None:
    """Where each run ran and what it used (docs/metrics.md): the split of its peak memory, GPU
    memory and layers, energy, and the device. Runs stored before have none: NULL, not measured."""
    for name, kind in _HARDWARE_COLUMNS_9:
        db.execute(f"ALTER TABLE run_columns ADD COLUMN {name} {kind}")


def _create_conversations_table(db: sqlite3.Connection) -> None:
    """Conversations, one row per turn (services/store/conversations.py): a comparison is stored
    as a conversation of one turn, so that a reloaded page can show the last one again."""
    db.execute(
        "CREATE TABLE conversations (conversation_id TEXT NOT NULL, turn INTEGER NOT NULL, "
        "created_at TEXT NOT NULL, comparison_id TEXT NOT NULL, prompt TEXT NOT NULL, system_prompt TEXT, "
        "schedule TEXT NOT NULL, model_ids TEXT NOT NULL, run_ids TEXT NOT NULL, "
        "PRIMARY KEY (conversation_id, turn))"
    )


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    _create_runs_table,
    _add_benchmark_id,
    _create_benchmarks_table,
    _create_run_columns,
    _create_votes_tables,
    _add_endpoint_columns,
    _create_scores_table,
    _add_benchmark_process_start,
    _add_hardware_columns,
    _create_conversations_table,
]


def migrate(db: sqlite3.Connection) -> None:
    """Apply the migrations this database lacks. Under an exclusive lock, reading the version
    again: two processes opening a new store at once must not both create its tables."""
    if db.execute("PRAGMA user_version").fetchone()[0] >= len(MIGRATIONS):
        return
    db.execute("BEGIN EXCLUSIVE")
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        for number, step in enumerate(MIGRATIONS[version:], start=version + 1):
            step(db)
            db.execute(f"PRAGMA user_version = {number}")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def use_wal(db: sqlite3.Connection, timeout_s: float) -> None:
    """Switch a store to WAL once (the mode is kept in the file). The switch needs the database
    to itself and sqlite does not wait for that, so retry while another process holds it."""
    deadline = time.monotonic() + timeout_s
    while db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        try:
            if db.execute("PRAGMA journal_mode = WAL").fetchone()[0] == "wal":
                return
        except sqlite3.OperationalError:
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            return  # a file system without WAL: the rollback journal still works, more slowly
        time.sleep(0.01)
