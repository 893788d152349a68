"""Which stored runs the Results page shows: filters that become one SQL condition on the runs'
columns, so that the page filters, counts and pages in the database."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Source = Literal["all", "comparisons", "benchmarks"]


@dataclass(frozen=True)
class RunQuery:
    """Readable runs of these models, backends and finish reasons (any when empty), of these
    comparisons (any when None: the page's "this session"), from comparisons or benchmarks."""

    models: tuple[str, ...] = ()
    backends: tuple[str, ...] = ()
    finish_reasons: tuple[str, ...] = ()
    comparison_ids: tuple[str, ...] | None = None
    source: Source = "all"

    def where(self) -> tuple[str, list]:
        """The SQL condition on `run_columns` and its parameters."""
        # A blind comparison's runs stay out of sight (and out of the CSV) until it is voted on.
        terms, params = ["readable = 1", f"comparison_id NOT IN ({UNVOTED_BLIND})"], []
        for column, values in (
            ("model_name", self.models),
            ("backend", self.backends),
            ("finish_reason", self.finish_reasons),
            ("comparison_id", self.comparison_ids),
        ):
            if values is None or (not values and column != "comparison_id"):
                continue
            terms.append(f"{column} IN ({', '.join('?' * len(values))})")
            params.extend(values)
        if self.source == "comparisons":
            terms.append("benchmark_id IS NULL")
        elif self.source == "benchmarks":
            terms.append("benchmark_id IS NOT NULL")
        return " AND ".join(terms), params


UNVOTED_BLIND = "SELECT comparison_id FROM blind_comparisons WHERE voted_at IS NULL"
NEWEST_FIRST = "ORDER BY created_at DESC, seq DESC"  # on run_columns (seq: the order stored in)
