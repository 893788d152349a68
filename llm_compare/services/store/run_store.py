"""Every run that happened, kept in SQLite with a snapshot of everything needed to trust it later
(the exact configuration, the model's identity, the prompt, the output, library versions, host),
its figures in columns for filtering and counting, and the benchmarks the runs belong to."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from llm_compare.core.errors import ConfigurationError, LLMCompareError, one_line
from llm_compare.services.store.columns import fill_columns, insert
from llm_compare.services.store.conversations import ConversationTurn
from llm_compare.services.store.export import rows_to_csv, to_csv
from llm_compare.services.store.migrations import MIGRATIONS, migrate, use_wal
from llm_compare.services.store.pending import (
    PENDING_FILE_NAME,
    append_line,
    has_content,
    locked_pending,
    replace_pending,
)
from llm_compare.services.store.query import NEWEST_FIRST, UNVOTED_BLIND, RunQuery
from llm_compare.services.store.record import (
    RunRecord,
    StoredRuns,
    UnreadableRun,
    as_text,
    new_comparison_id,
    record_from_row,
)
from llm_compare.system.paths import data_home

# The store's public names, importable from here as before the store was split in modules.
__all__ = [
    "BUSY_TIMEOUT_ENV",
    "MIGRATIONS",
    "PENDING_FILE_NAME",
    "RunFacets",
    "RunNotKeptError",
    "RunQuery",
    "RunRecord",
    "RunStore",
    "StoredBenchmark",
    "StoredRuns",
    "UnreadableRun",
    "new_comparison_id",
    "record_from_row",
    "rows_to_csv",
    "to_csv",
]

log = logging.getLogger(__name__)

BUSY_TIMEOUT_ENV = "LLM_COMPARE_BUSY_TIMEOUT_S"
BUSY_TIMEOUT_S = 30.0
EXPORT_BATCH = SAVE_BATCH = 1000


@dataclass(frozen=True)
class StoredBenchmark:
    benchmark_id: str
    created_at: str
    spec: dict[str, Any]
    status: str  # running | complete | stopped | failed | incomplete (its process is gone)
    order_note: str
    runs_stored: int

    @classmethod
    def of_row(cls, row: tuple) -> StoredBenchmark:
        benchmark_id, created_at, spec, status, pid, pid_started, order_note, runs = row
        if status == "running" and not _still_running(pid, pid_started):
            status = "incomplete"  # its process was stopped or crashed: it can be resumed
        return cls(benchmark_id, created_at, json.loads(spec), status, order_note or "", runs)


@dataclass(frozen=True)
class RunFacets:
    """What the Results page offers to filter on, and the rows it cannot show as they are."""

    total: int  # readable runs
    models: list[str]
    backends: list[str]
    finish_reasons: list[str]
    unreadable: int
    first_unreadable: str | None  # "run <id>: why", the newest
    repaired: int
    first_repaired: str | None  # "run <id>: what was changed", the newest


class RunNotKeptError(LLMCompareError):
    """Neither the store nor its pending file could take a run."""


class RunStore:
    """The runs in `home`/runs.sqlite3. A run the database cannot take (locked for longer than
    the busy timeout, a full disk) waits in `home`/pending-runs.jsonl, one JSON line per run,
    and is stored the next time the store opens; so do a benchmark's start and end."""

    def __init__(self, home: str | Path | None = None, busy_timeout_s: float | None = None):
        home = Path(home).expanduser() if home else data_home()
        self.path = home / "runs.sqlite3"
        self.pending_path = home / PENDING_FILE_NAME
        self.busy_timeout_s = busy_timeout_s if busy_timeout_s is not None else _busy_timeout_from_env()
        self._threads = threading.local()  # one connection per thread, kept open (see _connection)

    def save(self, record: RunRecord) -> None:
        with self._connect() as db:
            insert(db, [record])

    def save_many(self, records: Iterable[RunRecord]) -> None:
        """Store many runs in one transaction (imports, and the costs benchmark's 100,000 runs)."""
        with self._connect() as db:
            batch: list[RunRecord] = []
            for record in records:
                batch.append(record)
                if len(batch) == SAVE_BATCH:
                    insert(db, batch)
                    batch = []
            insert(db, batch)

    def save_or_keep(self, record: RunRecord) -> str | None:
        """Store `record`; if the database cannot take it, append it to the pending file.
        None when stored, else one line saying what failed and where the run waits.
        Raises RunNotKeptError when the pending file cannot be written either."""
        try:
            self.save(record)
            return None
        except (sqlite3.Error, OSError) as exc:
            failure = one_line(exc, name_type=False)
        log.warning(
            "could not store run %s in %s (%s); keeping it in %s",
            record.run_id,
            self.path,
            failure,
            self.pending_path,
        )
        return self._keep_pending(record.to_json(), failure)

    def _keep_pending(self, line: str, failure: str) -> str:
        try:
            append_line(self.pending_path, line)
        except OSError as exc:
            raise RunNotKeptError(
                f"not saved: {failure} ({self.path}); the pending file {self.pending_path} could not be "
                f"written either ({one_line(exc, name_type=False)})"
            ) from exc
        return (
            f"not saved: {failure} (kept in pending file {self.pending_path}; stored the next time the "
            "store opens)"
        )

    def list(self, limit: int | None = None) -> list[RunRecord]:
        """Stored runs, newest first (rows that cannot be read are left out: see `read`)."""
        return self.read(limit).records

    def read(self, limit: int | None = None) -> StoredRuns:
        """Stored runs, newest first; a row that cannot be read costs only itself."""
        if not self._exists():
            return StoredRuns([])
        query = "SELECT run_id, record FROM runs ORDER BY created_at DESC, rowid DESC"
        with self._connect() as db:
            db.text_factory = bytes  # decoded row by row: one row of bad bytes must not fail the query
            rows = db.execute(query + (" LIMIT ?" if limit else ""), (limit,) if limit else ()).fetchall()
        return StoredRuns.of_rows(rows)

    def clear(self) -> None:
        with self._connect() as db:
            db.execute("DELETE FROM runs")

    # --- the Results page: filtered, counted and paged in SQL ----------------------------------------

    def facets(self) -> RunFacets:
        if not self._exists():
            return RunFacets(0, [], [], [], 0, None, 0, None)
        with self._connect() as db:
            models = [
                name
                for (name,) in db.execute(
                    "SELECT DISTINCT model_name FROM run_columns WHERE model_name IS NOT NULL ORDER BY 1"
                )
            ]
            groups = db.execute(
                "SELECT backend, finish_reason, COUNT(*) FROM run_columns WHERE readable = 1 GROUP BY 1, 2"
            ).fetchall()
            unreadable, first_unreadable = _first_note(db, "readable = 0")
            repaired, first_repaired = _first_note(db, "readable = 1 AND read_note IS NOT NULL")
        return RunFacets(
            total=sum(count for *_, count in groups),
            models=models,
            backends=sorted({backend for backend, _, _ in groups if backend is not None}),
            finish_reasons=sorted({reason for _, reason, _ in groups if reason is not None}),
            unreadable=unreadable,
            first_unreadable=first_unreadable,
            repaired=repaired,
            first_repaired=first_repaired,
        )

    def count(self, query: RunQuery) -> int:
        if not self._exists():
            return 0
        where, params = query.where()
        with self._connect() as db:
            return db.execute(f"SELECT COUNT(*) FROM run_columns WHERE {where}", params).fetchone()[0]

    def page(self, query: RunQuery, offset: int, limit: int) -> list[RunRecord]:
        """The runs `query` finds, newest first, from `offset`: only these records are parsed."""
        if not self._exists():
            return []
        where, params = query.where()
        with self._connect() as db:
            db.text_factory = bytes
            rows = db.execute(
                "SELECT r.run_id, r.record FROM (SELECT run_id, created_at, seq FROM run_columns WHERE "
                f"{where} {NEWEST_FIRST} LIMIT ? OFFSET ?) AS found JOIN runs r ON r.run_id = found.run_id "
                "ORDER BY found.created_at DESC, found.seq DESC",
                [*params, limit, offset],
            ).fetchall()
        return StoredRuns.of_rows(rows).records

    def figures(self, query: RunQuery, columns: tuple[str, ...], limit: int) -> list[dict[str, Any]]:
        """These columns of the newest `limit` runs `query` finds: charts read no record."""
        if not self._exists():
            return []
        where, params = query.where()
        with self._connect() as db:
            rows = db.execute(
                f"SELECT {', '.join(columns)} FROM run_columns WHERE {where} {NEWEST_FIRST} LIMIT ?",
                [*params, limit],
            ).fetchall()
        return [dict(zip(columns, row)) for row in rows]

    def records(self, query: RunQuery) -> Iterator[RunRecord]:
        """Every run `query` finds, newest first, read in batches (for exports)."""
        offset = 0
        while batch := self.page(query, offset, EXPORT_BATCH):
            yield from batch
            offset += EXPORT_BATCH

    # --- benchmarks -------------------------------------------------------------------------------

    def benchmark_started(self, benchmark_id: str, spec: dict[str, Any], order_note: str) -> str | None:
        """A benchmark starts (or resumes) in this process: its spec, and who runs it. When the
        database cannot take it, it waits in the pending file like a run (the note says so)."""
        return self._benchmark_event(
            {
                "benchmark_id": benchmark_id,
                "status": "running",
                "spec": spec,
                "order_note": order_note,
                "pid": os.getpid(),
                "pid_started": psutil.Process().create_time(),
                "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            }
        )

    def benchmark_ended(self, benchmark_id: str, status: str) -> str | None:
        return self._benchmark_event({"benchmark_id": benchmark_id, "status": status})

    def _benchmark_event(self, event: dict[str, Any]) -> str | None:
        try:
            with self._connect() as db:
                _apply_benchmark_event(db, event)
            return None
        except (sqlite3.Error, OSError) as exc:
            failure = one_line(exc, name_type=False)
        log.warning(
            "could not store that benchmark %s is %s (%s); keeping it in %s",
            event["benchmark_id"],
            event["status"],
            failure,
            self.pending_path,
        )
        return self._keep_pending(json.dumps({BENCHMARK_EVENT: event}), failure)

    def benchmarks(self) -> list[StoredBenchmark]:
        """Every benchmark, newest first, with the number of its runs stored."""
        if not self._exists():
            return []
        with self._connect() as db:
            rows = db.execute(
                "SELECT b.benchmark_id, b.created_at, b.spec, b.status, b.pid, b.pid_started, b.order_note, "
                "(SELECT COUNT(*) FROM runs r WHERE r.benchmark_id = b.benchmark_id) "
                "FROM benchmarks b ORDER BY b.created_at DESC, b.rowid DESC"
            ).fetchall()
        return [StoredBenchmark.of_row(row) for row in rows]

    def benchmark(self, benchmark_id: str) -> StoredBenchmark:
        for stored in self.benchmarks():
            if stored.benchmark_id == benchmark_id:
                return stored
        raise ConfigurationError(
            f"no benchmark {benchmark_id!r} is stored: `llm-compare bench --list` shows their ids"
        )

    def benchmark_runs(self, benchmark_id: str) -> list[RunRecord]:
        with self._connect() as db:
            db.text_factory = bytes
            rows = db.execute(
                "SELECT run_id, record FROM runs WHERE benchmark_id = ? ORDER BY rowid", (benchmark_id,)
            ).fetchall()
        return StoredRuns.of_rows(rows).records

    # --- blind comparisons and votes ------------------------------------------------------------

    def mark_blind(self, comparison_id: str) -> None:
        """A blind comparison starts: its runs stay hidden until `record_votes` or `reveal`."""
        with self._connect() as db:
            db.execute(
                "INSERT INTO blind_comparisons VALUES (?, ?, NULL) ON CONFLICT (comparison_id) DO NOTHING",
                (comparison_id, _now()),
            )

    def hidden_comparisons(self) -> set[str]:
        """The blind comparisons not voted on yet: their runs are not shown."""
        if not self.path.exists():
            return set()
        with self._connect() as db:
            return {
                row[0]
                for row in db.execute("SELECT comparison_id FROM blind_comparisons WHERE voted_at IS NULL")
            }

    def record_votes(self, comparison_id: str, votes: list[dict[str, str]]) -> None:
        """Store a blind comparison's votes (PairVote fields) and reveal it, in one transaction."""
        with self._connect() as db:
            db.executemany(
                "INSERT INTO votes VALUES (:ballot_id, :comparison_id, :created_at, :kind, :model_a, "
                ":model_a_name, :model_b, :model_b_name, :outcome)",
                votes,
            )
            db.execute(
                "UPDATE blind_comparisons SET voted_at = ? WHERE comparison_id = ?", (_now(), comparison_id)
            )

    def reveal(self, comparison_id: str) -> None:
        """Show a blind comparison's runs without a vote."""
        with self._connect() as db:
            db.execute(
                "UPDATE blind_comparisons SET voted_at = ? WHERE comparison_id = ?", (_now(), comparison_id)
            )

    def hidden_run_count(self) -> int:
        """How many runs belong to blind comparisons not voted on yet (the Results page hides them)."""
        if not self._exists():
            return 0
        with self._connect() as db:
            return db.execute(
                f"SELECT COUNT(*) FROM run_columns WHERE comparison_id IN ({UNVOTED_BLIND})"
            ).fetchone()[0]

    def votes(self) -> list[dict[str, str]]:
        """Every stored vote (PairVote fields), oldest first."""
        if not self.path.exists():
            return []
        with self._connect() as db:
            db.row_factory = sqlite3.Row
            rows = db.execute(
                "SELECT ballot_id, comparison_id, created_at, kind, model_a_id AS model_a, model_a_name, "
                "model_b_id AS model_b, model_b_name, outcome FROM votes ORDER BY rowid"
            ).fetchall()
        return [dict(row) for row in rows]

    # --- conversations ---------------------------------------------------------------------------

    def save_turn(self, turn: ConversationTurn) -> None:
        """Store a conversation's turn (again: the same turn is replaced)."""
        with self._connect() as db:
            db.execute("INSERT OR REPLACE INTO conversations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", turn.row())

    def last_single_turn(self) -> ConversationTurn | None:
        """The newest conversation of one turn whose runs may be shown (not a blind comparison
        still waiting for its vote); None when there is none."""
        if not self.path.exists():
            return None
        with self._connect() as db:
            row = db.execute(
                "SELECT * FROM conversations WHERE turn = 1 AND conversation_id NOT IN "
                "(SELECT conversation_id FROM conversations WHERE turn > 1) "
                f"AND comparison_id NOT IN ({UNVOTED_BLIND}) ORDER BY rowid DESC LIMIT 1"
            ).fetchone()
        return ConversationTurn.of_row(row) if row else None

    def runs_by_id(self, run_ids: Iterable[str]) -> list[RunRecord]:
        """The stored runs among `run_ids`, in that order (ids not stored are left out)."""
        ids = list(run_ids)
        if not ids or not self._exists():
            return []
        with self._connect() as db:
            db.text_factory = bytes
            rows = db.execute(
                f"SELECT run_id, record FROM runs WHERE run_id IN ({', '.join('?' * len(ids))})", ids
            ).fetchall()
        by_id = {record.run_id: record for record in StoredRuns.of_rows(rows).records}
        return [by_id[i] for i in ids if i in by_id]

    # --- likelihood scores (services/quality) -----------------------------------------------------

    def save_score(self, score_id: str, model_id: str, created_at: str, record: dict[str, Any]) -> None:
        with self._connect() as db:
            db.execute(
                "INSERT OR REPLACE INTO scores VALUES (?, ?, ?, ?)",
                (score_id, model_id, created_at, json.dumps(record)),
            )

    def score_records(self) -> list[dict[str, Any]]:
        """Every stored score, newest first; a row that is not a JSON object is left out."""
        if not self.path.exists():
            return []
        with self._connect() as db:
            rows = db.execute("SELECT record FROM scores ORDER BY created_at DESC, rowid DESC").fetchall()
        records = []
        for (raw,) in rows:
            try:
                record = json.loads(raw)
            except (TypeError, ValueError):
                continue
            if isinstance(record, dict):
                records.append(record)
        return records

    def _exists(self) -> bool:
        return self.path.exists() or self.pending_path.exists()

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A migrated connection, the pending runs imported and every run's columns filled; one
        transaction, committed on success. Several processes (the dashboard, CLI loops,
        benchmarks) write at once: WAL lets readers and one writer proceed together, and waits
        on a busy database are sqlite's own."""
        db = self._connection()
        try:
            migrate(db)
            db.execute("BEGIN IMMEDIATE")
            try:
                with self._pending_runs_imported(db):
                    if filled := fill_columns(db):
                        log.info("filled the columns of %d stored runs from their records", filled)
                    yield db
                    db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
            finally:
                db.text_factory = str
        except BaseException:
            self._forget_connection()  # the next call starts afresh (the file may have changed)
            raise

    def _connection(self) -> sqlite3.Connection:
        """This thread's connection, opened once: opening costs little, but closing the last
        connection to a WAL database checkpoints it, which made every save cost tens of ms."""
        db = getattr(self._threads, "db", None)
        if db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None)
            try:
                use_wal(db, self.busy_timeout_s)
                # With WAL, NORMAL syncs at checkpoints rather than at every commit: a crash of
                # any process loses nothing; only a power cut can lose the last commits (sqlite's
                # advice for WAL).
                db.execute("PRAGMA synchronous = NORMAL")
            except BaseException:
                db.close()
                raise
            self._threads.db = db
        return db

    def _forget_connection(self) -> None:
        db = getattr(self._threads, "db", None)
        self._threads.db = None
        if db is not None:
            db.close()

    def close(self) -> None:
        """Close this thread's connection (the others close with their threads)."""
        self._forget_connection()

    @contextmanager
    def _pending_runs_imported(self, db: sqlite3.Connection) -> Iterator[None]:
        """Within the caller's write transaction: store the runs (and benchmark events) waiting in
        the pending file, in the order they were written, and once the caller has committed,
        remove from the file the lines stored. A run already in the store (an import cut short
        after its commit) is not stored twice; a line that is not a whole record (half written by
        a process killed mid-write, or damaged) stays."""
        if not has_content(self.pending_path):
            yield
            return
        with locked_pending(self.pending_path) as pending:
            if pending is None:  # another process has just imported it
                yield
                return
            *lines, tail = pending.read().split(b"\n")
            kept = [line for line in lines if line.strip() and not self._import_line(db, line)]
            yield
            replace_pending(self.pending_path, b"".join(line + b"\n" for line in kept) + tail)
        log.info("stored %d pending lines from %s", len(lines) - len(kept), self.pending_path)

    def _import_line(self, db: sqlite3.Connection, line: bytes) -> bool:
        """Store one pending line; False (the line stays) when it is not a storable run or event."""
        try:
            data = json.loads(line)
            if isinstance(data, dict) and BENCHMARK_EVENT in data:
                _apply_benchmark_event(db, data[BENCHMARK_EVENT])
            else:
                insert(db, [RunRecord(**data)], if_new=True)
            return True
        except (
            ValueError,
            TypeError,
            KeyError,
            sqlite3.IntegrityError,
            sqlite3.InterfaceError,
            sqlite3.ProgrammingError,
        ) as exc:
            log.warning(
                "keeping a line of %s that is not a storable run: %s", self.pending_path, one_line(exc)
            )
            return False


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# A pending line holding a benchmark's start or end rather than a run: {"benchmark_event": {...}}.
BENCHMARK_EVENT = "benchmark_event"


