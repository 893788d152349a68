"""What the run store costs with many runs: the Results page's first render and each filter change
(Streamlit's AppTest, so the script's own time, before any browser work), saving one run, and the
benchmark harness's own time per counted run (everything but the engine's run: building the
record, saving it, checks, progress, and the aggregation at the end).

    python benchmarks/store_costs.py [--runs 100000] [--repeats 5] [--saves 1000] [--home DIR]

Without --home it builds a store of --runs made-up runs (tests.support.synthetic_runs)
in a temporary folder. `--page-only --home DIR` times only the page, with whatever llm_compare
is on PYTHONPATH (to time an older version on the same store).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.support, in the repository

APP = Path(__file__).resolve().parents[1] / "app.py"


def spread(samples: list[float], unit: str, scale: float = 1.0) -> str:
    values = [s * scale for s in samples]
    return f"{statistics.median(values):.1f} {unit} ({min(values):.1f}–{max(values):.1f}, n {len(values)})"


# --- the Results page --------------------------------------------------------------------------------


def page_steps(at) -> list[tuple[str, object]]:
    """The filter changes timed, in order; each is an action on the AppTest (skipped when this
    version of the page has no such widget)."""
    return [
        ("filter: one model", lambda: at.multiselect(key="runs_models").select("demo-starter-f32")),
        ("filter: + a finish reason", lambda: at.multiselect(key="runs_reasons").select("stop")),
        ("page 2", lambda: at.number_input(key="runs_page").set_value(2)),
        ("filter: benchmarks only", lambda: at.button_group(key="runs_source").set_value("benchmarks")),
        ("filters cleared", lambda: at.multiselect(key="runs_models").set_value([])),
    ]


def time_page(home: Path, repeats: int) -> dict[str, list[float]]:
    from streamlit.testing.v1 import AppTest

    os.environ["LLM_COMPARE_HOME"] = str(home)
    os.environ["LLM_COMPARE_MODELS_DIR"] = tempfile.mkdtemp()  # no models: the page's own cost only
    times: dict[str, list[float]] = {}
    for _ in range(repeats):
        at = AppTest.from_file(str(APP), default_timeout=600).run()
        started = time.perf_counter()
        at.switch_page("pages/results.py").run()
        times.setdefault("first render", []).append(time.perf_counter() - started)
        _check(at)
        for name, action in page_steps(at):
            try:
                action()
            except KeyError:
                continue  # not on this version of the page
            started = time.perf_counter()
            at.run()
            times.setdefault(name, []).append(time.perf_counter() - started)
            _check(at)
    return times


def _check(at) -> None:
    if at.exception or at.error:
        raise SystemExit(f"the page failed: {[e.value for e in [*at.exception, *at.error]]}")


# --- saving, and the harness -------------------------------------------------------------------------


def time_saves(home: Path, count: int) -> list[float]:
    from llm_compare.services.store.run_store import RunStore
    from tests.support.synthetic_runs import synthetic_runs

    store, times = RunStore(home), []
    for record in synthetic_runs(count, seed=99):
        started = time.perf_counter()
        store.save(record)
        times.append(time.perf_counter() - started)
    return times


class StandInEngine:
    """The engine's interface, answering at once with a finished run: what is left is the harness."""

    memory_budget_bytes = 16 * 2**30

    def __init__(self, runner_progress):
        self.runner_progress = runner_progress

    def run(self, prompt, models, configs, system_prompt=None):
        from llm_compare.core.results import FinishReason, InferenceEvent, InferenceResult, InferenceStats

        [model] = models
        stats = InferenceStats(
            load_s=0.0,
            warm=True,
            prompt_tokens=12,
            completion_tokens=32,
            ttft_s=0.01,
            prefill_tps=1200.0,
            decode_tps=900.0,
            tpot_ms=1.1,
            decode_bytes_per_s=2800.0,
            e2e_s=0.045,
            peak_rss_bytes=300 * 2**20,
            finish_reason=FinishReason.LENGTH,
            other_cpu_share=0.02,
            busy=False,
        )
        self.runner_progress()  # the CLI and the page ask for progress about once per run
        yield InferenceEvent(
            model.id,
            "done",
            result=InferenceResult(
                model.id, "def f(x):\n    return x\n" * 4, FinishReason.LENGTH, None, stats
            ),
        )

    def cancel(self) -> None:
        pass


