"""`llm-compare score`: likelihood of a text under each model, and divergence from a reference."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from llm_compare.cli.common import add_models_dir, add_no_other_apps, models_dirs, other_app_folders
from llm_compare.core.errors import EXIT_INTERRUPTED, EXIT_MODEL_FAILED, EXIT_OK
from llm_compare.core.text import terminal_safe
from llm_compare.system.signals import stop_on_interrupt


def add_parser(commands) -> argparse.ArgumentParser:
    score = commands.add_parser(
        "score", help="score models on a text: bits per byte, perplexity, divergence from a reference"
    )
    score.add_argument(
        "--model",
        action="append",
        required=True,
        metavar="REF",
        help="model id from scan, or a path; repeat for more",
    )
    score.add_argument(
        "--text",
        default="builtin:prose",
        metavar="FILE",
        help="a UTF-8 text file, or builtin:prose or builtin:code (default builtin:prose)",
    )
    score.add_argument(
        "--reference",
        metavar="REF",
        help="measure KL divergence and agreement against this model (scored too)",
    )
    score.add_argument(
        "--ctx",
        type=int,
        metavar="N",
        help="tokens per chunk (default 512, or the smallest context among the models)",
    )
    score.add_argument("--json", metavar="OUT", help="write one JSON object per model (an array)")
    score.add_argument("--csv", metavar="OUT", help="write one CSV row per model")
    add_models_dir(score)
    return add_no_other_apps(score)


def command(args: argparse.Namespace) -> int:
    from llm_compare.services.discovery.config_manager import ConfigManager
    from llm_compare.services.discovery.model_manager import ModelManager
    from llm_compare.services.engine.engine import InferenceEngine
    from llm_compare.services.quality.report import text_table
    from llm_compare.services.quality.scores import save_scores
    from llm_compare.services.quality.scoring import Scoring
    from llm_compare.services.quality.texts import text_from_spec
    from llm_compare.services.store.run_store import RunStore, rows_to_csv

    text = text_from_spec(args.text)  # a bad file is bad usage, before any model loads
    manager = ModelManager(
        models_dirs(args), max_models=len(args.model) + 1, app_folders=other_app_folders(args)
    )
    models = manager.select_models(args.model, usable_only=False)
    reference = manager.get(args.reference) if args.reference else None
    saved = ConfigManager().load_many([*models, *([reference] if reference else [])])
    for warning in saved.warnings:  # a bad saved setting costs only itself, and says so
        print(f"warning: {terminal_safe(warning)}", file=sys.stderr)
    configs = saved.configs
    engine = InferenceEngine(max_models=1)
    scoring = Scoring(engine, models, text, reference=reference, n_ctx=args.ctx, configs=configs)
    interrupted = stop_on_interrupt(scoring.stop)
    try:
        for event in scoring.events():
            name = terminal_safe(next(m.name for m in scoring.models if m.id == event.model_id))
            if event.kind == "loading":
                print(f"{name}: loading", file=sys.stderr)
            elif event.kind == "scoring" and event.done_chunks in (1, event.total_chunks):
                print(f"{name}: chunk {event.done_chunks}/{event.total_chunks}", file=sys.stderr)
            elif event.kind == "done":
                print(f"{name}: {event.result.status}", file=sys.stderr)
    finally:
        engine.shutdown()
    results = scoring.results
    try:
        save_scores(RunStore(), results)
    except Exception as exc:  # the table still matters more than keeping it
        print(f"warning: scores not saved: {terminal_safe(str(exc))}", file=sys.stderr)
    print(terminal_safe(text_table(results), keep="\n"), end="")
    records = [r.to_dict() for r in results]
    if args.json:
        Path(args.json).write_text(json.dumps(records, indent=2) + "\n")
    if args.csv:
        Path(args.csv).write_text(rows_to_csv(records))
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_OK if all(r.status in ("scored", "not scored") for r in results) else EXIT_MODEL_FAILED
