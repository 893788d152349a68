"""A stored run: the record every run is kept as, and how a stored row is read back (whatever it
holds, a bad row costs only itself)."""

from __future__ import annotations

import json
import logging
import math
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from llm_compare.core.config import ModelConfig
from llm_compare.core.models import ModelInfo
from llm_compare.core.results import BOOLEAN_STATS, STAT_HELP, InferenceResult
from llm_compare.services.engine.host import host_info

log = logging.getLogger(__name__)


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
    device: str | None = None  # what it ran on (docs/metrics.md: device); None before it was recorded
    # A benchmark's run: benchmark_id, prompt_id, repeat, seed, checks ([{"check", "passed"}]),
    # skipped (why the prompt was not run). Empty for a comparison's run.
    bench: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_result(
        cls,
        *,
        comparison_id: str,
        prompt: str,
        system_prompt: str | None,
        schedule: str,
        model: ModelInfo,
        config: ModelConfig,
        result: InferenceResult,
    ) -> RunRecord:
        identity = {
            "id": model.id,
            "name": model.name,
            "type": model.type.value,
            "path": model.path,
            "size_bytes": model.size_bytes,
            "architecture": model.metadata.architecture,
            "parameters": model.metadata.parameters,
            "quantization": model.metadata.quantization,
            "mtime": model.metadata.mtime,
        }
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
            device=result.device,
        )

    def to_json(self) -> str:
        """The record as one line of JSON: what the store and the pending file keep. ASCII, so
        that any text (even lone surrogates from undecodable input) is written as it is held.
        The fields as they are (json walks them): asdict's deep copy cost more than the save."""
        return json.dumps({name: getattr(self, name) for name in self.__dataclass_fields__})

    @classmethod
    def from_json(cls, line: str | bytes) -> RunRecord:
        return cls(**json.loads(line))

    def flat_row(self) -> dict[str, Any]:
        """One flat row: identity, every docs/metrics.md figure, the config, the answer."""
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
        row["device"] = self.device
        row["dtype_used"] = self.runtime.get("dtype")
        row["n_threads_used"] = self.runtime.get("n_threads")
        row["n_gpu_layers_used"] = self.runtime.get("n_gpu_layers")
        row["torch_device_used"] = self.runtime.get("torch_device")
        # Every current setting, whatever the record holds: runs stored before a setting was
        # added (or after one was removed) share one header with the others.
        row.update({f"config_{name}": json_cell(self.config.get(name)) for name in ModelConfig.model_fields})
        row.update({"prompt": self.prompt, "system_prompt": self.system_prompt, "text": self.text})
        row["backend_versions"] = json_cell(self.backend_versions)
        row["host_cpu"], row["host_cores"], row["host_ram_bytes"] = (
            self.host.get(k) for k in ("cpu", "cores", "ram_bytes")
        )
        return row


def new_comparison_id() -> str:
    return uuid.uuid4().hex[:12]


def json_cell(value: Any) -> Any:
    """A value as one flat cell: lists and mappings as JSON."""
    return json.dumps(value) if isinstance(value, (list, dict)) else value


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
            name = as_text(run_id).strip() or "?"
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


SURROGATES = re.compile("[\ud800-\udfff]")
NUMERIC_STATS = tuple(name for name in STAT_HELP if name not in (*BOOLEAN_STATS, "finish_reason"))
_TEXT_FIELDS, _OPTIONAL_TEXT_FIELDS = (
    ("comparison_id", "prompt", "schedule", "text"),
    ("system_prompt", "error", "finish_reason", "device"),
)
_DICT_FIELDS = ("config", "stats", "backend_versions", "ignored_settings", "host", "runtime", "bench")


def record_from_row(raw: Any) -> tuple[RunRecord, list[str]]:
    """A stored record as a RunRecord, and notes on what had to be changed to show it: text that
    is not valid Unicode gets U+FFFD, a field of the wrong type its empty value. UnreadableRun
    when there is no run to show (not JSON, no time, no model)."""
    notes: list[str] = []
    data = _json_object(raw, notes)
    try:
        text = json.dumps(data, ensure_ascii=False)  # one pass in C, not a walk in Python
        if SURROGATES.search(text):
            data = json.loads(SURROGATES.sub("\ufffd", text))
            notes.append("text that is not valid Unicode, shown as \ufffd")
    except RecursionError:  # parsed just under json's limit: too deep for anything else
        raise UnreadableRun("the record is nested too deeply") from None
    model = data.get("model")
    if not isinstance(model, dict) or not all(
        isinstance(model.get(k), str) for k in ("id", "name", "type", "path")
    ):
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
    for name in NUMERIC_STATS:
        value = stats.get(name)
        if value is not None and not (
            isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        ):
            stats[name] = None
            notes.append(f"{name} was not a number")
    for name in BOOLEAN_STATS:
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


def _is_time(value: Any) -> bool:
    try:
        datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return False
    return True


def as_text(value: Any) -> str:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)
