"""Busy runs (docs/metrics.md): left out of a benchmark's figures while quiet runs exist; when
every run was busy, the figures come from them and say so."""

from llm_compare.services.bench.aggregate import CountedRun, busy_share, counted_or_busy
from llm_compare.services.bench.report import ModelLabel
from llm_compare.services.bench.results import benchmark_results, busy_note

LABELS = {"a": ModelLabel("Alpha", "gguf"), "b": ModelLabel("Beta", "gguf")}


def runs(busy_from: int, count: int = 6) -> list[CountedRun]:
    """`count` repetitions per model on one prompt; those from `busy_from` on are busy."""
    return [
        CountedRun(m, "p", r, {"decode_tps": speed + r, "ttft_s": 0.1}, busy=r >= busy_from)
        for m, speed in (("a", 100.0), ("b", 50.0))
        for r in range(count)
    ]


def test_the_share_of_busy_runs_reads_as_a_fraction_and_a_percentage():
    assert busy_share(3, 32) == "3 of 32 runs busy (9 %)"
    assert busy_share(0, 1) == "0 of 1 run busy (0 %)"
    assert busy_share(0, 0) == "0 of 0 runs busy"


def test_busy_runs_are_left_out_while_quiet_runs_exist():
    data = runs(busy_from=5)
    used, from_busy = counted_or_busy(data)
    assert len(used) == 10 and not from_busy
    results = benchmark_results(data, LABELS, lambda a, b: True)
    assert (results.busy_left_out, results.busy_runs, results.total_runs) == (2, 2, 12)
    assert not results.from_busy and len(results.all_runs) == 12
    assert "2 of 12 runs busy (17 %), left out." in results.markdown


def test_when_every_run_is_busy_the_figures_come_from_them_labelled():
    data = runs(busy_from=0)
    results = benchmark_results(data, LABELS, lambda a, b: True)
    assert results.from_busy and results.busy_left_out == 0 and len(results.runs) == 12
    medians = {(s.model_id, s.figure): s.summary.median for s in results.summaries if s.prompt_id is None}
    assert medians[("a", "decode_tps")] == 102.5
    assert any(p.verdict.startswith("Alpha decodes") for p in results.pairs)  # a verdict, from busy runs
    assert "Figures from busy runs: 12 of 12 runs busy (100 %), none quiet" in results.markdown
    assert "| Alpha |" in results.markdown


def test_included_busy_runs_are_counted_and_the_note_says_so():
    results = benchmark_results(runs(busy_from=5), LABELS, lambda a, b: True, include_busy=True)
    assert len(results.runs) == 12 and not results.from_busy
    assert busy_note(True, False, 2, 12) == "2 of 12 runs busy (17 %), included."
    assert busy_note(False, False, 0, 12) == "0 of 12 runs busy (0 %)."
