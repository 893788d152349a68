"""Side-by-side figures from the same rounds. This host's speed drifts by a third within a minute,
so two paths are compared round by round (each ratio or difference taken between runs seconds
apart), and the median of those is reported with its interquartile range: a ratio of two medians
would mix different moments."""

from __future__ import annotations

import statistics


def rotated(names: list[str], round_: int) -> list[str]:
    """The paths in the order of this round: each round starts one path later, so that no path
    always runs first or last."""
    shift = round_ % len(names)
    return names[shift:] + names[:shift]


def ratios(mine: list[float], theirs: list[float]) -> list[float]:
    return [a / b for a, b in zip(mine, theirs)]


def differences(mine: list[float], theirs: list[float]) -> list[float]:
    return [a - b for a, b in zip(mine, theirs)]


def paired_ratio(mine: list[float], theirs: list[float]) -> str:
    return median_and_quartiles(ratios(mine, theirs), "{:.3f}")


def paired_difference(mine: list[float], theirs: list[float]) -> str:
    return median_and_quartiles(differences(mine, theirs), "{:+.1f}")


def median_and_quartiles(values: list[float], form: str) -> str:
    low, _, high = statistics.quantiles(values, n=4) if len(values) > 1 else values * 3
    return f"{form.format(statistics.median(values))} ({form.format(low)} to {form.format(high)})"
