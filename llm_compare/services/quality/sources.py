"""Where each quality figure of the frontier comes from, as {model_id: value}: check pass rates
from the latest benchmarks, vote ratings from the blind votes, and the likelihood figures (bits
per byte, KL divergence) from the scores of the Quality page and `llm-compare score`."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from llm_compare.services.quality.frontier import ModelCost
from llm_compare.services.quality.scores import latest_scores, stored_scores
from llm_compare.services.quality.votes import PairVote, point_ratings
from llm_compare.services.store.run_store import RunStore


def _likelihood(figure: str) -> Callable[[RunStore, Mapping[str, ModelCost]], dict[str, float]]:
    """Per model, `figure` of its latest score on the text scored last: figures on different
    texts do not compare."""

    def values(store: RunStore, costs: Mapping[str, ModelCost]) -> dict[str, float]:
        scored = [s for s in stored_scores(store) if s.status == "scored"]
        if not scored:
            return {}
        latest = latest_scores(store, text_name=scored[0].text_name)
        return {m: getattr(s, figure) for m, s in latest.items() if getattr(s, figure) is not None}

    return values


def check_pass_rates(store: RunStore, costs: Mapping[str, ModelCost]) -> dict[str, float]:
    """Per model, the share of checks passed in the benchmark its costs come from."""
    return {m: cost.pass_rate.rate for m, cost in costs.items() if cost.pass_rate is not None}


def vote_ratings(store: RunStore, costs: Mapping[str, ModelCost]) -> dict[str, float]:
    return point_ratings([PairVote(**row) for row in store.votes()])


def known_names(store: RunStore) -> dict[str, str]:
    """Model names as the scores and votes recorded them, for models never benchmarked: a frontier
    row shows a name, never a model's id."""
    names = {}
    for score in reversed(stored_scores(store)):  # newest last: its name wins
        if score.model_name:
            names[score.model_id] = score.model_name
    for row in store.votes():
        for model, name in ((row["model_a"], row["model_a_name"]), (row["model_b"], row["model_b_name"])):
            if name:
                names[model] = name
    return names


# figure -> its values; the first is the default.
SOURCES: dict[str, Callable[[RunStore, Mapping[str, ModelCost]], dict[str, float]]] = {
    "bits_per_byte": _likelihood("bits_per_byte"),
    "kl_mean": _likelihood("kl_mean"),
    "check_pass_rate": check_pass_rates,
    "vote_rating": vote_ratings,
}
