"""`llm-compare frontier`: the frontier table from the command line — per model a quality figure
beside the latest quiet benchmark's decode speed, TTFT, peak memory and (where measured) J/token, and
which are on the fronts."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from llm_compare.core.errors import EXIT_OK
from llm_compare.core.text import terminal_safe

# The keys of services.quality.sources.SOURCES, named here so that building the parser imports
# nothing heavy (a test checks they agree).
QUALITY_CHOICES = ("bits_per_byte", "kl_mean", "check_pass_rate", "vote_rating")


def add_parser(commands) -> argparse.ArgumentParser:
    frontier = commands.add_parser(
        "frontier", help="quality beside speed and memory, with the Pareto frontier"
    )
    frontier.add_argument(
        "--quality",
        choices=QUALITY_CHOICES,
        default=QUALITY_CHOICES[0],
        help="the quality figure (default: %(default)s)",
    )
    frontier.add_argument("--json", metavar="OUT", help="write one object per model")
    return frontier


def command(args: argparse.Namespace) -> int:
    from llm_compare.services.quality.frontier import (
        NO_ENERGY_NOTE,
        QUALITY_FIGURES,
        energy_measured,
        frontier_rows,
        latest_costs,
    )
    from llm_compare.services.quality.sources import SOURCES, known_names
    from llm_compare.services.store.run_store import RunStore

    store = RunStore()
    costs = latest_costs(store)
    rows = frontier_rows(args.quality, SOURCES[args.quality](store, costs), costs, known_names(store))
    objects = [_object(row, args.quality) for row in rows]
    if args.json:
        Path(args.json).write_text(json.dumps(objects, indent=2) + "\n", encoding="utf-8")
    if not rows:
        print(
            "no model has a benchmark or a quality figure yet: run `llm-compare bench`, or vote on the "
            "Compare page"
        )
        return EXIT_OK
    label = QUALITY_FIGURES[args.quality].label
    with_energy = energy_measured(costs)
    energy_heading = f" {'J/token':>8}" if with_energy else ""
    headings = f"{'model':30} {label:>18} {'decode tok/s':>12} {'TTFT ms':>8} {'peak MiB':>9}"
    print(f"{headings}{energy_heading}  frontier")
    for row, data in zip(rows, objects):
        on_fronts = (
            ("speed", row.on_speed_front),
            ("memory", row.on_memory_front),
            ("energy", row.on_energy_front),
        )
        fronts = ", ".join(name for name, on in on_fronts if on) or "–"
        energy = f" {_number(data['j_per_token'], '.3g'):>8}" if with_energy else ""
        print(
            f"{terminal_safe(row.name)[:30]:30} {_number(data[args.quality], '.4g'):>18} "
            f"{_number(data['decode_tps'], '.1f'):>12} {_number(data['ttft_ms'], '.0f'):>8} "
            f"{_number(data['peak_rss_mib'], '.0f'):>9}{energy}  {fronts}"
            + (f"  ({terminal_safe(row.note)})" if row.note else "")
        )
    print(
        "Costs from the latest benchmark that included each model, quiet runs only, or busy runs where a "
        "model has no quiet one (noted) (median decode, TTFT"
        + (" and J/token" if with_energy else "")
        + ", highest peak RSS)."
    )
    if not with_energy:
        print(NO_ENERGY_NOTE)
    return EXIT_OK


def _object(row, figure: str) -> dict:
    cost = row.cost
    return {
        "model_id": row.model_id,
        "model_name": row.name,
        figure: row.quality,
        "decode_tps": cost.decode_tps if cost else None,
        "ttft_ms": cost.ttft_s * 1000 if cost and cost.ttft_s is not None else None,
        "peak_rss_mib": cost.peak_rss_bytes / 2**20 if cost and cost.peak_rss_bytes is not None else None,
        "benchmark_id": cost.benchmark_id if cost else None,
        "quiet_runs": cost.runs - cost.busy_runs if cost else 0,
        "busy_runs": cost.busy_runs if cost else 0,
        "on_speed_frontier": row.on_speed_front,
        "on_memory_frontier": row.on_memory_front,
        "j_per_token": cost.j_per_token if cost else None,
        "on_energy_frontier": row.on_energy_front,
        "note": row.note or None,
    }


def _number(value, spec: str) -> str:
    return "–" if value is None else format(value, spec)
