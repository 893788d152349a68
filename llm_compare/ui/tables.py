"""The tables the pages show, as DataFrames: discovered models and stored runs."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

import pandas as pd

from llm_compare.core.formatting import human_bytes
from llm_compare.core.models import ModelInfo, ModelType
from llm_compare.core.results import STAT_HELP
from llm_compare.services.store.run_store import RunRecord
from llm_compare.ui.text import code

BACKEND_LABELS = {ModelType.PYTORCH: "PyTorch", ModelType.GGUF: "GGUF", ModelType.OPENAI: "HTTP endpoint"}


def filter_models(
    models: Iterable[ModelInfo], text: str = "", backends: Iterable[ModelType] | None = None
) -> list[ModelInfo]:
    """Models whose name, path, architecture, quantization or store ("Ollama") contains `text`
    (any case), of the given backends (all when None)."""
    needle = text.strip().lower()
    wanted = set(backends) if backends is not None else None
    found = []
    for model in models:
        meta = model.metadata
        haystack = " ".join(
            str(v)
            for v in (
                model.name,
                model.path,
                meta.architecture,
                meta.quantization,
                meta.app,
            )
            if v
        )
        if needle in haystack.lower() and (wanted is None or model.type in wanted):
            found.append(model)
    return found


def keep_selected(
    found: list[ModelInfo], matching: list[ModelInfo], selected: Iterable[str]
) -> list[ModelInfo]:
    """`matching`, plus the selected models a search or filter would hide (so they can be
    unselected), in the order `found` lists them."""
    keep = {m.id for m in matching} | set(selected)
    return [m for m in found if m.id in keep]


def models_frame(models: list[ModelInfo]) -> pd.DataFrame:
    rows = []
    for model in models:
        meta = model.metadata
        rows.append(
            {
                "name": model.name,
                "backend": BACKEND_LABELS.get(model.type, model.type.value),
                "architecture": meta.architecture,
                "parameters": meta.parameters,
                "quantization": meta.quantization,
                # As text in KiB/MiB/GiB, as the Configure page and the CLI show it (the grid's
                # own "bytes" format counts in powers of 1000).
                "size": None if model.is_endpoint else human_bytes(model.size_bytes),
                "context_length": meta.context_length,
                "chat": bool(meta.has_chat_template),
                "status": model.error or "ready",
                "health": health_label(model),
                "health_latency_ms": meta.health_latency_ms,
                "path": model.path,
            }
        )
    columns = [
        "name",
        "backend",
        "architecture",
        "parameters",
        "quantization",
        "size",
        "context_length",
        "chat",
        "status",
        "health",
        "health_latency_ms",
        "path",
    ]
    frame = pd.DataFrame(rows, columns=columns)
    for column in ("parameters", "context_length"):
        frame[column] = frame[column].astype("Int64")
    return frame


def picker_names(models: Iterable[ModelInfo]) -> dict[str, str]:
    """What a picker shows for each model, by id: its name, and where another model has the same
    name (model.gguf in two directories), its path too."""
    models = list(models)
    repeated = {name for name, count in Counter(m.name for m in models).items() if count > 1}
    return {m.id: f"{m.name} ({m.path})" if m.name in repeated else m.name for m in models}


def health_label(model: ModelInfo) -> str | None:
    """An endpoint's health at its last check (local models have none)."""
    if not model.is_endpoint:
        return None
    return {True: "healthy", False: "unhealthy"}.get(model.metadata.healthy, "not checked")


def runs_frame(records: list[RunRecord], session_comparisons: set[str]) -> pd.DataFrame:
    """Every stored figure of every run (the CSV's columns), plus `this_session`, in the records' order."""
    # On screen the name is just "model"; the CSV says model_name, as a benchmark's does.
    frame = pd.DataFrame([record.flat_row() for record in records]).rename(columns={"model_name": "model"})
    if frame.empty:
        return frame
    frame.insert(0, "this_session", frame["comparison_id"].isin(session_comparisons))
    for column in STAT_HELP:
        if column not in ("warm", "finish_reason", "busy"):
            frame[column] = pd.to_numeric(frame[column], errors="coerce")
    return _shown_units(frame)  # the store lists newest first


