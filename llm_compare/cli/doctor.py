"""`llm-compare doctor`: what this machine and the installed backends can run on."""

from __future__ import annotations

import argparse
import json

from llm_compare.core.errors import EXIT_OK
from llm_compare.core.text import terminal_safe


def add_parser(commands) -> argparse.ArgumentParser:
    doctor = commands.add_parser(
        "doctor",
        help="show the CPU, GPUs and what each backend can run on",
        description=(
            "Show the CPU, the NVIDIA GPUs, and each backend's version and accelerator: torch (CUDA, MPS, "
            "CPU capability) and llama-cpp-python (GPU offload, llama.cpp's system info). Each is asked "
            "in a child process; one that fails or times out is one line saying so. Always exits 0."
        ),
    )
    doctor.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        metavar="S",
        help="seconds each probe may take (default: 60; importing torch is slow on a busy machine)",
    )
    doctor.add_argument("--json", action="store_true", help="print one JSON object")
    return doctor


def command(args: argparse.Namespace) -> int:
    from llm_compare.services.doctor import diagnose, report_lines

    report = diagnose(timeout_s=args.timeout)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        for line in report_lines(report):
            print(terminal_safe(line))
    return EXIT_OK
