"""A benchmark's aggregates: summaries per model and prompt, pass rates, pairwise verdicts."""

import pytest

from llm_compare.services.bench.aggregate import (
    CountedRun,
    compare_pairs,
    counted,
    figure_summaries,
    pass_rates,
)


def run(model, prompt, repeat, decode=None, ttft=None, busy=False, passed=0, total=0, bytes_per_s=None):
    figures = {"decode_tps": decode, "ttft_s": ttft, "decode_bytes_per_s": bytes_per_s}
    return CountedRun(model, prompt, repeat, figures, busy, passed, total)


def test_busy_runs_are_left_out_unless_asked_for():
    runs = [run("A", "p", 0, 10.0), run("A", "p", 1, 99.0, busy=True)]
    assert counted(runs) == runs[:1]
    assert counted(runs, include_busy=True) == runs


def test_summaries_per_model_over_prompts_and_per_prompt():
    runs = [run("A", "p", r, decode=v) for r, v in enumerate([10.0, 12.0, 14.0])]
    runs += [run("A", "q", r, decode=v) for r, v in enumerate([20.0, 22.0])]
    rows = {(r.model_id, r.prompt_id, r.figure): r.summary for r in figure_summaries(runs)}
    assert rows[("A", None, "decode_tps")].n == 5
    assert rows[("A", None, "decode_tps")].median == 14.0
    assert rows[("A", "p", "decode_tps")].median == 12.0
    assert rows[("A", "q", "decode_tps")].median == 21.0
    assert ("A", "p", "ttft_s") not in rows  # a figure no run has is not summarised as zero


def test_pass_rate_counts_checks_over_runs_with_wilsons_interval():
    runs = [run("A", "p", r, passed=p, total=2) for r, p in enumerate([2, 1, 2, 2, 1])]
    (overall, per_prompt) = pass_rates(runs)
    assert (overall.passed, overall.total, overall.rate) == (8, 10, 0.8)
    assert overall.interval.low == pytest.approx(0.4902, abs=1e-4)
    assert per_prompt.prompt_id == "p"
    assert pass_rates([run("A", "p", 0)]) == []


def test_pairs_compare_decode_and_ttft_with_verdicts_per_prompt_and_over_prompts():
    runs = []
    for r in range(5):
        runs += [run("a", "p", r, decode=100.0, ttft=0.010), run("b", "p", r, decode=50.0, ttft=0.040)]
        runs += [run("a", "q", r, decode=80.0, ttft=0.020), run("b", "q", r, decode=10.0, ttft=0.010)]
    rows = compare_pairs(runs, {"a": "Alpha", "b": "Beta"}, same_tokenizer=lambda a, b: True)
    by_key = {(r.figure, r.prompt_id): r for r in rows}
    assert by_key[("decode_tps", "p")].verdict == "Alpha decodes 2.00× faster than Beta, 95 % CI 2.00–2.00"
    assert by_key[("decode_tps", None)].ratio.value == pytest.approx(4.0)  # sqrt(2 * 8)
    assert (
        by_key[("ttft_s", "p")].verdict
        == "Alpha reaches its first token 4.00× sooner than Beta, 95 % CI 4.00–4.00"
    )
    assert (
        by_key[("ttft_s", "q")].verdict
        == "Beta reaches its first token 2.00× sooner than Alpha, 95 % CI 2.00–2.00"
    )
    assert (
        by_key[("ttft_s", None)].verdict
        == "Alpha reaches its first token 1.41× sooner than Beta, 95 % CI 1.41–1.41"
    )


def test_models_with_different_tokenizers_compare_in_bytes_per_second():
    runs = []
    for r in range(5):
        runs += [
            run("a", "p", r, decode=100.0, bytes_per_s=300.0),
            run("b", "p", r, decode=50.0, bytes_per_s=300.0),
        ]
    rows = compare_pairs(runs, {}, same_tokenizer=lambda a, b: False)
    speed = [r for r in rows if r.figure != "ttft_s"]
    assert [(r.figure, r.verdict) for r in speed] == [("decode_bytes_per_s", "within noise")]


def test_too_few_runs_name_no_winner_and_prompts_one_model_skipped_are_left_out():
    runs = [run("a", "p", r, decode=100.0) for r in range(4)] + [
        run("b", "p", r, decode=10.0) for r in range(4)
    ]
    runs += [run("a", "long", 0, decode=1.0)]  # b skipped "long": it did not fit b's context
    rows = compare_pairs(runs, {}, same_tokenizer=lambda a, b: True)
    assert {r.prompt_id for r in rows} == {"p"}
    assert {r.verdict for r in rows} == {"too few runs"}
