"""Every run that happened, kept in SQLite with a snapshot of everything needed to trust it later:
the exact configuration, the model's identity, the prompt, the output, library versions, host."""

from __future__ import annotations

import csv
import fcntl
import io
import json
import logging
import math
import os
import re
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from llm_compare.core.config import ModelConfig
from llm_compare.core.errors import ConfigurationError, LLMCompareError
from llm_compare.core.models import ModelInfo
from llm_compare.core.results import STAT_HELP, InferenceResult
from llm_compare.paths import data_home
from llm_compare.services.engine.host import host_info

log = logging.getLogger(__name__)

MODEL_IDENTITY_KEYS = ("architecture", "parameters", "quantization", "mtime")


@dataclass
class RunRecord:
    """One model's answer to one prompt, as stored."""

    run_id: str
    comparison_id: str
    created_at: str
    prompt: str
    system_prompt: str | None
    schedule: str
    model: dict[str, Any]
    config: dict[str, Any]
    text: str
    finish_reason: str | None
    error: str | None
    stats: dict[str, Any]
    backend_versions: dict[str, str] = field(default_factory=dict)
    ignored_settings: dict[str, str] = field(default_factory=dict)
    host: dict[str, Any] = field(default_factory=dict)
    runtime: dict[str, str] = field(default_factory=dict)
    # A benchmark's run: benchmark_id, prompt_id, repeat, seed, checks ([{"check", "passed"}]),
    # skipped (why the prompt was not run). Empty for a comparison's run.
    bench: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_result(
        cls, *, comparison_id: str, prompt: str, system_prompt: str | None, schedule: str,
        model: ModelInfo, config: ModelConfig, result: InferenceResult,
    ) -> RunRecord:
        identity = {"id": model.id, "name": model.name, "type": model.type.value, "path": model.path, "size_bytes": model.size_bytes}
        identity.update({key: model.metadata.get(key) for key in MODEL_IDENTITY_KEYS})
        return cls(
            run_id=uuid.uuid4().hex,
            comparison_id=comparison_id,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            prompt=prompt,
            system_prompt=system_prompt,
            schedule=schedule,
            model=identity,
            config=config.model_dump(),
            text=result.text,
            finish_reason=result.finish_reason.value if result.finish_reason else None,
            error=result.error,
            stats=result.stats.to_dict(),
            backend_versions=result.backend_versions,
            ignored_settings=result.ignored_settings,
            host=host_info(),
            runtime=result.runtime,
        )

    def to_json(self) -> str:
        """The record as one line of JSON: what the store and the pending file keep. ASCII, so
        that any text (even lone surrogates from undecodable input) is written as it is held."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, line: str | bytes) -> RunRecord:
        return cls(**json.loads(line))

    def flat_row(self) -> dict[str, Any]:
        """One flat row: identity, every metrics.md figure, the config, the answer."""
        row = {
            "run_id": self.run_id,
            "comparison_id": self.comparison_id,
            "created_at": self.created_at,
            "model_name": self.model["name"],  # as in a benchmark's runs CSV
            "model_id": self.model["id"],
            "backend": self.model["type"],
            "quantization": self.model.get("quantization"),
            "parameters": self.model.get("parameters"),
            "size_bytes": self.model.get("size_bytes"),
            "model_path": self.model["path"],
            "schedule": self.schedule,
        }
        row.update({name: self.stats.get(name) for name in STAT_HELP})
        row["error"] = self.error
        row["dtype_used"] = self.runtime.get("dtype")
        row["n_threads_used"] = self.runtime.get("n_threads")
        # Every current setting, whatever the record holds: runs stored before a setting was
        # added (or after one was removed) share one header with the others.
        row.update({f"config_{name}": _cell(self.config.get(name)) for name in ModelConfig.model_fields})
        row.update({"prompt": self.prompt, "system_prompt": self.system_prompt, "text": self.text})
        row["backend_versions"] = _cell(self.backend_versions)
        row["host_cpu"], row["host_cores"], row["host_ram_bytes"] = (self.host.get(k) for k in ("cpu", "cores", "ram_bytes"))
        return row


def new_comparison_id() -> str:
    return uuid.uuid4().hex[:12]


def to_csv(records: list[RunRecord]) -> str:
    return rows_to_csv([record.flat_row() for record in records])


def rows_to_csv(rows: list[dict[str, Any]]) -> str:
    """CSV of flat rows sharing the first row's columns, text cells made inert for spreadsheets."""
    if not rows:
        return ""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows({name: _inert(_cell(value)) for name, value in row.items()} for row in rows)
    return out.getvalue()


