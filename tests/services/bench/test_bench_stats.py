"""Benchmark statistics against values worked out by hand (docs/metrics.md, "Over repeated runs")."""

import math
import random
import statistics

import pytest

from llm_compare.services.bench.stats import (
    Interval,
    Ratio,
    ratio_of_medians,
    summarize,
    verdict,
    wilson_interval,
)


def test_one_run_has_a_median_but_no_spread_figures():
    s = summarize([3.0])
    assert (s.n, s.median, s.low, s.high, s.mean) == (1, 3.0, 3.0, 3.0, 3.0)
    assert s.spread_label == "min–max"
    assert s.stdev is None and s.median_ci is None


def test_fewer_than_five_runs_have_no_interval():
    # Resampling [1, 3] gives medians 1, 2 and 3: the interval would only repeat min–max.
    s = summarize([3.0, 1.0])
    assert (s.n, s.median, s.low, s.high, s.mean) == (2, 2.0, 1.0, 3.0, 2.0)
    assert s.stdev == pytest.approx(math.sqrt(2))
    assert s.median_ci is None
    assert summarize([1.0, 2.0, 3.0, 4.0]).median_ci is None


def test_five_runs_use_min_and_max_and_the_sample_standard_deviation():
    # P(resampled median of 1..5 is 1) = P(at least 3 of 5 draws are 1) = 0.058 > 0.025,
    # so the interval's ends are the extremes.
    s = summarize([5.0, 1.0, 4.0, 2.0, 3.0])
    assert (s.n, s.median, s.low, s.high, s.mean) == (5, 3.0, 1.0, 5.0, 3.0)
    assert s.spread_label == "min–max"
    assert s.stdev == pytest.approx(math.sqrt(2.5))  # sum of squares 10 over n - 1 = 4
    assert s.median_ci == Interval(1.0, 5.0)


def test_ten_runs_use_p10_and_p90_and_the_interval_matches_an_independent_bootstrap():
    values = [float(v) for v in range(10, 0, -1)]
    s = summarize(values)
    assert (s.n, s.median, s.mean) == (10, 5.5, 5.5)
    # Linear interpolation between order statistics: p10 at rank 0.9 of 0..9, p90 at rank 8.1.
    assert (s.low, s.high) == (pytest.approx(1.9), pytest.approx(9.1))
    assert s.spread_label == "p10–p90"
    assert s.stdev == pytest.approx(math.sqrt(82.5 / 9))
    rng = random.Random(7)
    medians = sorted(statistics.median(rng.choices(values, k=10)) for _ in range(20000))
    assert s.median_ci.low == pytest.approx(medians[500], abs=0.5)
    assert s.median_ci.high == pytest.approx(medians[19500], abs=0.5)
    assert summarize(values) == s  # a fixed seed: the same runs give the same interval


def test_missing_and_non_finite_values_are_not_counted():
    assert summarize([]) is None
    assert summarize([None, float("nan")]) is None
    assert summarize([2.0, None, float("inf"), 4.0]).n == 2


@pytest.mark.parametrize(
    ("passed", "total", "low", "high"),
    [(8, 10, 0.4902, 0.9433), (0, 5, 0.0, 0.4345), (5, 5, 0.5655, 1.0), (1, 1, 0.2065, 1.0)],
)
def test_pass_rate_interval_is_wilsons(passed, total, low, high):
    interval = wilson_interval(passed, total)
    assert interval.low == pytest.approx(low, abs=1e-4)
    assert interval.high == pytest.approx(high, abs=1e-4)


def test_no_checks_no_pass_rate_interval():
    assert wilson_interval(0, 0) is None


def test_ratio_of_constant_samples_is_exact_and_over_prompts_is_the_geometric_mean():
    one = ratio_of_medians([([10.0] * 5, [5.0] * 5)])
    assert (one.value, one.interval, one.min_runs) == (2.0, Interval(2.0, 2.0), 5)
    two = ratio_of_medians([([10.0] * 5, [5.0] * 5), ([16.0] * 6, [2.0] * 7)])
    assert two.value == pytest.approx(4.0)  # sqrt(2 * 8)
    assert two.interval.low == pytest.approx(4.0) and two.interval.high == pytest.approx(4.0)
    assert two.min_runs == 5


def test_ratio_interval_covers_the_true_ratio_of_noisy_samples():
    rng = random.Random(3)
    a = [100 * rng.uniform(0.95, 1.05) for _ in range(9)]
    b = [50 * rng.uniform(0.95, 1.05) for _ in range(9)]
    ratio = ratio_of_medians([(a, b)])
    assert ratio.value == pytest.approx(statistics.median(a) / statistics.median(b))
    assert 1.85 < ratio.interval.low < ratio.value < ratio.interval.high < 2.15


def test_a_ratio_needs_runs_of_both_models_on_every_prompt():
    assert ratio_of_medians([]) is None
    assert ratio_of_medians([([1.0, 2.0], [])]) is None
    assert ratio_of_medians([([1.0], [1.0]), ([None], [2.0])]) is None
    assert ratio_of_medians([([0.0], [1.0])]) is None


def test_verdict_names_a_winner_only_with_enough_runs_and_an_interval_excluding_one():
    clear = Ratio(1.42, Interval(1.38, 1.47), min_runs=5)
    assert verdict("A", "B", clear) == "A decodes 1.42× faster than B, 95 % CI 1.38–1.47"
    assert verdict("A", "B", Ratio(1.42, Interval(1.38, 1.47), min_runs=4)) == "too few runs"
    assert verdict("A", "B", Ratio(1.02, Interval(0.97, 1.08), min_runs=20)) == "within noise"
    assert verdict("A", "B", None) == "too few runs"


def test_verdict_speaks_from_the_winners_side():
    slower = Ratio(0.5, Interval(0.4, 0.8), min_runs=5)
    assert verdict("A", "B", slower) == "B decodes 2.00× faster than A, 95 % CI 1.25–2.50"
    assert (
        verdict("A", "B", Ratio(2.0, Interval(1.5, 2.5), 5), faster="reaches its first token", unit="sooner")
        == "A reaches its first token 2.00× sooner than B, 95 % CI 1.50–2.50"
    )


def test_equal_samples_are_within_noise_end_to_end():
    same = [1.0, 2.0, 3.0, 4.0, 5.0]
    assert verdict("A", "B", ratio_of_medians([(same, list(reversed(same)))])) == "within noise"


def test_the_bootstrap_medians_equal_numpys_medians_of_the_same_resamples():
    """The fast row medians must give exactly what np.median gives (odd and even sample sizes)."""
    import numpy as np

    from llm_compare.services.bench.stats import RESAMPLES, _bootstrap_medians

    for n in (1, 2, 5, 6, 10):
        data = np.random.default_rng(n).normal(100, 10, n)
        picks = np.random.default_rng(7).integers(0, n, size=(RESAMPLES, n))
        expected = np.median(data[picks], axis=1)
        assert np.array_equal(_bootstrap_medians(data, np.random.default_rng(7)), expected)


def test_the_interval_percentiles_equal_numpys_to_the_last_bit():
    import numpy as np

    from llm_compare.services.bench.stats import _TAILS, _interval

    for n in (2, 7, 2000):
        estimates = np.random.default_rng(n).lognormal(3, 1, n)
        low, high = np.percentile(estimates, _TAILS)
        assert (_interval(estimates).low, _interval(estimates).high) == (float(low), float(high))
