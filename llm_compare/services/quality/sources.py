"""Where each quality figure of the frontier comes from, as {model_id: value}: check pass rates
from the latest benchmarks, vote ratings from the blind votes. (Likelihood figures, bits per
byte and KL divergence, come from the scores the Quality page computes.)"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from llm_compare.services.quality.frontier import ModelCost
from llm_compare.services.quality.votes import PairVote, point_ratings
from llm_compare.services.store.run_store import RunStore


def check_pass_rates(store: RunStore, costs: Mapping[str, ModelCost]) -> dict[str, float]:
    """Per model, the share of checks passed in the benchmark its costs come from."""
    return {m: cost.pass_rate.rate for m, cost in costs.items() if cost.pass_rate is not None}


def vote_ratings(store: RunStore, costs: Mapping[str, ModelCost]) -> dict[str, float]:
    return point_ratings([PairVote(**row) for row in store.votes()])


def voted_names(store: RunStore) -> dict[str, str]:
    """Model names as the votes recorded them (for models never benchmarked)."""
    names = {}
    for row in store.votes():
        names[row["model_a"]], names[row["model_b"]] = row["model_a_name"], row["model_b_name"]
    return names


# figure -> its values; the Quality page adds bits_per_byte and kl_mean from its scores.
SOURCES: dict[str, Callable[[RunStore, Mapping[str, ModelCost]], dict[str, float]]] = {
    "check_pass_rate": check_pass_rates,
    "vote_rating": vote_ratings,
}
