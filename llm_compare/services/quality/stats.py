"""The quality figures of docs/metrics.md from per-token values, each with its standard error over the
scored tokens, as llama-perplexity computes them (mean ± sqrt(var / (n - 1)))."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

LN2 = math.log(2.0)


@dataclass(frozen=True)
class Estimate:
    value: float
    se: float  # standard error


def mean_estimate(values: Sequence[float]) -> Estimate:
    x = np.asarray(values, dtype=np.float64)
    n = len(x)
    if n < 2:
        raise ValueError("a standard error needs at least 2 values")
    return Estimate(float(x.mean()), float(x.std() / math.sqrt(n - 1)))


def bits_per_byte(nll: Sequence[float], scored_bytes: int) -> Estimate:
    """Total negative log-likelihood in bits over the bytes the scored tokens cover."""
    per_token = mean_estimate(nll)
    scale = len(nll) / (LN2 * scored_bytes)
    return Estimate(per_token.value * scale, per_token.se * scale)


def perplexity(nll: Sequence[float]) -> Estimate:
    per_token = mean_estimate(nll)
    ppl = math.exp(per_token.value)
    return Estimate(ppl, ppl * per_token.se)


def percentile_99(values: Sequence[float]) -> Estimate:
    """The 99th percentile; its standard error from the order statistics that bound its 95 %
    interval (the binomial ranks n·0.99 ± 1.96·sqrt(n·0.99·0.01)), divided by 2 × 1.96."""
    x = np.sort(np.asarray(values, dtype=np.float64))
    n, q = len(x), 0.99
    half_width = 1.96 * math.sqrt(n * q * (1 - q))
    low, high = (min(n - 1, max(0, round(n * q + side * half_width))) for side in (-1, 1))
    return Estimate(float(np.percentile(x, 99)), float((x[high] - x[low]) / (2 * 1.96)))


def share(flags: Sequence[bool]) -> Estimate:
    """A proportion and its binomial standard error."""
    n = len(flags)
    p = float(np.mean(flags))
    return Estimate(p, math.sqrt(p * (1 - p) / (n - 1)))


def ppl_ratio(nll: Sequence[float], reference_nll: Sequence[float]) -> Estimate:
    """ppl(model) / ppl(reference) = exp(mean per-token difference of their NLLs), the pairing
    of the tokens kept in the error."""
    difference = mean_estimate(np.asarray(nll) - np.asarray(reference_nll))
    ratio = math.exp(difference.value)
    return Estimate(ratio, ratio * difference.se)


def delta_ppl(nll: Sequence[float], reference_nll: Sequence[float]) -> Estimate:
    """ppl(model) − ppl(reference); its error by the delta method with the two NLLs' covariance."""
    model, reference = perplexity(nll), perplexity(reference_nll)
    x, y = np.asarray(nll, dtype=np.float64), np.asarray(reference_nll, dtype=np.float64)
    covariance = float(np.mean(x * y) - x.mean() * y.mean()) / (len(x) - 1)
    variance = model.se**2 + reference.se**2 - 2 * model.value * reference.value * covariance
    return Estimate(model.value - reference.value, math.sqrt(max(variance, 0.0)))
