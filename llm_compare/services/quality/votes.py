"""Blind votes and what they say: Bradley-Terry ratings on the Elo scale with bootstrap
intervals, vote counts, a win-rate matrix, and the votes as CSV (docs/metrics.md, "Votes").

Plain functions on plain data. A tie and "both bad" count half a win each way; a ranking of k
answers counts as its k·(k−1)/2 implied pairs, all under one ballot (one judgement of the user),
and the bootstrap resamples ballots, so the pairs of one ranking stay together.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from itertools import combinations

import numpy as np

from llm_compare.core.errors import ConfigurationError
from llm_compare.services.bench.stats import CONFIDENCE, RESAMPLES, SEED, Interval
from llm_compare.services.store.run_store import rows_to_csv

OUTCOMES = {"a": "A is better", "b": "B is better", "tie": "tie", "both_bad": "both bad"}
# Points of model A per outcome; B gets 1 minus that.
_A_SCORE = {"a": 1.0, "b": 0.0, "tie": 0.5, "both_bad": 0.5}

ELO_SCALE = 400 / math.log(10)  # rating = 400 · log10(strength)
ELO_MEAN = 1000.0
# Every model plays one virtual tie against a model of strength 1 (the geometric mean of a fit
# without it): a model that has won, or lost, every vote so far still gets a finite rating. It
# moves ratings towards the middle by about one vote's worth, less as votes accumulate.
PRIOR_TIES = 1.0
# Below this many pairwise outcomes a model's rating and interval say more about the prior and the
# resampling than about the model (one vote among three models gives 1225/1000/775, each interval
# spanning the rating): it is shown as "not enough votes" instead.
MIN_VOTES = 5
_MAX_ITERATIONS, _TOLERANCE = 100, 1e-9


@dataclass(frozen=True)
class PairVote:
    """One pairwise outcome between two models' answers to the same prompt."""

    model_a: str  # model id
    model_b: str
    outcome: str  # a | b | tie | both_bad
    ballot_id: str  # the user's judgement it comes from (one pair, or one ranking)
    kind: str = "pair"  # pair | ranking
    comparison_id: str = ""
    model_a_name: str = ""
    model_b_name: str = ""
    created_at: str = ""

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ConfigurationError(f"unknown vote {self.outcome!r}: one of {', '.join(OUTCOMES)}")
        if self.model_a == self.model_b:
            raise ConfigurationError("a vote compares two different models")


def pairs_from_ranking(ranks: Mapping[str, int], ballot_id: str, **details) -> list[PairVote]:
    """The k·(k−1)/2 pairs a ranking implies (rank 1 is best; equal ranks are a tie). `details`
    (comparison_id, created_at) go to every pair; names may be given as `names={id: name}`."""
    names = details.pop("names", {})
    if len(ranks) < 2:
        raise ConfigurationError("a ranking needs at least two answers")
    votes = []
    for a, b in combinations(ranks, 2):
        outcome = "tie" if ranks[a] == ranks[b] else "a" if ranks[a] < ranks[b] else "b"
        votes.append(
            PairVote(
                a,
                b,
                outcome,
                ballot_id,
                "ranking",
                model_a_name=names.get(a, ""),
                model_b_name=names.get(b, ""),
                **details,
            )
        )
    return votes


@dataclass(frozen=True)
class Rating:
    model_id: str
    name: str
    rating: float  # Elo scale, the mean over the rated models is 1000
    interval: Interval  # bootstrap 95 %
    comparisons: int  # pairwise outcomes it took part in
    wins: float  # ties and "both bad" count half

    @property
    def enough_votes(self) -> bool:
        """Whether the rating is worth showing (MIN_VOTES pairwise outcomes or more)."""
        return self.comparisons >= MIN_VOTES


@dataclass(frozen=True)
class Leaderboard:
    ratings: list[Rating]  # best first
    ballots: int
    pair_votes: int
    win_rate: dict[tuple[str, str], float | None]  # (row, column): row's share of points against column


