"""Bradley-Terry ratings from votes (docs/metrics.md, "Votes"): recovered from synthetic votes, ties
counted half a win each way, rankings as their implied pairs, the CSV export."""

import csv
import io
import math

import numpy as np
import pytest

from llm_compare.core.errors import ConfigurationError
from llm_compare.services.quality.votes import (
    PRIOR_TIES,
    PairVote,
    leaderboard,
    pairs_from_ranking,
    votes_csv,
)

TRUE_ELO = {"strong": 1250.0, "good": 1100.0, "fair": 950.0, "weak": 700.0}  # mean 1000


def synthetic_votes(n: int, seed: int) -> list[PairVote]:
    """Votes drawn from the Bradley-Terry model with TRUE_ELO's strengths."""
    rng = np.random.default_rng(seed)
    names = list(TRUE_ELO)
    votes = []
    for ballot in range(n):
        a, b = rng.choice(len(names), 2, replace=False)
        gap = TRUE_ELO[names[a]] - TRUE_ELO[names[b]]
        a_wins = rng.random() < 1 / (1 + 10 ** (-gap / 400))
        votes.append(PairVote(names[a], names[b], "a" if a_wins else "b", f"ballot{ballot}"))
    return votes


def mm_reference(votes: list[PairVote]) -> dict[str, float]:
    """Hunter's MM iteration, written out in plain Python, with the same prior: an independent
    fit to check the Newton fit against, on the Elo scale anchored at a mean of 1000."""
    models = sorted({v.model_a for v in votes} | {v.model_b for v in votes})
    points = {(a, b): 0.0 for a in models for b in models}
    score = {"a": 1.0, "b": 0.0, "tie": 0.5, "both_bad": 0.5}
    for v in votes:
        points[v.model_a, v.model_b] += score[v.outcome]
        points[v.model_b, v.model_a] += 1 - score[v.outcome]
    strength = dict.fromkeys(models, 1.0)
    for _ in range(20_000):
        strength = {
            i: (sum(points[i, j] for j in models) + PRIOR_TIES / 2)
            / (
                sum((points[i, j] + points[j, i]) / (strength[i] + strength[j]) for j in models if j != i)
                + PRIOR_TIES / (strength[i] + 1)
            )
            for i in models
        }
    elo = {m: 400 * math.log10(s) for m, s in strength.items()}
    mean = sum(elo.values()) / len(elo)
    return {m: r - mean + 1000 for m, r in elo.items()}


def test_ratings_recover_the_order_of_known_strengths_and_the_intervals_cover_them():
    board = leaderboard(synthetic_votes(800, seed=7))
    assert [r.model_id for r in board.ratings] == ["strong", "good", "fair", "weak"]
    for rating in board.ratings:
        assert rating.interval.low <= TRUE_ELO[rating.model_id] <= rating.interval.high, rating
        assert rating.interval.low < rating.rating < rating.interval.high
    assert sum(r.rating for r in board.ratings) / 4 == pytest.approx(1000)
    assert board.ballots == board.pair_votes == 800
    assert sum(r.comparisons for r in board.ratings) == 2 * 800


def test_the_fit_agrees_with_an_independent_mm_iteration():
    votes = synthetic_votes(120, seed=3) + [
        PairVote("weak", "strong", "tie", "t1"),
        PairVote("good", "fair", "both_bad", "t2"),
    ]
    expected = mm_reference(votes)
    for rating in leaderboard(votes, resamples=50).ratings:
        assert rating.rating == pytest.approx(expected[rating.model_id], abs=1e-6)


def test_intervals_are_the_same_for_the_same_votes_and_narrow_with_more_votes():
    few, again, many = (
        leaderboard(synthetic_votes(100, 1)),
        leaderboard(synthetic_votes(100, 1)),
        leaderboard(synthetic_votes(1600, 1)),
    )
    assert few == again  # fixed seed
    width = {r.model_id: r.interval.high - r.interval.low for r in few.ratings}
    assert all(r.interval.high - r.interval.low < width[r.model_id] / 2 for r in many.ratings)