# Spreadsheets run a cell that starts with one of these as a formula (OWASP "CSV injection").
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _inert(value: Any) -> Any:
    """Text that a spreadsheet would run as a formula, prefixed with a single quote, as OWASP
    recommends. Only text: numbers (-2.5) stay numbers."""
    return "'" + value if isinstance(value, str) and value.startswith(_FORMULA_STARTS) else value


def _cell(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, (list, dict)) else value


def _create_runs_table(db: sqlite3.Connection) -> None:
    db.execute(
        "CREATE TABLE runs (run_id TEXT PRIMARY KEY, comparison_id TEXT NOT NULL, "
        "created_at TEXT NOT NULL, model_id TEXT NOT NULL, record TEXT NOT NULL)"
    )
    db.execute("CREATE INDEX runs_created_at ON runs (created_at)")


def _add_benchmark_id(db: sqlite3.Connection) -> None:
    """Benchmarks find their runs by id: a column, filled from the records already stored."""
    db.execute("ALTER TABLE runs ADD COLUMN benchmark_id TEXT")
    db.execute("UPDATE runs SET benchmark_id = json_extract(record, '$.bench.benchmark_id') WHERE json_valid(record)")
    db.execute("CREATE INDEX runs_benchmark_id ON runs (benchmark_id)")


def _create_benchmarks_table(db: sqlite3.Connection) -> None:
    db.execute(
        "CREATE TABLE benchmarks (benchmark_id TEXT PRIMARY KEY, created_at TEXT NOT NULL, spec TEXT NOT NULL, "
        "status TEXT NOT NULL, pid INTEGER, order_note TEXT)"
    )


def _create_scores_table(db: sqlite3.Connection) -> None:
    """Likelihood scores (services/quality): one row per model per scoring, its ScoreResult as JSON."""
    db.execute(
        "CREATE TABLE scores (score_id TEXT NOT NULL, model_id TEXT NOT NULL, created_at TEXT NOT NULL, "
        "record TEXT NOT NULL, PRIMARY KEY (score_id, model_id))"
    )
    db.execute("CREATE INDEX scores_model_created ON scores (model_id, created_at)")


# Numbered schema changes, applied in order; never edit one that has shipped, append a new one.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    _create_runs_table, _add_benchmark_id, _create_benchmarks_table, _create_scores_table,
]


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
        benchmark_id, created_at, spec, status, pid, order_note, runs = row
        if status == "running" and not (pid and psutil.pid_exists(pid)):
            status = "incomplete"  # its process was stopped or crashed: it can be resumed
        return cls(benchmark_id, created_at, json.loads(spec), status, order_note or "", runs)


class RunNotKeptError(LLMCompareError):
    """Neither the store nor its pending file could take a run."""


