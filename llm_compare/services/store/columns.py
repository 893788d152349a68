"""A run's columns: what the store keeps of each record in real columns (migrations 4 and 6), taken from
the record exactly as a reader would see it, so that filtering and counting in SQL agree with
what the page shows."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterable
from typing import Any

from llm_compare.services.store.record import (
    NUMERIC_STATS,
    SURROGATES,
    RunRecord,
    UnreadableRun,
    record_from_row,
)

FIGURE_COLUMNS = (
    "model_name",
    "backend",
    "quantization",
    "parameters",
    "size_bytes",
    "model_path",
    "schedule",
    *NUMERIC_STATS,
    "warm",
    "finish_reason",
    "busy",
    "error",
    "prompt_id",
    "repeat",
    "server_included_load",
    "device",
)
RUN_COLUMNS = ("run_id", "comparison_id", "created_at", "model_id", "record", "benchmark_id")
INSERT_SQL = f"INSERT INTO runs ({', '.join(RUN_COLUMNS)}) VALUES ({', '.join('?' * len(RUN_COLUMNS))})"
# The row a trigger made for the run, filled (migrations._create_run_columns).
_SET_COLUMNS = (
    f"UPDATE run_columns SET readable = ?, read_note = ?, {', '.join(f'{c} = ?' for c in FIGURE_COLUMNS)}"
)
FILL_SQL = _SET_COLUMNS + " WHERE run_id = ?"


def insert(db: sqlite3.Connection, records: Iterable[RunRecord], if_new: bool = False) -> None:
    """Store `records` and their columns; with `if_new`, a run already stored is left as it is."""
    rows = [
        (
            record.run_id,
            record.comparison_id,
            record.created_at,
            record.model["id"],
            record.to_json(),
            record.bench.get("benchmark_id"),
        )
        for record in records
    ]
    cursor = db.executemany(INSERT_SQL + (" ON CONFLICT (run_id) DO NOTHING" if if_new else ""), rows)
    if if_new and cursor.rowcount == 0:
        return
    db.executemany(FILL_SQL, [(*_flatten(stored_columns(raw)), run_id) for run_id, _, _, _, raw, _ in rows])


def stored_columns(raw: Any) -> tuple[int, str | None, tuple]:
    """(readable, note, FIGURE_COLUMNS' values) of a stored record: 1 and the repairs made to
    show it (None when none), or 0, why it cannot be read, and no figures."""
    try:
        record, notes = record_from_row(raw)
    except UnreadableRun as exc:
        return 0, str(exc), (None,) * len(FIGURE_COLUMNS)
    return 1, "; ".join(notes) or None, figure_values(record)


def figure_values(record: RunRecord) -> tuple:
    model, stats, bench = record.model, record.stats, record.bench
    reason = stats.get("finish_reason")  # what the CSV's finish_reason column holds
    return (
        _text(model.get("name")),
        _text(model.get("type")),
        _text(model.get("quantization")),
        _integer(model.get("parameters")),
        _integer(model.get("size_bytes")),
        _text(model.get("path")),
        _text(record.schedule),
        *(_number(stats.get(name)) for name in NUMERIC_STATS),
        _flag(stats.get("warm")),
        _text(reason if reason is not None else record.finish_reason),
        _flag(stats.get("busy")),
        _text(record.error),
        _text(bench.get("prompt_id")),
        _integer(bench.get("repeat")),
        _flag(stats.get("server_included_load")),
        _text(record.device),
    )


FILL_BATCH = 2000


def fill_columns(db: sqlite3.Connection) -> int:
    """Fill the columns of the runs that lack them (stored before migration 4, or written since
    by an older version or by hand: `readable` is NULL) from their records. Within the caller's
    transaction; the number of runs filled."""
    filled, factory = 0, db.text_factory
    db.text_factory = bytes  # decoded row by row: one row of bad bytes must not fail the query
    try:
        while rows := db.execute(
            "SELECT c.seq, r.record FROM run_columns c JOIN runs r ON r.run_id = c.run_id "
            "WHERE c.readable IS NULL LIMIT ?",
            (FILL_BATCH,),
        ).fetchall():
            # By seq: a run id read as bytes (they are, here) would not match the stored text.
            db.executemany(
                _SET_COLUMNS + " WHERE seq = ?", [(*_flatten(stored_columns(raw)), seq) for seq, raw in rows]
            )
            filled += len(rows)
    finally:
        db.text_factory = factory
    return filled


def _flatten(columns: tuple[int, str | None, tuple]) -> tuple:
    readable, note, figures = columns
    return (readable, note, *figures)


def _text(value: Any) -> str | None:
    """Text for a column: sqlite cannot hold lone surrogates (a file name's undecodable bytes)."""
    if value is None:
        return None
    return SURROGATES.sub("\ufffd", value if isinstance(value, str) else str(value))


def _number(value: Any) -> float | int | None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return value if ok else None


def _integer(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _flag(value: Any) -> int | None:
    return int(value) if isinstance(value, bool) else None