def _apply_benchmark_event(db: sqlite3.Connection, event: dict[str, Any]) -> None:
    """A start (it has a spec) creates the benchmark or marks it running again, in its process;
    an end sets its status."""
    if event.get("spec") is not None:
        db.execute(
            "INSERT INTO benchmarks (benchmark_id, created_at, spec, status, pid, order_note, pid_started) "
            "VALUES (?, ?, ?, 'running', ?, ?, ?) ON CONFLICT (benchmark_id) "
            "DO UPDATE SET status = 'running', pid = excluded.pid, pid_started = excluded.pid_started",
            (
                event["benchmark_id"],
                event["created_at"],
                json.dumps(event["spec"]),
                event["pid"],
                event["order_note"],
                event.get("pid_started"),
            ),
        )
    else:
        db.execute(
            "UPDATE benchmarks SET status = ?, pid = NULL, pid_started = NULL WHERE benchmark_id = ?",
            (event["status"], event["benchmark_id"]),
        )


def _still_running(pid: int | None, pid_started: float | None) -> bool:
    """Whether the process that runs a benchmark is still there: its pid alive and, since a pid is
    reused once its process is gone, started when the benchmark's process started."""
    if not pid:
        return False
    try:
        started = psutil.Process(pid).create_time()
    except psutil.Error:
        return False
    return pid_started is None or abs(started - pid_started) < 0.01


def _first_note(db: sqlite3.Connection, condition: str) -> tuple[int, str | None]:
    """How many rows meet `condition`, and the newest one's note as "run <id>: note"."""
    count = db.execute(f"SELECT COUNT(*) FROM run_columns WHERE {condition}").fetchone()[0]
    if not count:
        return 0, None
    db.text_factory = bytes
    try:
        run_id, note = db.execute(
            f"SELECT run_id, read_note FROM run_columns WHERE {condition} {NEWEST_FIRST} LIMIT 1"
        ).fetchone()
    finally:
        db.text_factory = str
    return count, f"run {as_text(run_id).strip() or '?'}: {as_text(note)}"


def _busy_timeout_from_env() -> float:
    """How long a save waits for another process's write: $LLM_COMPARE_BUSY_TIMEOUT_S, else 30 s."""
    try:
        return float(os.environ.get(BUSY_TIMEOUT_ENV) or BUSY_TIMEOUT_S)
    except ValueError:
        log.warning("%s is not a number of seconds; using %s", BUSY_TIMEOUT_ENV, BUSY_TIMEOUT_S)
        return BUSY_TIMEOUT_S