class RunStore:
    """The runs in `home`/runs.sqlite3. A run the database cannot take (locked for longer than
    the busy timeout, a full disk) waits in `home`/pending-runs.jsonl, one JSON line per run,
    and is stored the next time the store opens."""

    def __init__(self, home: str | Path | None = None, busy_timeout_s: float | None = None):
        home = Path(home).expanduser() if home else data_home()
        self.path = home / "runs.sqlite3"
        self.pending_path = home / PENDING_FILE_NAME
        self.busy_timeout_s = busy_timeout_s if busy_timeout_s is not None else _busy_timeout_from_env()

    def save(self, record: RunRecord) -> None:
        with self._connect() as db:
            _insert(db, record)

    def save_or_keep(self, record: RunRecord) -> str | None:
        """Store `record`; if the database cannot take it, append it to the pending file.
        None when stored, else one line saying what failed and where the run waits.
        Raises RunNotKeptError when the pending file cannot be written either."""
        try:
            self.save(record)
            return None
        except (sqlite3.Error, OSError) as exc:
            failure = _one_line(exc)
        log.warning("could not store run %s in %s (%s); keeping it in %s", record.run_id, self.path, failure, self.pending_path)
        try:
            _append_line(self.pending_path, record.to_json())
        except OSError as exc:
            raise RunNotKeptError(
                f"not saved: {failure} ({self.path}); the pending file {self.pending_path} could not be "
                f"written either ({_one_line(exc)})"
            ) from exc
        return f"not saved: {failure} (kept in pending file {self.pending_path}; stored the next time the store opens)"

    def list(self, limit: int | None = None) -> list[RunRecord]:
        """Stored runs, newest first (rows that cannot be read are left out: see `read`)."""
        return self.read(limit).records

    def read(self, limit: int | None = None) -> StoredRuns:
        """Stored runs, newest first; a row that cannot be read costs only itself."""
        if not self.path.exists() and not self.pending_path.exists():
            return StoredRuns([])
        query = "SELECT run_id, record FROM runs ORDER BY created_at DESC, rowid DESC"
        with self._connect() as db:
            db.text_factory = bytes  # decoded row by row: one row of bad bytes must not fail the query
            rows = db.execute(query + (" LIMIT ?" if limit else ""), (limit,) if limit else ()).fetchall()
        return StoredRuns.of_rows(rows)

    def clear(self) -> None:
        with self._connect() as db:
            db.execute("DELETE FROM runs")

    # --- benchmarks -------------------------------------------------------------------------------

    def benchmark_started(self, benchmark_id: str, spec: dict[str, Any], order_note: str) -> None:
        """A benchmark starts (or resumes) in this process: its spec, and who runs it."""
        with self._connect() as db:
            db.execute(
                "INSERT INTO benchmarks VALUES (?, ?, ?, 'running', ?, ?) ON CONFLICT (benchmark_id) "
                "DO UPDATE SET status = 'running', pid = excluded.pid",
                (benchmark_id, datetime.now(UTC).isoformat(timespec="seconds"), json.dumps(spec),
                 os.getpid(), order_note),
            )

    def benchmark_ended(self, benchmark_id: str, status: str) -> None:
        with self._connect() as db:
            db.execute("UPDATE benchmarks SET status = ?, pid = NULL WHERE benchmark_id = ?", (status, benchmark_id))

    def benchmarks(self) -> list[StoredBenchmark]:
        """Every benchmark, newest first, with the number of its runs stored."""
        if not self.path.exists():
            return []
        with self._connect() as db:
            rows = db.execute(
                "SELECT b.benchmark_id, b.created_at, b.spec, b.status, b.pid, b.order_note, "
                "(SELECT COUNT(*) FROM runs r WHERE r.benchmark_id = b.benchmark_id) "
                "FROM benchmarks b ORDER BY b.created_at DESC, b.rowid DESC"
            ).fetchall()
        return [StoredBenchmark.of_row(row) for row in rows]

    def benchmark(self, benchmark_id: str) -> StoredBenchmark:
        for stored in self.benchmarks():
            if stored.benchmark_id == benchmark_id:
                return stored
        raise ConfigurationError(f"no benchmark {benchmark_id!r} is stored: `llm-compare bench --list` shows their ids")

    def benchmark_runs(self, benchmark_id: str) -> list[RunRecord]:
        with self._connect() as db:
            db.text_factory = bytes
            rows = db.execute(
                "SELECT run_id, record FROM runs WHERE benchmark_id = ? ORDER BY rowid", (benchmark_id,)
            ).fetchall()
        return StoredRuns.of_rows(rows).records

    # --- likelihood scores ----------------------------------------------------------------------

    def save_score(self, score_id: str, model_id: str, created_at: str, record: dict[str, Any]) -> None:
        with self._connect() as db:
            db.execute("INSERT OR REPLACE INTO scores VALUES (?, ?, ?, ?)", (score_id, model_id, created_at, json.dumps(record)))

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

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A migrated connection, the pending runs imported; one transaction, committed on
        success, always closed. Several processes (the dashboard, CLI loops, benchmarks) write at
        once: WAL lets readers and one writer proceed together, and waits on a busy database are
        sqlite's own."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None)) as db:
            _use_wal(db, self.busy_timeout_s)
            _migrate(db)
            db.execute("BEGIN IMMEDIATE")
            try:
                with self._pending_runs_imported(db):
                    yield db
                    db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise

    @contextmanager
    def _pending_runs_imported(self, db: sqlite3.Connection) -> Iterator[None]:
        """Within the caller's write transaction: store the runs waiting in the pending file,
        and once the caller has committed, remove from the file the lines stored. A run already
        in the store (an import cut short after its commit) is not stored twice; a line that is
        not a whole record (half written by a process killed mid-write, or damaged) stays."""
        if not _has_content(self.pending_path):
            yield
            return
        with _locked_pending(self.pending_path) as pending:
            if pending is None:  # another process has just imported it
                yield
                return
            *lines, tail = pending.read().split(b"\n")
            kept = [line for line in lines if line.strip() and not self._import_line(db, line)]
            yield
            _replace_pending(self.pending_path, b"".join(line + b"\n" for line in kept) + tail)
        log.info("stored %d pending runs from %s", len(lines) - len(kept), self.pending_path)

    def _import_line(self, db: sqlite3.Connection, line: bytes) -> bool:
        """Store one pending line's run; False (the line stays) when it is not a storable record."""
        try:
            _insert(db, RunRecord.from_json(line), if_new=True)
            return True
        except (ValueError, TypeError, KeyError, sqlite3.IntegrityError, sqlite3.InterfaceError, sqlite3.ProgrammingError) as exc:
            log.warning("keeping a line of %s that is not a storable run: %s", self.pending_path, _one_line(exc))
            return False