# The columns the charts draw, read from the store's columns (no record is parsed for a chart).
CHART_COLUMNS = (
    "model_name",
    "created_at",
    "decode_tps",
    "ttft_s",
    "peak_rss_bytes",
    "completion_tokens",
    "busy",
)


def chart_frame(rows: list[dict]) -> pd.DataFrame:
    """The store's CHART_COLUMNS rows as the charts take them (as `runs_frame` names them)."""
    frame = pd.DataFrame(rows, columns=list(CHART_COLUMNS)).rename(columns={"model_name": "model"})
    frame["busy"] = frame["busy"].map({1: True, 0: False})
    for column in ("decode_tps", "ttft_s", "peak_rss_bytes", "completion_tokens"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    return _shown_units(frame)


def _shown_units(frame: pd.DataFrame) -> pd.DataFrame:
    """Times in this machine's zone, TTFT in ms and memory in MiB, as the page shows them."""
    frame["created_at"] = (
        pd.to_datetime(frame["created_at"], utc=True, format="ISO8601")
        .dt.tz_convert(_local_zone())
        .dt.tz_localize(None)
    )
    frame["ttft_ms"] = frame["ttft_s"] * 1000
    frame["peak_rss_mib"] = frame["peak_rss_bytes"] / 2**20
    for figure in ("peak_private_bytes", "peak_file_bytes", "peak_vram_bytes"):
        if figure in frame:
            frame[figure.removesuffix("_bytes") + "_mib"] = frame[figure] / 2**20
    if "gpu_layers_offloaded" in frame:
        frame["gpu_layers"] = [
            _layers(offloaded, total)
            for offloaded, total in zip(frame["gpu_layers_offloaded"], frame["gpu_layers_total"])
        ]
    return frame


def _layers(offloaded, total) -> str | None:
    if pd.isna(offloaded):
        return None
    return f"{offloaded:.0f}/{total:.0f}" if not pd.isna(total) else f"{offloaded:.0f}"


# Columns of the runs table shown only when a run on screen has a value: on a CPU-only machine
# without an energy counter they would be columns of dashes.
MEASURED_ONLY_COLUMNS = (
    "device",
    "peak_private_mib",
    "peak_file_mib",
    "peak_vram_mib",
    "gpu_layers",
    "energy_j",
    "j_per_token",
)


def shown_columns(frame: pd.DataFrame, columns: Iterable[str]) -> list[str]:
    """`columns` less the MEASURED_ONLY_COLUMNS that no row of `frame` has a value for."""
    return [c for c in columns if c not in MEASURED_ONLY_COLUMNS or (c in frame and frame[c].notna().any())]


def local_time(iso_timestamp: str) -> datetime:
    """A stored UTC timestamp in this machine's time zone."""
    return datetime.fromisoformat(iso_timestamp).astimezone(_local_zone())


def _local_zone():
    return datetime.now().astimezone().tzinfo


def dir_summaries(dirs: list[str], models: list[ModelInfo]) -> list[str]:
    """One markdown line per models directory: whether it exists and how many models it holds."""
    lines = []
    for directory in dirs:
        root = Path(directory).expanduser()
        if not root.exists():
            lines.append(f":orange[:material/warning:] {code(directory)} does not exist")
            continue
        prefix = str(root.resolve())
        count = sum(1 for m in models if m.path == prefix or m.path.startswith(prefix + os.sep))
        lines.append(
            f":green[:material/check_circle:] {code(directory)} — {count} model{'s' if count != 1 else ''}"
        )
    return lines


def page_in_range(requested: int | None, pages: int) -> tuple[int, str | None]:
    """The page to show when page `requested` of `pages` is asked for, and a line saying so when
    it is not the one asked for."""
    if requested is not None and requested > pages:
        return pages, f"There {'is 1 page' if pages == 1 else f'are {pages:,} pages'}: showing the last."
    if requested is None or requested < 1:
        return 1, None if requested is None else "Pages start at 1: showing the first."
    return requested, None


def fitted_widths(frame: pd.DataFrame, char_px: float = 7.0, padding_px: int = 18) -> dict[str, int]:
    """A width in pixels per column that fits its heading and its longest cell: the data grid sizes
    columns by their first rows only, and cuts off what is longer."""
    return {
        str(column): int(
            padding_px + char_px * max([len(str(column)), *(len(str(v)) for v in frame[column])])
        )
        for column in frame.columns
    }
