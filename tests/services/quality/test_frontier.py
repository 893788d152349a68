"""The frontier: Pareto fronts on hand-made points, and each model's cost taken from the latest
benchmark that has quiet runs of it."""

import statistics

import pytest

from llm_compare.services.quality.frontier import (
    FROM_BUSY_NOTE,
    ModelCost,
    frontier_rows,
    latest_costs,
    pareto_front,
)
from llm_compare.services.quality.sources import SOURCES
from llm_compare.services.store.run_store import RunStore
from tests.support.bench_records import store_bench_run as stored_run


def test_the_front_holds_the_points_no_other_beats_on_both_axes():
    points = {
        "fast-bad": (100, 0.2),
        "slow-good": (10, 0.9),
        "middle": (50, 0.6),
        "beaten": (40, 0.5),
        "tied": (50, 0.6),
    }
    assert pareto_front(points, higher_x=True, higher_y=True) == {"fast-bad", "slow-good", "middle", "tied"}
    # Lower is better on both (memory against bits per byte): the mirror image.
    assert pareto_front(points, higher_x=False, higher_y=False) == {"slow-good", "fast-bad", "beaten"}
    lower = {
        "small-bad": (100, 2.0),
        "big-good": (900, 1.5),
        "big-bad": (800, 2.5),
        "same-x-better-y": (100, 1.9),
    }
    assert pareto_front(lower, higher_x=False, higher_y=False) == {"same-x-better-y", "big-good"}
    assert pareto_front({"only": (1, 1)}, True, True) == {"only"} and pareto_front({}, True, False) == set()


def cost(model_id, decode_tps, peak_rss_bytes):
    return ModelCost(model_id, model_id.upper(), "b", "", 5, decode_tps, 0.1, peak_rss_bytes, None)


def test_frontier_rows_mark_both_fronts_with_each_figures_direction_and_say_what_is_missing():
    costs = {
        "q4": cost("q4", 300, 100),
        "q8": cost("q8", 200, 180),
        "f32": cost("f32", 100, 400),
        "slow-big": cost("slow-big", 90, 500),
        "unscored": cost("unscored", 500, 50),
    }
    bits = {"q4": 2.1, "q8": 1.90, "f32": 1.89, "slow-big": 1.95, "never-benchmarked": 1.5}
    rows = {r.model_id: r for r in frontier_rows("bits_per_byte", bits, costs)}
    assert {m for m, r in rows.items() if r.on_speed_front} == {"q4", "q8", "f32"}
    assert {m for m, r in rows.items() if r.on_memory_front} == {"q4", "q8", "f32"}
    assert (
        not rows["slow-big"].on_speed_front and not rows["slow-big"].on_memory_front
    )  # beaten by q8 on both
    assert (
        "benchmark it" in rows["never-benchmarked"].note
        and rows["never-benchmarked"].name == "never-benchmarked"
    )
    assert rows["unscored"].note == "no bits per byte yet" and not rows["unscored"].on_speed_front
    order = [r.model_id for r in frontier_rows("bits_per_byte", bits, costs)]
    assert order == ["never-benchmarked", "f32", "q8", "slow-big", "q4", "unscored"]  # lower is better
    # A rating: higher is better, so the order and the fronts turn around.
    ratings = {"q4": 1100.0, "q8": 1000.0, "f32": 900.0}
    rows = {r.model_id: r for r in frontier_rows("vote_rating", ratings, costs)}
    assert {m for m, r in rows.items() if r.on_speed_front} == {"q4"}


def test_costs_come_from_the_latest_benchmark_with_quiet_runs_of_each_model(tmp_path):
    store = RunStore(tmp_path)
    store.benchmark_started("old", {}, "")
    for repeat, speed in enumerate([10, 20, 30]):
        stored_run(store, "old", "a", "p1", repeat, speed)
        stored_run(store, "old", "b", "p1", repeat, speed + 1, checks=(True, False))
    store.benchmark_started("new", {}, "")
    speeds = {("p1", 0): 100, ("p1", 1): 120, ("p2", 0): 90, ("p2", 1): 500}
    for (prompt, repeat), speed in speeds.items():
        stored_run(
            store, "new", "a", prompt, repeat, speed, peak=speed * 10, checks=(True, True, speed != 500)
        )
    stored_run(store, "new", "a", "p2", 2, 10_000, busy=True, peak=10**9)  # busy: never counted
    stored_run(store, "new", "b", "p1", 0, 7, busy=True)  # b's only run in "new" is busy: "old" still counts

    costs = latest_costs(store)
    a, b = costs["a"], costs["b"]
    assert (a.benchmark_id, a.runs, b.benchmark_id, b.runs) == ("new", 4, "old", 3)
    assert a.decode_tps == statistics.median([100, 120, 90, 500]) and a.ttft_s == pytest.approx(
        statistics.median([0.1, 0.12, 0.09, 0.5])
    )
    assert a.peak_rss_bytes == 5000 and a.name == "name-a"
    assert (a.pass_rate.passed, a.pass_rate.total) == (11, 12) and (
        b.pass_rate.passed,
        b.pass_rate.total,
    ) == (3, 6)
    assert SOURCES["check_pass_rate"](store, costs) == {"a": 11 / 12, "b": 0.5}
    assert latest_costs(RunStore(tmp_path / "empty")) == {}