PENDING_FILE_NAME = "pending-runs.jsonl"
BUSY_TIMEOUT_ENV = "LLM_COMPARE_BUSY_TIMEOUT_S"


def _busy_timeout_from_env() -> float:
    """How long a save waits for another process's write: $LLM_COMPARE_BUSY_TIMEOUT_S, else 30 s."""
    try:
        return float(os.environ.get(BUSY_TIMEOUT_ENV) or BUSY_TIMEOUT_S)
    except ValueError:
        log.warning("%s is not a number of seconds; using %s", BUSY_TIMEOUT_ENV, BUSY_TIMEOUT_S)
        return BUSY_TIMEOUT_S


def _insert(db: sqlite3.Connection, record: RunRecord, if_new: bool = False) -> None:
    """Insert `record`; with `if_new`, a run already stored (same run_id) is left as it is."""
    db.execute(
        "INSERT INTO runs (run_id, comparison_id, created_at, model_id, record, benchmark_id) VALUES (?, ?, ?, ?, ?, ?)"
        + (" ON CONFLICT (run_id) DO NOTHING" if if_new else ""),
        (record.run_id, record.comparison_id, record.created_at, record.model["id"], record.to_json(),
         record.bench.get("benchmark_id")),
    )


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _has_content(path: Path) -> bool:
    try:
        return path.stat().st_size > 0
    except OSError:
        return False


def _append_line(path: Path, line: str) -> None:
    """Append one line under the file's lock, in one write: lines from several processes never
    interleave, and none lands in a file an import has just replaced."""
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        with _locked_pending(path, create=True) as pending:
            if pending is not None:
                fd, size = pending.fileno(), os.fstat(pending.fileno()).st_size
                # After a half-written line (its writer was killed), start a new line: that one
                # stays unreadable (and kept), this one whole.
                start = b"\n" if size and os.pread(fd, 1, size - 1) != b"\n" else b""
                os.write(fd, start + (line + "\n").encode("utf-8"))  # O_APPEND: at the end
                os.fsync(fd)
                return


@contextmanager
def _locked_pending(path: Path, create: bool = False) -> Iterator[Any]:
    """The pending file opened for appending and locked (flock) against other processes; None
    when it is gone or was replaced while we waited for the lock (an import rewrote it)."""
    flags = os.O_RDWR | os.O_APPEND | (os.O_CREAT if create else 0)
    try:
        fd = os.open(path, flags, 0o600)
    except FileNotFoundError:
        if create:
            raise
        yield None
        return
    with os.fdopen(fd, "rb+") as pending:
        fcntl.flock(pending.fileno(), fcntl.LOCK_EX)
        try:
            still_there = os.stat(path).st_ino == os.fstat(pending.fileno()).st_ino
        except FileNotFoundError:
            still_there = False
        yield pending if still_there else None


def _replace_pending(path: Path, content: bytes) -> None:
    """Rewrite the pending file atomically (while holding its lock): with `content`, or remove it
    when nothing is left. Appenders waiting on the old file see it was replaced and try again."""
    if not content:
        path.unlink()
        return
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(content)
    os.replace(tmp, path)


BUSY_TIMEOUT_S = 30.0


def _use_wal(db: sqlite3.Connection, timeout_s: float) -> None:
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


def _migrate(db: sqlite3.Connection) -> None:
    """Apply the migrations this database lacks. Under an exclusive lock, reading the version
    again: two processes opening a new store at once must not both create its tables."""
    if db.execute("PRAGMA user_version").fetchone()[0] >= len(MIGRATIONS):
        return
    db.execute("BEGIN EXCLUSIVE")
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        for number, migrate in enumerate(MIGRATIONS[version:], start=version + 1):
            migrate(db)
            db.execute(f"PRAGMA user_version = {number}")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


# --- reading rows back: whatever a row holds (an old version's, a crash's, a hand edit's), it costs
# only itself. Repairable rows are shown with a note; the others are counted and left out.


