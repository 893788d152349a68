"""`llm-compare frontier`: the frontier table and its JSON, from the stored benchmarks and votes."""

import dataclasses
import json

from llm_compare.cli import main
from llm_compare.cli.frontier import QUALITY_CHOICES
from llm_compare.services.quality.sources import SOURCES
from llm_compare.services.quality.votes import PairVote
from llm_compare.services.store.run_store import RunStore
from tests.support.bench_records import store_bench_run


def test_the_frontier_table_and_json_from_stored_benchmarks_and_votes(capsys, tmp_path):
    store = RunStore()
    store.benchmark_started("b1", {}, "")
    for model, speed, peak, checks in (
        ("fast", 300, 2**20, (True, False)),
        ("good", 100, 3 * 2**20, (True, True)),
        ("beaten", 90, 4 * 2**20, (False, True)),
    ):
        for repeat in range(3):
            store_bench_run(store, "b1", model, "p1", repeat, speed, peak=peak, checks=checks)
    assert main(["frontier", "--quality", "check_pass_rate", "--json", str(tmp_path / "f.json")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == [
        "model",
        "check",
        "pass",
        "rate",
        "decode",
        "tok/s",
        "TTFT",
        "ms",
        "peak",
        "MiB",
        "frontier",
    ]
    assert [line.split()[:6] for line in lines[1:4]] == [
        ["name-good", "1", "100.0", "100", "3", "speed,"],
        ["name-beaten", "0.5", "90.0", "90", "4", "–"],
        ["name-fast", "0.5", "300.0", "300", "1", "speed,"],
    ]  # best quality first, then by name
    objects = json.loads((tmp_path / "f.json").read_text())
    assert [
        (o["model_name"], o["check_pass_rate"], o["on_speed_frontier"], o["on_memory_frontier"])
        for o in objects
    ] == [
        ("name-good", 1.0, True, True),
        ("name-beaten", 0.5, False, False),
        ("name-fast", 0.5, True, True),
    ]

    vote = PairVote(
        "good",
        "voted-only",
        "a",
        "v1",
        comparison_id="c",
        model_a_name="name-good",
        model_b_name="voted-only-name",
    )
    store.record_votes("c", [dataclasses.asdict(vote)])
    assert main(["frontier", "--quality", "vote_rating"]) == 0
    out = capsys.readouterr().out
    assert "voted-only-name" in out and "no benchmark run" in out and "no vote rating (Elo) yet" in out


def test_without_anything_stored_it_says_what_to_do(capsys):
    assert main(["frontier"]) == 0
    assert "run `llm-compare bench`" in capsys.readouterr().out


def test_the_cli_offers_every_quality_source():
    assert QUALITY_CHOICES == tuple(SOURCES)


def test_energy_per_token_is_a_column_and_a_front_only_where_measured(capsys, tmp_path):
    from llm_compare.services.quality.frontier import NO_ENERGY_NOTE

    store = RunStore()
    store.benchmark_started("b1", {}, "")
    for repeat in range(3):
        store_bench_run(store, "b1", "cpu", "p1", repeat, 100, checks=(True,))
    assert main(["frontier", "--quality", "check_pass_rate", "--json", str(tmp_path / "f.json")]) == 0
    out = capsys.readouterr().out
    assert "J/token" not in out.splitlines()[0] and out.splitlines()[-1] == NO_ENERGY_NOTE
    assert json.loads((tmp_path / "f.json").read_text())[0]["j_per_token"] is None

    store.benchmark_started("b2", {}, "")
    for repeat in range(3):
        store_bench_run(store, "b2", "gpu", "p1", repeat, 300, checks=(True,), j_per_token=0.25)
    assert main(["frontier", "--quality", "check_pass_rate"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "J/token" in lines[0] and NO_ENERGY_NOTE not in lines
    gpu = next(line for line in lines if line.startswith("name-gpu"))
    assert "0.25" in gpu.split() and "energy" in gpu