def test_a_model_with_busy_runs_only_gets_costs_from_them_marked_and_noted(tmp_path):
    store = RunStore(tmp_path)
    store.benchmark_started("old", {}, "")
    stored_run(store, "old", "a", "p1", 0, 50, busy=True)
    store.benchmark_started("new", {}, "")
    for repeat, speed in enumerate([10, 20, 30]):
        stored_run(store, "new", "a", "p1", repeat, speed, busy=True, checks=(True, False))
        stored_run(store, "new", "b", "p1", repeat, speed * 2, busy=repeat == 2)

    costs = latest_costs(store)
    a, b = costs["a"], costs["b"]
    assert (a.benchmark_id, a.runs, a.busy_runs, a.decode_tps) == ("new", 3, 3, 20)  # the newest busy runs
    assert (b.runs, b.busy_runs, b.decode_tps) == (2, 0, 30)  # b's quiet runs only
    assert SOURCES["check_pass_rate"](store, costs) == {"a": 0.5}
    rows = {r.model_id: r for r in frontier_rows("check_pass_rate", {"a": 0.5}, costs)}
    assert rows["a"].note.startswith(FROM_BUSY_NOTE) and rows["b"].note == "no check pass rate yet"
    included = latest_costs(store, include_busy=True)["b"]
    assert (included.runs, included.busy_runs, included.decode_tps) == (3, 1, 40)


def test_likelihood_figures_come_from_each_models_latest_score_on_the_text_scored_last(tmp_path):
    from llm_compare.core.scores import ScoreResult
    from llm_compare.services.quality.scores import save_scores

    store = RunStore(tmp_path)

    def score(model, text, bpb, when, kl=None):
        return ScoreResult(
            model,
            model,
            "gguf",
            text,
            "scored",
            bits_per_byte=bpb,
            kl_mean=kl,
            score_id=when,
            created_at=when,
        )

    save_scores(
        store,
        [
            score("a", "builtin:code", 9.0, "2026-11-20T00:00:00+00:00"),
            score("a", "builtin:prose", 3.0, "2026-11-21T00:00:00+00:00"),
            score("b", "builtin:prose", 2.5, "2026-11-22T00:00:00+00:00", kl=0.01),
        ],
    )
    assert SOURCES["bits_per_byte"](store, {}) == {"a": 3.0, "b": 2.5}  # not a's older score on code
    assert SOURCES["kl_mean"](store, {}) == {"b": 0.01}
    assert list(SOURCES)[0] == "bits_per_byte"  # the default, as the issue asks


def test_energy_is_an_axis_only_where_a_benchmark_measured_it():
    from llm_compare.services.quality.frontier import energy_measured

    store = RunStore()
    store.benchmark_started("b1", {}, "")
    for model, j_per_token in (("frugal", 0.1), ("hungry", 0.5), ("hungry-better", 0.6)):
        for repeat in range(3):
            stored_run(store, "b1", model, "p", repeat, 100.0, j_per_token=j_per_token + repeat / 100)
    costs = latest_costs(store)
    assert costs["frugal"].j_per_token == pytest.approx(0.11)  # the median
    assert energy_measured(costs)
    bits = {"frugal": 2.0, "hungry": 2.0, "hungry-better": 1.8}
    rows = {r.model_id: r for r in frontier_rows("bits_per_byte", bits, costs)}
    assert {m for m, r in rows.items() if r.on_energy_front} == {"frugal", "hungry-better"}

    cpu_only = {"q4": cost("q4", 300, 100), "q8": cost("q8", 200, 180)}
    assert cpu_only["q4"].j_per_token is None and not energy_measured(cpu_only)
    assert not any(r.on_energy_front for r in frontier_rows("bits_per_byte", {"q4": 2, "q8": 1}, cpu_only))


def test_a_scored_model_never_benchmarked_is_named_not_shown_by_its_id(tmp_path):
    from llm_compare.core.scores import ScoreResult
    from llm_compare.services.quality.scores import save_scores
    from llm_compare.services.quality.sources import known_names

    store = RunStore(tmp_path)
    when = "2026-11-20T00:00:00+00:00"
    save_scores(
        store,
        [
            ScoreResult(
                "id-9f3",
                "tiny-llama-q8_0",
                "gguf",
                "builtin:code",
                "scored",
                bits_per_byte=2.0,
                score_id=when,
                created_at=when,
            )
        ],
    )
    names = known_names(store)
    assert names == {"id-9f3": "tiny-llama-q8_0"}
    [row] = frontier_rows("bits_per_byte", SOURCES["bits_per_byte"](store, {}), {}, names)
    assert row.name == "tiny-llama-q8_0"
