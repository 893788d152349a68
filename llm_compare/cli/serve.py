"""`llm-compare serve`: local models behind an OpenAI-compatible HTTP API (see api_server/)."""

from __future__ import annotations

import argparse
import sys

from llm_compare.api_server import settings as server_defaults
from llm_compare.cli.common import add_models_dir, default_models_dirs
from llm_compare.core.errors import EXIT_OK
from llm_compare.core.text import terminal_safe


def add_parser(commands) -> argparse.ArgumentParser:
    serve = commands.add_parser(
        "serve", help="serve local models as an OpenAI-compatible API (/v1/chat/completions, /v1/completions)"
    )
    serve.add_argument(
        "--model",
        action="append",
        dest="model_refs",
        metavar="REF",
        help="model id, name or path to serve; repeat for more (default: every model in the directories)",
    )
    add_models_dir(serve)
    serve.add_argument(
        "--host",
        default=server_defaults.DEFAULT_HOST,
        help="address to listen on (default: 127.0.0.1, this machine only)",
    )
    serve.add_argument(
        "--port",
        type=int,
        default=server_defaults.DEFAULT_PORT,
        help="port to listen on (default: %(default)s)",
    )
    serve.add_argument(
        "--api-key-env",
        metavar="NAME",
        help="ask clients for the key held in environment variable NAME (sent as Authorization: Bearer KEY)",
    )
    serve.add_argument(
        "--max-body-bytes",
        type=int,
        default=server_defaults.DEFAULT_MAX_BODY_BYTES,
        metavar="N",
        help="refuse larger requests with 413",
    )
    serve.add_argument(
        "--queue-size",
        type=int,
        default=server_defaults.DEFAULT_QUEUE_SIZE,
        metavar="N",
        help="requests that may wait for a busy model; more get 429 (default: %(default)s)",
    )
    # start_serving's: exit when the process that started this one is gone (a user's shell never passes it)
    serve.add_argument("--exit-with-parent", type=int, metavar="PID", help=argparse.SUPPRESS)
    return serve


def command(args: argparse.Namespace) -> int:
    from llm_compare.api_server.app import serve
    from llm_compare.api_server.settings import ServeSettings, served_models
    from llm_compare.system.child_processes import exit_when_parent_dies

    settings = ServeSettings(
        host=args.host,
        port=args.port,
        api_key_env=args.api_key_env,
        max_body_bytes=args.max_body_bytes,
        queue_size=args.queue_size,
        models_dirs=args.models_dirs or [],
        model_refs=args.model_refs or [],
    )
    settings.api_key()  # a key asked for but not set is bad usage, before any model is scanned
    if args.exit_with_parent:
        exit_when_parent_dies(args.exit_with_parent)
    models, warnings = served_models(settings, default_models_dirs())
    for warning in warnings:
        print(f"warning: {terminal_safe(warning)}", file=sys.stderr, flush=True)
    serve(settings, models)
    return EXIT_OK
