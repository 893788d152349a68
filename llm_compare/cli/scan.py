"""`llm-compare scan`: the models found in directories and other apps' model folders."""

from __future__ import annotations

import argparse
import json

from llm_compare.cli.common import add_no_other_apps, default_models_dirs, other_app_folders
from llm_compare.core.errors import EXIT_OK
from llm_compare.core.formatting import human_bytes
from llm_compare.core.text import terminal_safe


def add_parser(commands) -> argparse.ArgumentParser:
    scan = commands.add_parser("scan", help="list the models found in directories")
    scan.add_argument(
        "dirs",
        nargs="*",
        metavar="DIR",
        help="directories to scan (default: $LLM_COMPARE_MODELS_DIR, else the folders saved on the "
        "dashboard's Models page, else ./models)",
    )
    scan.add_argument("--json", action="store_true", help="print a JSON array")
    return add_no_other_apps(scan)


def command(args: argparse.Namespace) -> int:
    from llm_compare.services.discovery.model_manager import ModelManager

    models = ModelManager(args.dirs or default_models_dirs(), app_folders=other_app_folders(args)).scan()
    if args.json:
        print(json.dumps([m.to_dict() for m in models], indent=2))
        return EXIT_OK
    if not models:
        print("no models found (put GGUF files or Hugging Face folders there, or run: llm-compare demo)")
    for model in models:
        meta = model.metadata
        detail = model.error or " · ".join(
            str(v)
            for v in (
                meta.architecture,
                meta.quantization,
                human_bytes(model.size_bytes),
                meta.app,
            )
            if v
        )
        print(
            f"{terminal_safe(model.id):40} {model.type.value:8} {terminal_safe(model.name)}: "
            f"{terminal_safe(detail)}"
        )
    return EXIT_OK
