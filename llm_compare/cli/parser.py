"""The `llm-compare` parser, built from each subcommand's module, and `main`, which dispatches."""

from __future__ import annotations

import argparse
import logging
import sys

from llm_compare.cli import bench, demo, doctor, frontier, run, scan, score, serve, ui
from llm_compare.core.errors import EXIT_INTERRUPTED, EXIT_USAGE, LLMCompareError
from llm_compare.core.text import terminal_safe

DESCRIPTION = "The command-line interface: the same services as the dashboard, for scripts and CI."
# In the order `llm-compare --help` lists them.
COMMANDS = (scan, run, demo, bench, score, frontier, serve, ui, doctor)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="llm-compare", description=DESCRIPTION)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        module.add_parser(commands).set_defaults(handler=module.command)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except LLMCompareError as exc:
        print(f"error: {terminal_safe(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
