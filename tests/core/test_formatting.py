"""Figures formatted for reading: significant digits, a value to its error's precision, memory in
powers of 1024, stored times in the local zone."""

import time

import pytest

from llm_compare.core.formatting import human_bytes, local_time_text, significant, with_uncertainty


def test_a_value_is_shown_to_the_precision_of_its_error():
    assert with_uncertainty(4.51341, 0.00163) == "4.5134 ± 0.0016"
    assert with_uncertainty(790.8213, 1.814) == "790.8 ± 1.8"
    assert with_uncertainty(1.00021, 0.00031) == "1.00021 ± 0.00031"


def test_tiny_values_share_one_power_of_ten_instead_of_two_exponents():
    assert with_uncertainty(3.06e-5, 1.2e-6) == "(3.06 ± 0.12)·10⁻⁵"


def test_percentages_and_signs():
    assert with_uncertainty(0.9523, 0.0042, percent=True) == "95.23 ± 0.42 %"
    assert with_uncertainty(0.05, 0.01, sign=True) == "+0.050 ± 0.010"
    assert with_uncertainty(-0.05, 0.01, sign=True) == "-0.050 ± 0.010"


def test_a_missing_figure_is_a_dash_never_none_or_zero():
    assert with_uncertainty(None, 0.1) == "–"
    assert significant(None) == "–"
    assert significant(float("nan")) == "–"
    assert human_bytes(None) == "–"


def test_significant_digits():
    assert [significant(v) for v in (0.00123, 4.5134, 790.8, 12345.0, 1.2e-5, 0)] == [
        "0.00123",
        "4.51",
        "791",
        "12,345",
        "1.20e-05",
        "0",
    ]


def test_memory_is_shown_in_powers_of_1024():
    assert human_bytes(703_600) == "687.1 KiB"
    assert human_bytes(3 * 2**30) == "3.0 GiB"
    assert human_bytes(512) == "512 B"


@pytest.fixture
def zone(monkeypatch):
    """This process in UTC+05:30 (no daylight saving), whatever the machine's zone."""
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_stored_utc_times_are_shown_in_the_local_zone(zone):
    assert local_time_text("2026-11-26T06:00:00+00:00") == "2026-11-26 11:30"
    assert local_time_text("2026-11-26T06:00:07+00:00", seconds=True) == "2026-11-26 11:30:07"
    assert local_time_text(None) == "–"


def test_an_error_of_zero_is_shown_as_zero_not_as_spurious_decimals():
    assert with_uncertainty(1.0, 0.0, percent=True) == "100.0 ± 0 %"
