"""The command-line interface: the same services as the dashboard, for scripts and CI.

One module per subcommand (scan, run, demo, bench, score, frontier, serve, ui), each with
`add_parser` and `command`; parser.py puts them together and `main` dispatches."""

from llm_compare.cli.parser import build_parser, main

__all__ = ["build_parser", "main"]