def leaderboard(votes: Sequence[PairVote], resamples: int = RESAMPLES, seed: int = SEED) -> Leaderboard:
    """Ratings with their intervals, counts and the win-rate matrix of every model voted on."""
    models = sorted({v.model_a for v in votes} | {v.model_b for v in votes})
    names = {}
    for v in votes:
        names.setdefault(v.model_a, v.model_a_name or v.model_a)
        names.setdefault(v.model_b, v.model_b_name or v.model_b)
    if not votes:
        return Leaderboard([], 0, 0, {})
    per_ballot = ballot_points(votes, models)
    points = per_ballot.sum(axis=0)
    ratings = elo(fit_strengths(points[None])[0])
    weights = np.random.default_rng(seed).multinomial(
        len(per_ballot), np.full(len(per_ballot), 1 / len(per_ballot)), size=resamples
    )
    boot = elo(fit_strengths(np.einsum("rb,bij->rij", weights, per_ballot)))
    tails = 100 * (1 - CONFIDENCE) / 2, 100 * (1 + CONFIDENCE) / 2
    low, high = np.percentile(boot, tails, axis=0)
    played = points + points.T
    rows = [
        Rating(
            m,
            names[m],
            float(ratings[i]),
            Interval(float(low[i]), float(high[i])),
            int(round(played[i].sum())),
            float(points[i].sum()),
        )
        for i, m in enumerate(models)
    ]
    rows.sort(key=lambda r: (-r.rating, r.name))
    win_rate = {
        (a, b): float(points[i, j] / played[i, j]) if played[i, j] else None
        for i, a in enumerate(models)
        for j, b in enumerate(models)
        if i != j
    }
    return Leaderboard(rows, len(per_ballot), len(votes), win_rate)


def point_ratings(votes: Sequence[PairVote]) -> dict[str, float]:
    """Each model's rating on the Elo scale, without intervals (what a frontier plots)."""
    models = sorted({v.model_a for v in votes} | {v.model_b for v in votes})
    if not models:
        return {}
    ratings = elo(fit_strengths(ballot_points(votes, models).sum(axis=0)[None])[0])
    return {model: float(rating) for model, rating in zip(models, ratings)}


def ballot_points(votes: Sequence[PairVote], models: Sequence[str]) -> np.ndarray:
    """Per ballot, points[i, j]: the points model i took from model j (shape ballots × k × k)."""
    index = {m: i for i, m in enumerate(models)}
    ballots = {v.ballot_id: None for v in votes}  # in order of first appearance
    slot = {ballot: n for n, ballot in enumerate(ballots)}
    points = np.zeros((len(ballots), len(models), len(models)))
    for v in votes:
        a, b, score = index[v.model_a], index[v.model_b], _A_SCORE[v.outcome]
        points[slot[v.ballot_id], a, b] += score
        points[slot[v.ballot_id], b, a] += 1 - score
    return points


def fit_strengths(points: np.ndarray) -> np.ndarray:
    """Bradley-Terry strengths (P(i beats j) = p_i / (p_i + p_j)) by Newton's method on the log
    strengths, with PRIOR_TIES, for a stack of point matrices (r × k × k, one fit each). The
    prior makes the log-likelihood strictly concave, so Newton converges in a few steps."""
    wins = points.sum(axis=2) + PRIOR_TIES / 2
    played = points + np.swapaxes(points, 1, 2)
    theta = np.zeros(points.shape[:2])
    for _ in range(_MAX_ITERATIONS):
        beats = 1 / (1 + np.exp(theta[:, None, :] - theta[:, :, None]))  # P(i beats j)
        beats_anchor = 1 / (1 + np.exp(-theta))
        gradient = wins - (played * beats).sum(axis=2) - PRIOR_TIES * beats_anchor
        curvature = played * beats * (1 - beats)
        hessian = curvature - np.einsum(
            "rk,kl->rkl",
            curvature.sum(axis=2) + PRIOR_TIES * beats_anchor * (1 - beats_anchor),
            np.eye(theta.shape[1]),
        )
        step = np.linalg.solve(hessian, gradient[..., None])[..., 0]
        theta = theta - step
        if np.abs(step).max() < _TOLERANCE:
            break
    return np.exp(theta)


def elo(strengths: np.ndarray) -> np.ndarray:
    """Strengths on the Elo scale (400 · log10), each row anchored so its mean is 1000."""
    ratings = ELO_SCALE * np.log(strengths)
    return ratings - ratings.mean(axis=-1, keepdims=True) + ELO_MEAN


VOTE_CSV_COLUMNS = (
    "ballot_id",
    "created_at",
    "comparison_id",
    "kind",
    "model_a_name",
    "model_a_id",
    "model_b_name",
    "model_b_id",
    "outcome",
)


def votes_csv(votes: Sequence[PairVote]) -> str:
    """One row per pairwise outcome; a ranking's pairs share its ballot_id."""
    rows = []
    for vote in votes:
        data = asdict(vote)
        data["model_a_id"], data["model_b_id"] = vote.model_a, vote.model_b
        rows.append({column: data[column] for column in VOTE_CSV_COLUMNS})
    return rows_to_csv(rows) if rows else ",".join(VOTE_CSV_COLUMNS) + "\r\n"
