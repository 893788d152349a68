"""The quality figures from per-token values, against their definitions computed another way."""

import math
import statistics

import numpy as np
import pytest

from llm_compare.core.vocabulary import same_vocabulary, vocabulary_fingerprint
from llm_compare.services.quality import stats

NLL = [2.0, 1.0, 3.5, 0.25, 1.75, 2.5]


def test_bits_per_byte_is_total_bits_over_bytes_with_the_error_of_the_mean():
    result = stats.bits_per_byte(NLL, scored_bytes=20)
    assert result.value == pytest.approx(sum(NLL) / math.log(2) / 20)
    # n tokens times the standard error of the mean NLL (sample stdev / sqrt(n)), in bits per byte.
    assert result.se == pytest.approx(
        len(NLL) * statistics.stdev(NLL) / math.sqrt(len(NLL)) / math.log(2) / 20
    )


def test_perplexity_is_exp_of_the_mean_nll():
    result = stats.perplexity(NLL)
    assert result.value == pytest.approx(math.exp(statistics.fmean(NLL)))
    assert result.se == pytest.approx(result.value * statistics.stdev(NLL) / math.sqrt(len(NLL)))


def test_ppl_ratio_and_difference_against_the_reference():
    reference = [x + 0.1 for x in NLL]
    ratio = stats.ppl_ratio(NLL, reference)
    assert ratio.value == pytest.approx(stats.perplexity(NLL).value / stats.perplexity(reference).value)
    assert ratio.se == pytest.approx(0, abs=1e-12)  # a constant shift: no spread in the pairs
    delta = stats.delta_ppl(NLL, reference)
    assert delta.value == pytest.approx(stats.perplexity(NLL).value - stats.perplexity(reference).value)
    # Perfectly correlated: the errors nearly cancel, unlike independent samples'.
    independent = math.hypot(stats.perplexity(NLL).se, stats.perplexity(reference).se)
    assert delta.se < independent / 10


def test_share_and_percentile():
    agree = stats.share([True] * 99 + [False])
    assert agree.value == 0.99 and agree.se == pytest.approx(math.sqrt(0.99 * 0.01 / 99))
    values = np.arange(1000, dtype=float)
    p99 = stats.percentile_99(values)
    assert p99.value == pytest.approx(np.percentile(values, 99))
    assert 0 < p99.se < 10


def test_vocabulary_fingerprint_compares_token_lists_not_names():
    tokens = ["<s>", "a", "b", "ab"]
    assert same_vocabulary(vocabulary_fingerprint(tokens), vocabulary_fingerprint(list(tokens)))
    assert not same_vocabulary(
        vocabulary_fingerprint(tokens), vocabulary_fingerprint(["<s>", "b", "a", "ab"])
    )
    assert same_vocabulary(
        vocabulary_fingerprint(tokens), vocabulary_fingerprint([*tokens, "[PAD4]", "[PAD5]"])
    )
    assert not same_vocabulary(vocabulary_fingerprint(["a\x00b"]), vocabulary_fingerprint(["a", "b"]))
    assert not same_vocabulary(None, None)
