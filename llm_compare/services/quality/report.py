"""Scores as a table for people (the CLI's and the Quality page's), with the notes that say what
can be compared with what."""

from __future__ import annotations

from collections.abc import Sequence

from llm_compare.core.formatting import EMPTY, significant, with_uncertainty
from llm_compare.core.scores import ScoreResult

# Column heading (with which way is better: ↓ lower, ↑ higher, →1 or →0 nearer that), figure, and
# whether it is shown as a percentage or with its sign. Each value is shown to its error's precision.
COLUMNS = (
    ("bits/byte ↓", "bits_per_byte", False, False),
    ("ppl ↓", "ppl", False, False),
    ("KL mean ↓", "kl_mean", False, False),
    ("KL p99 ↓", "kl_p99", False, False),
    ("top-1 agree ↑", "top1_agreement", True, False),
    ("Δp mean →0", "delta_p_mean", False, True),
    ("ppl ratio →1", "ppl_ratio", False, False),
    ("Δppl →0", "delta_ppl", False, True),
)
# The figures measured against a reference model (the others are each model's own, on the text).
REFERENCE_FIGURES = ("kl_mean", "kl_p99", "top1_agreement", "delta_p_mean", "ppl_ratio", "delta_ppl")
PPL_NOTE = "ppl only comparable within one tokenizer; bits per byte across any"
ARROWS_NOTE = "↓ lower is better, ↑ higher is better, →1 and →0: nearer that is better"


def table_rows(results: Sequence[ScoreResult]) -> list[dict[str, str]]:
    """One row of display strings per model."""
    rows = []
    for r in results:
        row = {"model": r.model_name, "backend": r.backend}
        for heading, figure, percent, sign in COLUMNS:
            row[heading] = with_uncertainty(
                getattr(r, figure), getattr(r, f"{figure}_se"), percent=percent, sign=sign
            )
        row["tokens"] = EMPTY if r.tokens_scored is None else f"{r.tokens_scored:,}"
        row["tok/s ↑"] = significant(r.scored_tps)
        row["note"] = "; ".join(part for part in (r.note, r.error, _status_note(r)) if part) or EMPTY
        rows.append(row)
    return rows


def _status_note(result: ScoreResult) -> str | None:
    return "stopped" if result.status == "cancelled" else None


def table_notes(results: Sequence[ScoreResult]) -> list[str]:
    """What a reader must know to compare the rows."""
    notes = [PPL_NOTE, ARROWS_NOTE]
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
