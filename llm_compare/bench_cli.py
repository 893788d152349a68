"""`llm-compare bench`: the Benchmark page's services from the command line."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path

from llm_compare.core.errors import EXIT_INTERRUPTED, EXIT_MODEL_FAILED, EXIT_OK
from llm_compare.core.formatting import human_duration
from llm_compare.core.text import terminal_safe

PROGRESS_INTERVAL_S = 0.5


def add_parser(commands) -> None:
    bench = commands.add_parser("bench", help="benchmark models over a prompt suite, with repetitions and statistics")
    bench.add_argument("--model", action="append", metavar="REF", help="model id from scan, or a path; repeat for more")
    bench.add_argument("--prompts", metavar="FILE", help="a prompt suite (.jsonl or .csv); default: the built-in suite")
    bench.add_argument("--repeat", type=int, default=5, metavar="N", help="counted runs per model and prompt (default 5)")
    bench.add_argument("--warmup", type=int, default=1, metavar="K", help="runs per model after loading, never counted (default 1)")
    bench.add_argument("--max-tokens", type=int, dest="max_tokens", metavar="N", help="override every prompt's and model's limit")
    bench.add_argument("--seed", type=int, default=0, metavar="S", help="repetition r uses seed S + r (default 0)")
    bench.add_argument("--temperature", type=float, metavar="T", help="override every model's temperature")
    bench.add_argument("--include-busy", action="store_true", help="count runs made while other programs used the CPU")
    bench.add_argument("--csv", metavar="OUT", help="write one row per counted run")
    bench.add_argument("--json", metavar="OUT", help="write everything as one JSON document")
    bench.add_argument("--md", metavar="OUT", help="write the Markdown table")
    bench.add_argument("--models-dir", action="append", dest="models_dirs", metavar="DIR", help="where to look up model ids")


def cmd_bench(args: argparse.Namespace, models_dirs: list[str]) -> int:
    from llm_compare.core.errors import ConfigurationError
    from llm_compare.services.bench.report import run_rows
    from llm_compare.services.bench.results import benchmark_document, results_of
    from llm_compare.services.bench.runner import BenchmarkRunner, BenchmarkSpec
    from llm_compare.services.bench.store import save_bench_run
    from llm_compare.services.bench.suites import builtin_suite, load_suite
    from llm_compare.services.config_manager import ConfigManager
    from llm_compare.services.engine import InferenceEngine
    from llm_compare.services.model_manager import ModelManager
    from llm_compare.services.run_store import RunStore, rows_to_csv

    if not args.model:
        raise ConfigurationError("no model given: name at least one with --model")
    suite = load_suite(args.prompts) if args.prompts else builtin_suite()
    manager = ModelManager(models_dirs, max_models=len(args.model))
    models = manager.select_models(args.model, usable_only=False)
    config_manager = ConfigManager()
    spec = BenchmarkSpec(
        tuple(m.id for m in models), suite, args.repeat, args.warmup, args.seed, args.max_tokens, args.temperature
    )
    engine = InferenceEngine(max_models=1)
    store = RunStore()
    runner = BenchmarkRunner(
        engine, spec, {m.id: m for m in models}, {m.id: config_manager.get(m) for m in models},
        save=lambda outcome: save_bench_run(store, outcome),
    )

    def stop(signum, frame) -> None:
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a second Ctrl-C interrupts at once
        runner.cancel()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    print(f"benchmark {runner.benchmark_id}: {len(models)} models × {len(suite.prompts)} prompts × {args.repeat} "
          f"repetitions, {runner.order_note}", file=sys.stderr, flush=True)
    try:
        runner.start()
        _show_progress(runner)
    finally:
        engine.shutdown()

    results, _ = results_of(runner, args.include_busy)
    print(results.markdown, end="")
    _write(args.md, results.markdown)
    _write(args.csv, rows_to_csv(run_rows(runner.snapshot(), runner.benchmark_id)))
    _write(args.json, json.dumps(benchmark_document(runner, results), indent=1, ensure_ascii=False))
    if runner.error:
        print(f"error: {terminal_safe(runner.error)}", file=sys.stderr)
    for note in runner.save_errors:
        print(f"warning: {terminal_safe(note)}", file=sys.stderr)
    if runner.stop_requested:
        return EXIT_INTERRUPTED
    failed = runner.error or any(o.result.error and not o.skipped for o in runner.snapshot())
    return EXIT_MODEL_FAILED if failed else EXIT_OK


def _show_progress(runner) -> None:
    """One line per finished run on a pipe; one line kept up to date on a terminal."""
    tty, shown = sys.stderr.isatty(), -1
    while True:
        finished = runner.wait(PROGRESS_INTERVAL_S)
        progress = runner.progress()
        if progress.done != shown or tty:
            shown = progress.done
            left = "" if finished or progress.left_s is None else f" · about {human_duration(progress.left_s)} left"
            line = f"{progress.done}/{progress.total} runs · {human_duration(progress.elapsed_s)}{left}"
            print(f"\r{line}\033[K" if tty else line, end="" if tty else "\n", file=sys.stderr, flush=True)
        if finished:
            break
    if tty:
        print(file=sys.stderr)


def _write(path: str | None, text: str) -> None:
    if path:
        Path(path).write_text(text, encoding="utf-8")
        print(f"wrote {path}", file=sys.stderr)
