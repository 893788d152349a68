"""Prompt suites: the built-in one, and the user's JSONL or CSV files, validated line by line.

A malformed file raises SuiteError naming the file, the line and the reason, and nothing runs:
half a suite would make a benchmark that silently measures something else.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from llm_compare.core.errors import ConfigurationError
from llm_compare.services.bench.checks import Check, CheckError, parse_checks

FIELDS = ("id", "prompt", "system", "max_tokens", "checks")
MAX_SUITE_BYTES = 20 * 1024 * 1024  # far above any hand-made suite; a mistaken file is refused fast
BUILTIN_NAME = "built-in"


class SuiteError(ConfigurationError):
    """A suite file that cannot be used; the message is one line a user can act on."""


@dataclass(frozen=True)
class SuitePrompt:
    id: str
    prompt: str
    system: str | None = None
    max_tokens: int | None = None  # None: the model's own setting (or the benchmark's override)
    checks: tuple[Check, ...] = ()


@dataclass(frozen=True)
class Suite:
    name: str
    prompts: tuple[SuitePrompt, ...]


def prompt_to_dict(prompt: SuitePrompt) -> dict:
    """A prompt as one line of a JSONL suite: parse_suite reads it back the same."""
    data: dict = {"id": prompt.id, "prompt": prompt.prompt}
    if prompt.system:
        data["system"] = prompt.system
    if prompt.max_tokens:
        data["max_tokens"] = prompt.max_tokens
    checks: dict = {}
    for check in prompt.checks:
        if check.value is None:
            checks[check.kind] = True
        else:
            checks.setdefault(check.kind, []).append(check.value)
    if checks:
        data["checks"] = checks
    return data


def builtin_suite() -> Suite:
    data = resources.files("llm_compare.services.bench").joinpath("builtin_suite.jsonl").read_bytes()
    return parse_suite(data, BUILTIN_NAME, "jsonl")


def load_suite(path: str | Path) -> Suite:
    """A suite from a .jsonl or .csv file."""
    path = Path(path)
    kind = path.suffix.lower().lstrip(".")
    if kind not in ("jsonl", "csv"):
        raise SuiteError(
            f"{path.name}: a prompt suite is a .jsonl or .csv file, not "
            f"{path.suffix or 'a file without extension'}"
        )
    try:
        size = path.stat().st_size
        if size > MAX_SUITE_BYTES:
            raise SuiteError(
                f"{path.name} is {size / 2**20:.0f} MiB; a prompt suite may be at most "
                f"{MAX_SUITE_BYTES // 2**20} MiB"
            )
        data = path.read_bytes()
    except OSError as exc:
        raise SuiteError(f"cannot read the prompt suite {path}: {exc.strerror or exc}") from None
    return parse_suite(data, path.name, kind)


def parse_suite(data: bytes, name: str, kind: str) -> Suite:
    """A suite from the bytes of a file of `kind` "jsonl" or "csv"; `name` is used in errors."""
    text = _decode(data, name)
    records = _jsonl_records(text, name) if kind == "jsonl" else _csv_records(text, name)
    prompts, first_line = [], {}
    for line, record in records:
        prompt = _prompt(record, f"{name} line {line}")
        if prompt.id in first_line:
            raise SuiteError(
                f'{name} line {line}: id "{prompt.id}" is already used on line {first_line[prompt.id]}; ids '
                "must be unique"
            )
        first_line[prompt.id] = line
        prompts.append(prompt)
    if not prompts:
        raise SuiteError(f"{name} holds no prompts; write one per line with at least an id and a prompt")
    return Suite(name, tuple(prompts))


def _decode(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise SuiteError(
            f"{name} line {line}: not UTF-8 text (byte {data[exc.start]:#04x}); save the file as UTF-8"
        ) from None


def _jsonl_records(text: str, name: str):
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
            raise SuiteError(f"{name} line {line}: not valid JSON ({reason})") from None
        if not isinstance(record, dict):
            raise SuiteError(
                f'{name} line {line}: each line must be a JSON object such as {{"id": "q1", "prompt": "..."}}'
            )
        yield line, record


def _csv_records(text: str, name: str):
    reader = csv.DictReader(io.StringIO(text, newline=""), restkey=None, strict=True)
    start = 1  # the line the record being read starts on
    try:
        header = reader.fieldnames
        if not header:
            return
        unknown = [f for f in header if f not in FIELDS]
        if unknown:
            raise SuiteError(f'{name} line 1: unknown column "{unknown[0]}"; columns are {", ".join(FIELDS)}')
        start = reader.line_num + 1
        for row in reader:
            if None in row:
                raise SuiteError(f"{name} line {start}: more cells than the header has columns")
            record = {k: v for k, v in row.items() if v not in (None, "")}
            if record:
                if "checks" in record:
                    record["checks"] = _checks_cell(record["checks"], f"{name} line {start}")
                if "max_tokens" in record:
                    record["max_tokens"] = _int_cell(record["max_tokens"], f"{name} line {start}")
                yield start, record
            start = reader.line_num + 1
    except csv.Error as exc:
        raise SuiteError(f"{name} line {start}: not valid CSV ({exc})") from None


def _checks_cell(cell: str, where: str) -> object:
    try:
        return json.loads(cell)
    except (ValueError, RecursionError):
        raise SuiteError(
            f'{where}: the checks cell must hold a JSON object such as {{"contains": "Paris"}}'
        ) from None


def _int_cell(cell: str, where: str) -> int:
    try:
        return int(cell.strip())
    except ValueError:
        raise SuiteError(f"{where}: max_tokens must be a whole number, not {cell!r}") from None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _prompt(record: dict, where: str) -> SuitePrompt:
    unknown = [k for k in record if k not in FIELDS]
    if unknown:
        raise SuiteError(f'{where}: unknown field "{unknown[0]}"; fields are {", ".join(FIELDS)}')
    for field in ("id", "prompt"):
        if not isinstance(record.get(field), str) or not record[field].strip():
            raise SuiteError(
                f'{where}: "{field}" is missing or empty; every prompt needs an id and a prompt text'
            )
    system = record.get("system")
    if system is not None and not isinstance(system, str):
        raise SuiteError(f'{where}: "system" must be text')
    for field in ("id", "prompt", "system"):
        if not _encodable(record.get(field) or ""):
            raise SuiteError(
                f'{where}: "{field}" holds a lone surrogate escape (\\udXXX), which is not text; remove it'
            )
    max_tokens = record.get("max_tokens")
    if max_tokens is not None and (type(max_tokens) is not int or max_tokens < 1):
        raise SuiteError(
            f'{where}: "max_tokens" must be a whole number of at least 1, not {json.dumps(max_tokens)}'
        )
    try:
        checks = parse_checks(record.get("checks"))
    except CheckError as exc:
        raise SuiteError(f"{where}: {exc}") from None
    return SuitePrompt(record["id"].strip(), record["prompt"], system or None, max_tokens, checks)
