"""A run's columns: what the store keeps of each record in real columns (migration 4), taken from
the record exactly as a reader would see it, so that filtering and counting in SQL agree with
what the page shows."""

from __future__ import annotations

import math
import sqlite3
from typing import Any

from llm_compare.services.store.record import (
    NUMERIC_STATS,
    SURROGATES,
    RunRecord,
    UnreadableRun,
    record_from_row,
)

FIGURE_COLUMNS = (
    "model_name", "backend", "quantization", "parameters", "size_bytes", "model_path", "schedule",
    *NUMERIC_STATS, "warm", "finish_reason", "busy", "error", "prompt_id", "repeat",
)
# Every column of a run written on insert (the fill writes all but the first six).
INSERT_COLUMNS = ("run_id", "comparison_id", "created_at", "model_id", "record", "benchmark_id", "readable", "read_note", *FIGURE_COLUMNS)
INSERT_SQL = f"INSERT INTO runs ({', '.join(INSERT_COLUMNS)}) VALUES ({', '.join('?' * len(INSERT_COLUMNS))})"


def insert_values(record: RunRecord) -> tuple:
    """The values of INSERT_COLUMNS for `record`, its columns as a reader will see them."""
    raw = record.to_json()
    readable, note, figures = stored_columns(raw)
    return (record.run_id, record.comparison_id, record.created_at, record.model["id"], raw,
            record.bench.get("benchmark_id"), readable, note, *figures)


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
        _text(model.get("name")), _text(model.get("type")), _text(model.get("quantization")),
        _integer(model.get("parameters")), _integer(model.get("size_bytes")), _text(model.get("path")),
        _text(record.schedule),
        *(_number(stats.get(name)) for name in NUMERIC_STATS),
        _flag(stats.get("warm")), _text(reason if reason is not None else record.finish_reason),
        _flag(stats.get("busy")), _text(record.error), _text(bench.get("prompt_id")), _integer(bench.get("repeat")),
    )


FILL_BATCH = 2000


def fill_columns(db: sqlite3.Connection) -> int:
    """Give the rows that lack their columns (stored before migration 4, or written since by an
    older version or by hand: `readable` is NULL) their columns, from their records. Within the
    caller's transaction; the number of rows filled."""
    fill = f"UPDATE runs SET readable = ?, read_note = ?, {', '.join(f'{c} = ?' for c in FIGURE_COLUMNS)} WHERE rowid = ?"
    filled, factory = 0, db.text_factory
    db.text_factory = bytes  # decoded row by row: one row of bad bytes must not fail the query
    try:
        while rows := db.execute("SELECT rowid, record FROM runs WHERE readable IS NULL LIMIT ?", (FILL_BATCH,)).fetchall():
            db.executemany(fill, [(*_flatten(stored_columns(raw)), rowid) for rowid, raw in rows])
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
