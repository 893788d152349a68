"""`llm-compare demo`: build the small demo models, offline."""

from __future__ import annotations

import argparse
import signal
from pathlib import Path

from llm_compare.core.errors import EXIT_OK
from llm_compare.core.formatting import human_count


def add_parser(commands) -> argparse.ArgumentParser:
    demo = commands.add_parser("demo", help="build the small demo models (offline, a few minutes)")
    demo.add_argument("--dir", default="models", help="models directory (default: ./models)")
    demo.add_argument(
        "--size",
        choices=["full", "smoke"],
        default="full",
        help="smoke: seconds, for tests; the models learn little",
    )
    return demo


def command(args: argparse.Namespace) -> int:
    from llm_compare.services.discovery.demo_build import BuildProgress, build_lock

    # Stopped like Ctrl-C when the dashboard that started it stops: the status file says "interrupted".
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    # The lock and the first status come before torch is imported: the dashboard shows the build at once.
    with build_lock(), BuildProgress(Path(args.dir).resolve()) as progress:
        from llm_compare.modelbuild.demo import RECIPES, build_demo

        progress.expect_models(len(RECIPES[args.size].models))
        report = build_demo(
            Path(args.dir), progress=progress.progress, size=args.size, model_ready=progress.model_ready
        )
    for model in report.models:
        print(
            f"{model.name}: {human_count(model.parameters)} parameters, {model.heldout_bits_per_byte:.2f} "
            f"bits per byte on held-out text, trained in {model.train_seconds:.0f} s"
        )
    print(f"built in {report.total_seconds:.0f} s into {report.demo_dir} (details: demo-report.json there)")
    return EXIT_OK
