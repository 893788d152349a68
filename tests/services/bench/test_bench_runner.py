"""A benchmark through the real engine and real workers: order, seeds, overrides, checks, skips,
Stop and resume."""

import threading

import pytest

from llm_compare.core.config import ModelConfig
from llm_compare.core.results import FinishReason
from llm_compare.services.bench.aggregate import CountedRun
from llm_compare.services.bench.plan import schedule
from llm_compare.services.bench.runner import BenchmarkRunner, BenchmarkSpec
from llm_compare.services.bench.suites import parse_suite
from llm_compare.services.engine.engine import InferenceEngine

pytestmark = pytest.mark.slow


@pytest.fixture
def engine():
    engine = InferenceEngine()
    yield engine
    engine.shutdown()


def suite(lines: str):
    return parse_suite(lines.encode(), "test", "jsonl")


SUITE = suite(
    '{"id": "short", "prompt": "import os\\n", "max_tokens": 6, "checks": {"regex": "\\\\S", "equals": '
    '"never"}}\n' + '{"id": "huge", "prompt": "' + "word " * 2000 + '"}\n'
)


def test_a_benchmark_runs_its_plan_with_seeds_overrides_checks_and_skips(engine, tiny_models):
    models = {m.id: m for m in (tiny_models["hf"], tiny_models["gguf_f32"])}
    configs = {m: ModelConfig(mode="raw", n_ctx=512, temperature=0.8, max_tokens=100) for m in models}
    spec = BenchmarkSpec(tuple(models), SUITE, repeats=2, warmups=1, seed=5, temperature=0.0)
    saved = []
    runner = BenchmarkRunner(engine, spec, models, configs, saved.append).run()
    assert runner.error is None and runner.order_note.startswith("interleaved")
    plan = [r for r in schedule([list(models)], ["short", "huge"], 2, 1, 5) if not r.warmup]
    assert [o.planned for o in saved] == plan  # every counted run saved, in the plan's order
    assert sum(o.planned.warmup for o in runner.outcomes) == 2  # warm-ups ran, never saved
    for outcome in saved:
        assert outcome.config.seed == 5 + outcome.planned.repeat
        assert outcome.config.temperature == 0.0  # the benchmark's override
        assert outcome.config.n_ctx == 512  # the model's saved setting
    short = [o for o in saved if o.prompt.id == "short"]
    for outcome in short:
        assert outcome.counted and outcome.skipped is None
        assert outcome.config.max_tokens == 6  # the prompt's own limit
        assert outcome.result.stats.completion_tokens == 6
        assert [c.passed for c in outcome.checks] == [True, False]
    assert len({o.result.text for o in short}) == 1  # greedy: same weights, same text
    huge = [o for o in saved if o.prompt.id == "huge"]
    assert len(huge) == 4 and all(not o.counted and not o.checks for o in huge)
    assert all("the context holds 512" in o.skipped for o in huge)


def test_stop_keeps_finished_runs_and_resume_runs_exactly_the_rest(engine, tiny_models):
    models = {m.id: m for m in (tiny_models["hf"], tiny_models["gguf_f32"])}
    configs = {m: ModelConfig(mode="raw", n_ctx=512, temperature=0.0, max_tokens=40) for m in models}
    spec = BenchmarkSpec(
        tuple(models),
        suite('{"id": "a", "prompt": "def f"}\n{"id": "b", "prompt": "class C"}\n'),
        repeats=3,
        warmups=0,
    )
    saved, enough = [], threading.Event()

    def save(outcome):
        saved.append(outcome)
        if len(saved) == 5:
            enough.set()

    runner = BenchmarkRunner(engine, spec, models, configs, save).start()
    assert enough.wait(120)
    runner.cancel()
    assert runner.wait(60)
    stopped_at = len(saved)
    assert 5 <= stopped_at < 12 and all(o.result.finish_reason == FinishReason.LENGTH for o in saved)
    assert runner.progress().total == 12

    resumed = BenchmarkRunner(
        engine, spec, models, configs, saved.append, done=[o.planned.key for o in saved]
    ).run()
    assert resumed.progress().total == 12 - stopped_at
    keys = [o.planned.key for o in saved]
    full = [r.key for r in schedule([list(models)], ["a", "b"], 3, 0, 0)]
    assert sorted(keys) == sorted(full) and len(keys) == len(set(keys))


def test_counted_runs_include_those_made_before_the_resume_and_never_warm_ups(engine, tiny_models):
    model = tiny_models["gguf_f32"]
    spec = BenchmarkSpec(
        (model.id,), suite('{"id": "a", "prompt": "def f", "max_tokens": 4}\n'), repeats=2, warmups=1
    )
    before = CountedRun(model.id, "a", 0, {"decode_tps": 50.0}, busy=False, checks_passed=0, checks_total=0)
    runner = BenchmarkRunner(
        engine, spec, {model.id: model}, {}, lambda outcome: None, done=[(model.id, "a", 0)], earlier=[before]
    )
    assert runner.counted_runs() == [before]
    runner.run()
    assert runner.error is None and len(runner.outcomes) == 2  # the warm-up and repetition 1
    assert runner.counted_runs() == [before, runner.outcomes[1].as_counted()]
    assert runner.counted_runs()[1].repeat == 1
