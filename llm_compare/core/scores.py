"""One model's likelihood score on a text, with the figures of docs/metrics.md ("Quality figures")."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

# Figures with a standard error: each is stored and exported as `name` and `name_se`.
LIKELIHOOD_FIGURES = ("bits_per_byte", "ppl")
DIVERGENCE_FIGURES = ("kl_mean", "kl_p99", "top1_agreement", "delta_p_mean", "ppl_ratio", "delta_ppl")

FIGURE_HELP = {
    "bits_per_byte": (
        "negative log-likelihood of the scored tokens in bits, over the UTF-8 bytes they cover; comparable "
        "across tokenizers"
    ),
    "ppl": "exp(mean negative log-likelihood per scored token); comparable only within one tokenizer",
    "kl_mean": "mean KL(reference ‖ model) per scored token over the whole vocabulary, in nats",
    "kl_p99": "99th percentile of KL(reference ‖ model) per scored token, in nats",
    "top1_agreement": "share of scored tokens where the model's most likely token is the reference's",
    "delta_p_mean": (
        "mean of the model's minus the reference's probability of the reference's most likely token"
    ),
    "ppl_ratio": "ppl(model) / ppl(reference)",
    "delta_ppl": "ppl(model) − ppl(reference)",
}


@dataclass
class ScoreResult:
    """status: scored | not scored (the backend cannot be scored) | failed | cancelled. A figure
    that was not measured is None."""

    model_id: str
    model_name: str
    backend: str
    text_name: str
    status: str
    n_ctx: int | None = None
    chunks: int | None = None
    tokens_scored: int | None = None
    scored_bytes: int | None = None
    seconds: float | None = None
    scored_tps: float | None = None  # tokens scored per second of evaluation
    bits_per_byte: float | None = None
    bits_per_byte_se: float | None = None
    ppl: float | None = None
    ppl_se: float | None = None
    reference_id: str | None = None  # the reference this model's divergence is measured against
    kl_mean: float | None = None
    kl_mean_se: float | None = None
    kl_p99: float | None = None
    kl_p99_se: float | None = None
    top1_agreement: float | None = None
    top1_agreement_se: float | None = None
    delta_p_mean: float | None = None
    delta_p_mean_se: float | None = None
    ppl_ratio: float | None = None
    ppl_ratio_se: float | None = None
    delta_ppl: float | None = None
    delta_ppl_se: float | None = None
    vocab_fingerprint: str | None = None
    note: str | None = None  # why a figure is missing, or what it can be compared with
    error: str | None = None
    score_id: str | None = None  # one scoring of several models on one text
    created_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScoreResult:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
