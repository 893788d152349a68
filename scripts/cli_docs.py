"""Write docs/cli.md from the command line's own `--help` texts, or check that it is up to date.

python scripts/cli_docs.py            # (re)write docs/cli.md
python scripts/cli_docs.py --check    # exit 1 when docs/cli.md differs from what --help prints
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLI_DOC = ROOT / "docs" / "cli.md"
# argparse wraps help to the terminal's width: fixed here, so that the file is the same everywhere.
COLUMNS = "100"
HEADER = (
    "<!-- Generated from `llm-compare --help` by scripts/cli_docs.py: do not edit by hand; "
    "regenerate with `python scripts/cli_docs.py`. -->"
)


def subcommands(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """The parsers of `parser`'s subcommands, in the order they were added, and theirs in turn."""
    found = []
    for action in parser._subparsers._group_actions if parser._subparsers else []:
        for child in (action.choices or {}).values():
            if isinstance(child, argparse.ArgumentParser) and child not in found:
                found.append(child)
                found += subcommands(child)
    return found


def cli_reference() -> str:
    """docs/cli.md's text: the top-level help, then each subcommand's, as `--help` prints them."""
    os.environ["COLUMNS"] = COLUMNS
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from llm_compare.cli import build_parser

    parser = build_parser()
    parts = [
        HEADER,
        "",
        "# Command line reference",
        "",
        "Every command's `--help`, as it prints it. [usage.md](usage.md) shows the commands at work;",
        "[metrics.md](metrics.md) says what the figures mean.",
    ]
    for command in [parser, *subcommands(parser)]:
        parts += ["", f"## {command.prog}", "", "```text", command.format_help().rstrip(), "```"]
    return "\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--check", action="store_true", help="exit 1 if docs/cli.md is out of date")
    check = args.parse_args(argv).check
    text = cli_reference()
    if check:
        current = CLI_DOC.read_text(encoding="utf-8") if CLI_DOC.exists() else ""
        if current != text:
            print("docs/cli.md is out of date: run python scripts/cli_docs.py", file=sys.stderr)
            return 1
        return 0
    CLI_DOC.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
