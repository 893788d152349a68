"""Scores as a table for people (the CLI's and the Quality page's), with the notes that say what
can be compared with what."""

from __future__ import annotations

from collections.abc import Sequence

from llm_compare.core.scores import ScoreResult

# Column heading, figure, format of value and error.
COLUMNS = (
    ("bits/byte", "bits_per_byte", "{:.4f}"),
    ("ppl", "ppl", "{:.3f}"),
    ("KL mean", "kl_mean", "{:.3g}"),
    ("KL p99", "kl_p99", "{:.3g}"),
    ("top-1 agree", "top1_agreement", "{:.2%}"),
    ("Δp mean", "delta_p_mean", "{:+.2e}"),
    ("ppl ratio", "ppl_ratio", "{:.4f}"),
    ("Δppl", "delta_ppl", "{:+.3f}"),
)
PPL_NOTE = "ppl only comparable within one tokenizer; bits per byte across any"


def with_error(value: float | None, se: float | None, template: str) -> str:
    if value is None:
        return "–"
    shown = template.format(value)
    return shown if se is None else f"{shown} ± {template.format(se).lstrip('+')}"


def table_rows(results: Sequence[ScoreResult]) -> list[dict[str, str]]:
    """One row of display strings per model."""
    rows = []
    for r in results:
        row = {"model": r.model_name, "backend": r.backend}
        for heading, figure, template in COLUMNS:
            row[heading] = with_error(getattr(r, figure), getattr(r, f"{figure}_se"), template)
        row["tokens"] = "–" if r.tokens_scored is None else str(r.tokens_scored)
        row["tok/s"] = "–" if r.scored_tps is None else f"{r.scored_tps:,.0f}"
        row["note"] = "; ".join(part for part in (r.note, r.error, _status_note(r)) if part)
        rows.append(row)
    return rows


def _status_note(result: ScoreResult) -> str | None:
    return "stopped" if result.status == "cancelled" else None


def table_notes(results: Sequence[ScoreResult]) -> list[str]:
    """What a reader must know to compare the rows."""
    notes = [PPL_NOTE]
    scored = [r for r in results if r.status == "scored"]
    if len({r.vocab_fingerprint for r in scored}) > 1:
        notes.append("these models have different vocabularies: compare them by bits per byte, not ppl")
    if scored:
        first = scored[0]
        notes.append(
            f"text {first.text_name}: {first.chunks} chunks of {first.n_ctx} tokens, the second half of each "
            "scored; ± one standard error"
        )
    return notes


def text_table(results: Sequence[ScoreResult]) -> str:
    """A plain aligned table for a terminal."""
    rows = table_rows(results)
    if not rows:
        return ""
    headings = list(rows[0])
    widths = {h: max(len(h), *(len(row[h]) for row in rows)) for h in headings}
    lines = ["  ".join(h.ljust(widths[h]) for h in headings).rstrip()]
    lines += ["  ".join(row[h].ljust(widths[h]) for h in headings).rstrip() for row in rows]
    return "\n".join(lines + [""] + [f"- {note}" for note in table_notes(results)]) + "\n"