def test_a_tie_and_both_bad_count_half_a_win_each_way():
    votes = [
        PairVote("x", "y", "a", "1"),
        PairVote("x", "y", "tie", "2"),
        PairVote("y", "x", "both_bad", "3"),
    ]
    board = leaderboard(votes, resamples=50)
    by_id = {r.model_id: r for r in board.ratings}
    assert by_id["x"].wins == 2.0 and by_id["y"].wins == 1.0 and by_id["x"].comparisons == 3
    assert board.win_rate == {("x", "y"): pytest.approx(2 / 3), ("y", "x"): pytest.approx(1 / 3)}
    only_ties = leaderboard(
        [PairVote("x", "y", "tie", "1"), PairVote("y", "x", "both_bad", "2")], resamples=50
    )
    assert [r.rating for r in only_ties.ratings] == pytest.approx([1000, 1000])


def test_two_models_are_rated_by_the_ratio_of_their_wins():
    """Without a prior, two models' Bradley-Terry strengths are in the ratio of their wins (here
    30 to 10); the one virtual tie each pulls that ratio a little towards 1."""
    votes = [PairVote("x", "y", "a", str(n)) for n in range(30)] + [
        PairVote("x", "y", "b", f"b{n}") for n in range(10)
    ]
    board = leaderboard(votes, resamples=20)
    x, y = (10 ** ((board.ratings[i].rating - 1000) / 400) for i in (0, 1))
    ratio = x / y
    assert 2.8 < ratio < 3.0
    assert board.ratings[0].rating - board.ratings[1].rating == pytest.approx(400 * math.log10(ratio))


def test_a_ranking_counts_as_its_implied_pairs_under_one_ballot():
    pairs = pairs_from_ranking({"x": 1, "y": 3, "z": 2, "w": 2}, "b1", comparison_id="c1", names={"x": "X"})
    assert (
        len(pairs) == 6 and {p.ballot_id for p in pairs} == {"b1"} and {p.kind for p in pairs} == {"ranking"}
    )
    outcome = {(p.model_a, p.model_b): p.outcome for p in pairs}
    assert outcome[("x", "y")] == "a" and outcome[("y", "z")] == "b" and outcome[("z", "w")] == "tie"
    assert pairs[0].model_a_name == "X" and pairs[0].comparison_id == "c1"
    board = leaderboard(pairs, resamples=20)
    assert board.ballots == 1 and board.pair_votes == 6
    assert [r.model_id for r in board.ratings][0] == "x" and board.ratings[-1].model_id == "y"


def test_bad_votes_are_refused_with_a_clear_message():
    with pytest.raises(ConfigurationError, match="unknown vote 'maybe'"):
        PairVote("x", "y", "maybe", "1")
    with pytest.raises(ConfigurationError, match="two different models"):
        PairVote("x", "x", "a", "1")
    with pytest.raises(ConfigurationError, match="at least two"):
        pairs_from_ranking({"x": 1}, "b")


def test_the_votes_csv_holds_every_pair_with_names_and_inert_text():
    votes = [
        PairVote(
            "id-x",
            "id-y",
            "a",
            "b1",
            comparison_id="c1",
            model_a_name="=cmd()",
            model_b_name="y",
            created_at="2026-11-26T06:00:00+00:00",
        ),
        *pairs_from_ranking(
            {"id-x": 1, "id-y": 2, "id-z": 2},
            "b2",
            comparison_id="c2",
            names={"id-x": "=cmd()", "id-y": "y", "id-z": "z"},
        ),
    ]
    rows = list(csv.DictReader(io.StringIO(votes_csv(votes))))
    assert len(rows) == 4
    assert rows[0] == {
        "ballot_id": "b1",
        "created_at": "2026-11-26T06:00:00+00:00",
        "comparison_id": "c1",
        "kind": "pair",
        "model_a_name": "'=cmd()",
        "model_a_id": "id-x",
        "model_b_name": "y",
        "model_b_id": "id-y",
        "outcome": "a",
    }
    assert [(r["model_a_name"], r["model_b_name"], r["outcome"]) for r in rows[1:]] == [
        ("'=cmd()", "y", "a"),
        ("'=cmd()", "z", "a"),
        ("y", "z", "tie"),
    ]
    assert votes_csv([]).startswith("ballot_id,created_at")
