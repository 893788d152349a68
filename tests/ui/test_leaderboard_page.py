"""The Leaderboard page: ratings from stored votes with intervals, the win-rate matrix, the votes
CSV, and the frontier of quality against the latest benchmark's speed and memory."""

import csv
import dataclasses
import io
import json

import pytest
from dashboard_testing import no_exception
from streamlit.delta_generator import DeltaGenerator

from llm_compare.services.quality.votes import PairVote, pairs_from_ranking
from llm_compare.services.store.run_store import RunStore
from tests.support.bench_records import store_bench_run as stored_run


def store_votes(store: RunStore) -> None:
    """x beats y 3 times of 4, y and z tie twice, x beats z once."""
    outcomes = [
        ("x", "y", "a"),
        ("x", "y", "a"),
        ("y", "x", "b"),
        ("x", "y", "b"),
        ("y", "z", "tie"),
        ("z", "y", "both_bad"),
        ("x", "z", "a"),
    ]
    votes = [
        PairVote(
            a,
            b,
            o,
            f"ballot{n}",
            comparison_id="c",
            model_a_name=f"name-{a}",
            model_b_name=f"name-{b}",
            created_at="2026-11-26T06:00:00+00:00",
        )
        for n, (a, b, o) in enumerate(outcomes)
    ]
    store.record_votes("c", [dataclasses.asdict(v) for v in votes])


def test_the_leaderboard_rates_the_votes_and_exports_them(make_app, empty_dir, monkeypatch):
    downloads = []
    original = DeltaGenerator.download_button
    monkeypatch.setattr(
        DeltaGenerator,
        "download_button",
        lambda self, label, data, *a, **k: (
            downloads.append((label, data)) or original(self, label, data, *a, **k)
        ),
    )
    store = RunStore()
    store_votes(store)
    store.benchmark_started("bench1", {}, "")
    for model, speed, peak, checks in (
        ("x", 50, 900, (True, True)),
        ("y", 200, 100, (True, False)),
        ("z", 100, 500, (False, False)),
    ):
        for repeat in range(3):
            stored_run(store, "bench1", model, "p1", repeat, speed, peak=peak, checks=checks)

    at = make_app(empty_dir)
    at.switch_page("pages/leaderboard.py").run()
    no_exception(at)
    ratings = at.dataframe[0].value
    assert list(ratings["model"]) == ["name-x", "name-y", "name-z"]
    rated = ratings.iloc[:2]
    assert (rated["low"] <= rated["rating"]).all() and (rated["rating"] <= rated["high"]).all()
    assert list(ratings["comparisons"]) == [5, 6, 3] and list(ratings["wins"]) == [4.0, 2.0, 1.0]
    # z took part in 3 pairs: no rating, and a note saying why.
    assert ratings.iloc[2][["rating", "low", "high"]].isna().all()
    assert ratings.iloc[2]["note"] == "not enough votes (3 of 5 pairs)" and rated["note"].isna().all()
    matrix = at.dataframe[1].value
    assert matrix.loc["name-x", "name-y"] == 0.75 and matrix.loc["name-y", "name-z"] == 0.5
    [(label, data)] = downloads
    rows = list(csv.DictReader(io.StringIO(data)))
    assert label == "Download votes CSV" and len(rows) == 7 and rows[4]["outcome"] == "tie"

    # The frontier: the first figure with values by default (check pass rate: no scores here),
    # against the benchmark's figures.
    assert at.selectbox(key="frontier_figure").value == "check_pass_rate"
    at.selectbox(key="frontier_figure").set_value("check_pass_rate").run()
    no_exception(at)
    table = at.dataframe[2].value
    assert list(table["model"]) == ["name-x", "name-y", "name-z"] and list(table["quality"]) == [
        1.0,
        0.5,
        0.0,
    ]
    assert list(table["speed_front"]) == [True, True, False]  # z: y is faster and passes more
    assert list(table["memory_front"]) == [True, True, False]
    charts = at.get("plotly_chart")
    assert len(charts) == 2
    for chart in charts:  # z is greyed, x and y coloured on the front and joined by its line
        traces = {trace["name"]: trace for trace in json.loads(chart.proto.spec)["data"]}
        assert (
            traces["beaten on both axes"]["text"] == ["name-z"]
            and traces["beaten on both axes"]["marker"]["color"] == "#b0b0b0"
        )
        assert (
            sorted(traces["on the frontier"]["text"]) == ["name-x", "name-y"]
            and len(traces["frontier"]["x"]) == 2
        )
    at.selectbox(key="frontier_figure").set_value("vote_rating").run()
    table = at.dataframe[2].value
    assert list(table["quality"])[:2] == list(rated["rating"])
    assert sum(table["quality"]) == pytest.approx(3000)  # the frontier plots every rating, mean 1000


def test_one_vote_gives_no_ratings_but_says_not_enough_votes(make_app, empty_dir):
    store = RunStore()
    ranking = pairs_from_ranking(
        {"x": 1, "y": 2, "z": 3},
        "ballot0",
        comparison_id="c",
        created_at="2026-11-26T06:00:00+00:00",
    )
    store.record_votes("c", [dataclasses.asdict(v) for v in ranking])
    at = make_app(empty_dir)
    at.switch_page("pages/leaderboard.py").run()
    no_exception(at)
    ratings = at.dataframe[0].value
    assert ratings[["rating", "low", "high"]].isna().all().all()  # not 1225/1000/775 ± the rating
    assert list(ratings["note"]) == ["not enough votes (2 of 5 pairs)"] * 3
    assert not any("1225" in str(v) for v in ratings.to_numpy().ravel())


def test_without_votes_the_page_says_how_to_get_them(make_app, empty_dir):
    at = make_app(empty_dir)
    at.switch_page("pages/leaderboard.py").run()
    no_exception(at)
    assert "No votes yet" in at.info[0].value
    assert "No model has a benchmark" in at.info[1].value