@dataclass
class StoredRuns:
    records: list[RunRecord]
    unreadable: list[str] = field(default_factory=list)  # "run <id>: why", one per row left out
    repaired: list[str] = field(default_factory=list)  # "run <id>: what", one per row shown changed

    @classmethod
    def of_rows(cls, rows: list[tuple[Any, Any]]) -> StoredRuns:
        runs = cls([])
        for run_id, raw in rows:
            name = _text(run_id).strip() or "?"
            try:
                record, notes = record_from_row(raw)
            except UnreadableRun as exc:
                runs.unreadable.append(f"run {name}: {exc}")
                log.warning("stored run %s left out: %s", name, exc)
                continue
            runs.records.append(record)
            if notes:
                runs.repaired.append(f"run {name}: {'; '.join(notes)}")
        return runs


class UnreadableRun(ValueError):
    """A stored row that cannot be shown as a run; the message says why, in one line."""


_SURROGATES = re.compile("[\ud800-\udfff]")
_NUMERIC_STATS = tuple(name for name in STAT_HELP if name not in ("warm", "busy", "finish_reason"))
_TEXT_FIELDS, _OPTIONAL_TEXT_FIELDS = ("comparison_id", "prompt", "schedule", "text"), ("system_prompt", "error", "finish_reason")
_DICT_FIELDS = ("config", "stats", "backend_versions", "ignored_settings", "host", "runtime", "bench")


def record_from_row(raw: Any) -> tuple[RunRecord, list[str]]:
    """A stored record as a RunRecord, and notes on what had to be changed to show it: text that
    is not valid Unicode gets U+FFFD, a field of the wrong type its empty value. UnreadableRun
    when there is no run to show (not JSON, no time, no model)."""
    notes: list[str] = []
    data = _json_object(raw, notes)
    try:
        if _contains_surrogates(data):
            data = json.loads(_SURROGATES.sub("\ufffd", json.dumps(data, ensure_ascii=False)))
            notes.append("text that is not valid Unicode, shown as \ufffd")
    except RecursionError:  # parsed just under json's limit: too deep for anything else
        raise UnreadableRun("the record is nested too deeply") from None
    model = data.get("model")
    if not isinstance(model, dict) or not all(isinstance(model.get(k), str) for k in ("id", "name", "type", "path")):
        raise UnreadableRun("the record names no model")
    if not isinstance(data.get("run_id"), str) or not _is_time(data.get("created_at")):
        raise UnreadableRun("the record has no run id or no valid time")
    values = {name: data[name] for name in ("run_id", "created_at", "model")}
    for name in _TEXT_FIELDS + _OPTIONAL_TEXT_FIELDS:
        value = data.get(name)
        if value is None and name in _OPTIONAL_TEXT_FIELDS:
            values[name] = None
        elif isinstance(value, str):
            values[name] = value
        else:
            values[name] = "" if value is None else str(value)
            notes.append(f"{name} was not text")
    for name in _DICT_FIELDS:
        values[name] = data.get(name) if isinstance(data.get(name), dict) else {}
        if name in data and not isinstance(data[name], dict):
            notes.append(f"{name} was not an object")
    stats = values["stats"] = dict(values["stats"])
    for name in _NUMERIC_STATS:
        value = stats.get(name)
        if value is not None and not (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)):
            stats[name] = None
            notes.append(f"{name} was not a number")
    for name in ("warm", "busy"):
        if stats.get(name) is not None and not isinstance(stats[name], bool):
            stats[name] = None
            notes.append(f"{name} was not true or false")
    return RunRecord(**values), notes


def _json_object(raw: Any, notes: list[str]) -> dict:
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raw = raw.decode("utf-8", errors="replace")
            notes.append("bytes that are not UTF-8, shown as \ufffd")
    if not isinstance(raw, str):
        raise UnreadableRun(f"the record is not JSON text but {type(raw).__name__} {raw!r:.40}")
    try:
        data = json.loads(raw)
    except RecursionError:
        raise UnreadableRun("the record is nested too deeply") from None
    except ValueError as exc:
        raise UnreadableRun(f"the record is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise UnreadableRun("the record is not a JSON object")
    return data


def _contains_surrogates(value: Any) -> bool:
    if isinstance(value, str):
        return bool(_SURROGATES.search(value))
    if isinstance(value, dict):
        return any(_contains_surrogates(k) or _contains_surrogates(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_contains_surrogates(v) for v in value)
    return False


def _is_time(value: Any) -> bool:
    try:
        datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return False
    return True


def _text(value: Any) -> str:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)
