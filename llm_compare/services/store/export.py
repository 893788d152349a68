"""Runs as CSV (docs/csv-export.md), with text cells a spreadsheet would run made inert."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

from llm_compare.services.store.record import RunRecord, json_cell


def to_csv(records: Iterable[RunRecord]) -> str:
    return rows_to_csv(record.flat_row() for record in records)


def rows_to_csv(rows: Iterable[dict[str, Any]]) -> str:
    """CSV of flat rows sharing the first row's columns, text cells made inert for spreadsheets."""
    out, writer = io.StringIO(), None
    for row in rows:
        if writer is None:
            writer = csv.DictWriter(out, fieldnames=list(row))
            writer.writeheader()
        writer.writerow({name: _inert(json_cell(value)) for name, value in row.items()})
    return out.getvalue()


# Spreadsheets run a cell that starts with one of these as a formula (OWASP "CSV injection").
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _inert(value: Any) -> Any:
    """Text that a spreadsheet would run as a formula, prefixed with a single quote, as OWASP
    recommends. Only text: numbers (-2.5) stay numbers."""
    return "'" + value if isinstance(value, str) and value.startswith(_FORMULA_STARTS) else value