def time_harness(home: Path, repeats: int) -> dict[str, float]:
    from llm_compare.core.config import ModelConfig
    from llm_compare.core.models import ModelInfo, ModelType
    from llm_compare.services.bench.persistence import record_status, save_bench_run
    from llm_compare.services.bench.results import results_of, stored_results
    from llm_compare.services.bench.runner import BenchmarkRunner, BenchmarkSpec
    from llm_compare.services.bench.suites import builtin_suite
    from llm_compare.services.store.run_store import RunStore

    store = RunStore(home)
    models = {
        f"m{i}": ModelInfo(f"m{i}", f"stand-in {i}", ModelType.GGUF, f"/models/m{i}.gguf", 6_000_000)
        for i in range(3)
    }
    spec = BenchmarkSpec(tuple(models), builtin_suite(), repeats=repeats, warmups=0)
    holder: dict[str, BenchmarkRunner] = {}
    engine = StandInEngine(lambda: holder["runner"].progress())
    runner = BenchmarkRunner(
        engine,
        spec,
        models,
        dict.fromkeys(models, ModelConfig()),
        save=lambda outcome: save_bench_run(store, outcome),
        on_status=record_status(store),
    )
    holder["runner"] = runner
    started = time.perf_counter()
    runner.run()
    loop_s = time.perf_counter() - started
    counted = sum(o.counted for o in runner.snapshot())
    started = time.perf_counter()
    results_of(runner)  # what the Benchmark page draws (on each rerun while the benchmark runs)
    page_view_s = time.perf_counter() - started
    started = time.perf_counter()
    stored_results(store.benchmark_runs(runner.benchmark_id))  # what the CLI prints at the end, once
    aggregate_s = time.perf_counter() - started
    assert counted == len(runner.plan) and not runner.save_errors, runner.save_errors
    return {
        "counted runs": counted,
        "loop ms/run": loop_s / counted * 1000,
        "aggregate ms/run": aggregate_s / counted * 1000,
        "page view s": page_view_s,
        "total ms/run": (loop_s + aggregate_s) / counted * 1000,
    }


def build_store(home: Path, runs: int) -> float:
    from llm_compare.services.store.run_store import RunStore
    from tests.support.synthetic_runs import synthetic_runs

    started = time.perf_counter()
    RunStore(home).save_many(synthetic_runs(runs, seed=0))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument(
        "--repeats", type=int, default=5, help="page renders timed (each with every filter change)"
    )
    parser.add_argument("--saves", type=int, default=1000)
    parser.add_argument(
        "--bench-repeats",
        type=int,
        default=5,
        help="repetitions of the stand-in benchmark (3 models × 8 prompts)",
    )
    parser.add_argument(
        "--home", type=Path, help="an existing store to measure (default: a new one of --runs runs)"
    )
    parser.add_argument("--page-only", action="store_true")
    args = parser.parse_args()

    home = args.home or Path(tempfile.mkdtemp(prefix="store-costs-"))
    if args.home is None:
        print(f"building {args.runs:,} runs in {home} …", file=sys.stderr, flush=True)
        print(f"built in {build_store(home, args.runs):.1f} s", file=sys.stderr)
    load = os.getloadavg()[0]
    rows = [
        (f"Results page, {name}", spread(samples, "ms", 1000))
        for name, samples in time_page(home, args.repeats).items()
    ]
    if not args.page_only:
        rows.append(
            (f"save one run (median of {args.saves:,})", spread(time_saves(home, args.saves), "ms", 1000))
        )
        harness = time_harness(home, args.bench_repeats)
        label = (
            f"harness per counted run ({harness['counted runs']} runs: 3 models × 8 prompts × "
            f"{args.bench_repeats}; loop + the final aggregation)"
        )
        value = (
            f"{harness['total ms/run']:.2f} ms (loop {harness['loop ms/run']:.2f}, aggregation "
            f"{harness['aggregate ms/run']:.2f})"
        )
        rows.append((label, value))
        rows.append(
            (
                "Benchmark page's results of that benchmark, one draw",
                f"{harness['page view s'] * 1000:.0f} ms",
            )
        )
    from llm_compare.services.store.run_store import RunStore

    stored = RunStore(home).facets().total if not args.page_only else None
    print(
        f"\nstore: {home} ({stored if stored is not None else '?'} runs); load average {load:.2f} before, "
        f"{os.getloadavg()[0]:.2f} after, on {os.cpu_count()} cores\n"
    )
    print("| measure | median (min–max, n) |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
