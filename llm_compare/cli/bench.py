"""`llm-compare bench`: the Benchmark page's services from the command line."""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from pathlib import Path

from llm_compare.cli.common import (
    API_KEY_ENV_HELP,
    MODEL_REF_HELP,
    add_models_dir,
    add_no_other_apps,
    models_dirs,
    other_app_folders,
)
from llm_compare.core.errors import EXIT_INTERRUPTED, EXIT_MODEL_FAILED, EXIT_OK
from llm_compare.core.formatting import human_duration
from llm_compare.core.text import terminal_safe
from llm_compare.system.signals import stop_on_interrupt

PROGRESS_INTERVAL_S = 0.5


def add_parser(commands) -> argparse.ArgumentParser:
    bench = commands.add_parser(
        "bench", help="benchmark models over a prompt suite, with repetitions and statistics"
    )
    bench.add_argument("--model", action="append", metavar="REF", help=MODEL_REF_HELP)
    bench.add_argument("--api-key-env", dest="api_key_env", metavar="NAME", help=API_KEY_ENV_HELP)
    bench.add_argument(
        "--prompts", metavar="FILE", help="a prompt suite (.jsonl or .csv); default: the built-in suite"
    )
    bench.add_argument(
        "--repeat", type=int, default=5, metavar="N", help="counted runs per model and prompt (default 5)"
    )
    bench.add_argument(
        "--warmup",
        type=int,
        default=1,
        metavar="K",
        help="runs per model after loading, never counted (default 1)",
    )
    bench.add_argument(
        "--max-tokens",
        type=int,
        dest="max_tokens",
        metavar="N",
        help="override every prompt's and model's limit",
    )
    bench.add_argument(
        "--seed", type=int, default=0, metavar="S", help="repetition r uses seed S + r (default 0)"
    )
    bench.add_argument("--temperature", type=float, metavar="T", help="override every model's temperature")
    bench.add_argument(
        "--include-busy", action="store_true", help="count runs made while other programs used the CPU"
    )
    bench.add_argument("--csv", metavar="OUT", help="write one row per counted run")
    bench.add_argument("--json", metavar="OUT", help="write everything as one JSON document")
    bench.add_argument("--md", metavar="OUT", help="write the Markdown table")
    add_models_dir(bench)
    bench.add_argument("--list", action="store_true", help="list past benchmarks with their ids and status")
    bench.add_argument(
        "--resume", metavar="ID", help="run what a stopped or crashed benchmark has not run yet"
    )
    return add_no_other_apps(bench)


def command(args: argparse.Namespace) -> int:
    from llm_compare.core.errors import ConfigurationError
    from llm_compare.services.bench.jobs import BenchmarkJobs
    from llm_compare.services.bench.persistence import bench_record
    from llm_compare.services.bench.report import run_rows
    from llm_compare.services.bench.results import benchmark_document, stored_results
    from llm_compare.services.bench.runner import BenchmarkSpec
    from llm_compare.services.bench.suites import builtin_suite, load_suite
    from llm_compare.services.discovery.model_manager import ModelManager
    from llm_compare.services.engine.engine import InferenceEngine
    from llm_compare.services.store.run_store import RunStore, rows_to_csv

    store = RunStore()
    if args.list:
        return _list(store)
    if not args.resume and not args.model:
        raise ConfigurationError("no model given: name at least one with --model")
    model_count = len(store.benchmark(args.resume).spec["model_ids"]) if args.resume else len(args.model)
    manager = ModelManager(
        models_dirs(args),
        max_models=model_count,
        app_folders=other_app_folders(args),
        api_key_env=args.api_key_env,
    )
    if not args.resume:  # bad input is told before an engine starts
        suite = load_suite(args.prompts) if args.prompts else builtin_suite()
        spec = BenchmarkSpec(
            tuple(args.model), suite, args.repeat, args.warmup, args.seed, args.max_tokens, args.temperature
        )
        models = manager.select_models(list(spec.model_ids), usable_only=False)
    engine = InferenceEngine(max_models=1)
    try:
        jobs = BenchmarkJobs(engine)
        runner = jobs.resume(args.resume, manager) if args.resume else jobs.start(spec, models)
        stop_on_interrupt(runner.cancel)
        spec = runner.spec
        for note in runner.notes:
            print(f"warning: {terminal_safe(note)}", file=sys.stderr)
        print(
            f"benchmark {runner.benchmark_id}: {len(runner.models)} models × {len(spec.suite.prompts)} "
            f"prompts × {spec.repeats} repetitions, {runner.order_note}",
            file=sys.stderr,
            flush=True,
        )
        _show_progress(runner)
    finally:
        engine.shutdown()

    try:
        records = store.benchmark_runs(runner.benchmark_id)  # a resumed benchmark's earlier runs too
    except (sqlite3.Error, OSError) as exc:
        print(
            f"warning: the store cannot be read ({terminal_safe(str(exc))}): the figures are this run's only",
            file=sys.stderr,
        )
        records = [bench_record(o) for o in runner.snapshot() if not o.planned.warmup]
    results = stored_results(records, args.include_busy)
    print(results.markdown, end="")
    if results.from_busy:
        print(
            f"warning: all {results.total_runs} counted runs were busy (other programs used the CPU), so "
            "the figures come from busy runs and are not comparable with quiet runs: rerun on a quieter "
            "machine for figures that are",
            file=sys.stderr,
        )
    _write(args.md, results.markdown)
    _write(args.csv, rows_to_csv(run_rows(records)))
    document = benchmark_document(runner.benchmark_id, spec.to_dict(), runner.order_note, results, records)
    _write(args.json, json.dumps(document, indent=1, ensure_ascii=False))
    if runner.error:
        print(f"error: {terminal_safe(runner.error)}", file=sys.stderr)
    for note in runner.save_errors:
        print(f"warning: {terminal_safe(note)}", file=sys.stderr)
    if runner.stop_requested:
        print(f"stopped: `llm-compare bench --resume {runner.benchmark_id}` runs the rest", file=sys.stderr)
        return EXIT_INTERRUPTED
    failed = runner.error or any(o.result.error and not o.skipped for o in runner.snapshot())
    return EXIT_MODEL_FAILED if failed else EXIT_OK


def _list(store) -> int:
    benchmarks = store.benchmarks()
    if not benchmarks:
        print("no benchmarks stored yet")
    for stored in benchmarks:
        spec = stored.spec
        planned = len(spec["model_ids"]) * len(spec["suite"]["prompts"]) * spec["repeats"]
        print(
            terminal_safe(
                f"{stored.benchmark_id}  {stored.created_at}  {stored.status:10}  "
                f"{stored.runs_stored}/{planned} runs  {len(spec['model_ids'])} models, suite "
                f"{spec['suite']['name']}, {spec['repeats']} repetitions"
            )
        )
    return EXIT_OK


def _show_progress(runner) -> None:
    """One line per finished run on a pipe; one line kept up to date on a terminal."""
    tty, shown = sys.stderr.isatty(), -1
    while True:
        finished = runner.wait(PROGRESS_INTERVAL_S)
        progress = runner.progress()
        if progress.done != shown or tty:
            shown = progress.done
            left = (
                ""
                if finished or progress.left_s is None
                else f" · about {human_duration(progress.left_s)} left"
            )
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
