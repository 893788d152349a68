"""Statistics of repeated runs, as docs/metrics.md defines them: spread, intervals, ratios, verdicts.

Plain functions on plain numbers, so every figure can be checked by hand. Bootstraps use a fixed
seed: the same runs always give the same interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

RESAMPLES = 2000
SEED = 0
CONFIDENCE = 0.95
# Below this many counted runs per prompt, a ratio is reported but no winner is named.
MIN_RUNS_FOR_VERDICT = 5
MIN_RUNS_FOR_INTERVAL = MIN_RUNS_FOR_VERDICT  # with n = 2 the median's interval is just min–max
# p10/p90 need this many runs to mean something; below it the spread is min/max, labelled so.
MIN_RUNS_FOR_PERCENTILES = 10

_TAILS = (100 * (1 - CONFIDENCE) / 2, 100 * (1 + CONFIDENCE) / 2)


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    def excludes(self, value: float) -> bool:
        return not self.low <= value <= self.high


@dataclass(frozen=True)
class Summary:
    """One figure over the counted runs of one (model, prompt) or one model."""

    n: int
    median: float
    low: float  # p10, or the minimum when n < 10 (see spread_label)
    high: float  # p90, or the maximum
    spread_label: str  # "p10–p90" or "min–max"
    mean: float
    stdev: float | None  # sample standard deviation (n - 1), as llama-bench's stddev; None for n = 1
    # Bootstrap 95 % interval of the median; None below MIN_RUNS_FOR_INTERVAL, where resampling a
    # handful of runs gives back little more than their minimum and maximum.
    median_ci: Interval | None


def summarize(values: list[float]) -> Summary | None:
    """n, median, spread, mean, standard deviation and the median's interval; None without values."""
    data = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    n = len(data)
    if n == 0:
        return None
    if n >= MIN_RUNS_FOR_PERCENTILES:
        low, high = np.percentile(data, [10, 90])
        label = "p10–p90"
    else:
        low, high = data.min(), data.max()
        label = "min–max"
    return Summary(
        n=n,
        median=float(np.median(data)),
        low=float(low),
        high=float(high),
        spread_label=label,
        mean=float(data.mean()),
        stdev=float(data.std(ddof=1)) if n > 1 else None,
        median_ci=_interval(_bootstrap_medians(data, _rng())) if n >= MIN_RUNS_FOR_INTERVAL else None,
    )


def wilson_interval(passed: int, total: int) -> Interval | None:
    """95 % Wilson score interval of a pass rate; None when nothing was checked."""
    if total <= 0:
        return None
    z = NormalDist().inv_cdf((1 + CONFIDENCE) / 2)
    rate = passed / total
    centre = (rate + z * z / (2 * total)) / (1 + z * z / total)
    half = z / (1 + z * z / total) * math.sqrt(rate * (1 - rate) / total + z * z / (4 * total * total))
    return Interval(max(0.0, centre - half), min(1.0, centre + half))


@dataclass(frozen=True)
class Ratio:
    """Median of A over median of B (per prompt), or the geometric mean of per-prompt ratios."""

    value: float
    interval: Interval
    min_runs: int  # the fewest counted runs either model has on any prompt


def ratio_of_medians(pairs: list[tuple[list[float], list[float]]]) -> Ratio | None:
    """A over B for one prompt (one pair of samples) or several (geometric mean over prompts).

    The interval comes from resampling runs within each prompt, each model independently.
    None when a prompt lacks runs of either model or a median is not positive.
    """
    samples = [(_clean(a), _clean(b)) for a, b in pairs]
    if not samples or any(len(a) == 0 or len(b) == 0 for a, b in samples):
        return None
    if any(np.median(a) <= 0 or np.median(b) <= 0 for a, b in samples):
        return None
    rng = _rng()
    log_value = np.mean([math.log(np.median(a) / np.median(b)) for a, b in samples])
    log_boot = np.zeros(RESAMPLES)
    for a, b in samples:
        log_boot += np.log(_bootstrap_medians(a, rng) / _bootstrap_medians(b, rng))
    log_boot /= len(samples)
    return Ratio(
        value=math.exp(log_value),
        interval=_interval(np.exp(log_boot)),
        min_runs=min(min(len(a), len(b)) for a, b in samples),
    )


def verdict(
    name_a: str, name_b: str, ratio: Ratio | None, faster: str = "decodes", unit: str = "faster"
) -> str:
    """Plain words for a ratio where higher means A is better, e.g. "A decodes 1.42× faster than
    B, 95 % CI 1.38–1.47". A winner is named only when the interval excludes 1 and both models
    have at least MIN_RUNS_FOR_VERDICT counted runs on every prompt."""
    if ratio is None or ratio.min_runs < MIN_RUNS_FOR_VERDICT:
        return "too few runs"
    if not ratio.interval.excludes(1.0):
        return "within noise"
    value, low, high = ratio.value, ratio.interval.low, ratio.interval.high
    if value < 1:  # say it from the winner's side: "B is 1.3× faster", never "A is 0.77× faster"
        name_a, name_b = name_b, name_a
        value, low, high = 1 / value, 1 / high, 1 / low
    return f"{name_a} {faster} {value:.2f}× {unit} than {name_b}, 95 % CI {low:.2f}–{high:.2f}"


def _clean(values: list[float]) -> np.ndarray:
    return np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)


def _rng() -> np.random.Generator:
    return np.random.default_rng(SEED)


def _bootstrap_medians(data: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    picks = rng.integers(0, len(data), size=(RESAMPLES, len(data)))
    return _row_medians(np.sort(data[picks], axis=1))


def _row_medians(rows: np.ndarray) -> np.ndarray:
    """Medians of sorted rows: what np.median gives, at half its cost on benchmark-sized samples
    (it is most of a benchmark's aggregation time)."""
    middle = rows.shape[1] // 2
    return rows[:, middle] if rows.shape[1] % 2 else (rows[:, middle - 1] + rows[:, middle]) / 2


def _interval(estimates: np.ndarray) -> Interval:
    ordered = np.sort(estimates)
    return Interval(*(_linear_percentile(ordered, q) for q in _TAILS))


def _linear_percentile(ordered: np.ndarray, q: float) -> float:
    """np.percentile's default (linear) method on sorted values, to the last bit, without its
    generic machinery (a third of a benchmark's aggregation time)."""
    position = q / 100 * (len(ordered) - 1)
    below = int(position)
    above = min(below + 1, len(ordered) - 1)
    a, b, t = ordered[below], ordered[above], position - below
    return float(b - (b - a) * (1 - t) if t >= 0.5 else a + (b - a) * t)
