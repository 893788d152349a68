"""Draws a benchmark: the form's callbacks, its progress, and its results (table, verdicts,
plots, downloads)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import streamlit as st

from llm_compare.core.errors import ConfigurationError
from llm_compare.core.formatting import human_duration, local_time_text
from llm_compare.services.bench.report import ModelLabel, headline_pairs, pair_sentence, run_rows
from llm_compare.services.bench.results import (
    FROM_BUSY,
    BenchmarkResults,
    benchmark_document,
    busy_note,
    results_of,
    stored_labels,
    stored_results,
)
from llm_compare.services.bench.runner import BenchmarkRunner, BenchmarkSpec
from llm_compare.services.bench.stats import Summary
from llm_compare.services.bench.suites import Suite, SuitePrompt, builtin_suite, parse_suite
from llm_compare.services.store.run_store import RunStore, rows_to_csv
from llm_compare.ui import charts, session
from llm_compare.ui.errors import guard, guard_errors, show_error
from llm_compare.ui.text import literal

# Widget keys of the Benchmark page's form (stable: tests find them by these).
SUITE_KEY, UPLOAD_KEY, TYPED_KEY = "bench_suite", "bench_upload", "bench_prompt"
REPEATS_KEY, WARMUP_KEY, MAX_TOKENS_KEY, SEED_KEY = (
    "bench_repeats",
    "bench_warmup",
    "bench_max_tokens",
    "bench_seed",
)
TEMPERATURE_KEY = "bench_temperature"
INCLUDE_BUSY_KEY = "bench_include_busy"  # this page's widget of the shared switch (session.include_busy)
ERRORS_KEY = "bench_errors"
PAST_KEY = "bench_open"
RESULTS_CACHE_KEY = "bench_results_cache"
SUITES = {
    "builtin": "Built-in suite",
    "upload": "My suite file",
    "typed": "One prompt",
}
TEMPERATURES = {"saved": "Each model's own", "0": "0 (greedy)", "0.7": "0.7", "1": "1.0"}

# Summary figures shown per model: figure, heading, scale to the unit shown.
TABLE_FIGURES = (
    ("decode_tps", "decode tok/s", 1.0),
    ("decode_bytes_per_s", "decode bytes/s", 1.0),
    ("ttft_s", "TTFT ms", 1000.0),
    ("prefill_tps", "prefill tok/s", 1.0),
    ("peak_rss_bytes", "peak RSS MiB", 1 / 2**20),
    # The next only where measured: a figure no run has gets no summary, hence no column.
    ("peak_file_bytes", "peak mapped file MiB", 1 / 2**20),
    ("peak_vram_bytes", "peak GPU MiB", 1 / 2**20),
    ("energy_j", "energy J", 1.0),
    ("j_per_token", "J/token", 1.0),
)
# The main table's figures: few enough columns to fit the page; the rest under "Every figure".
HEADLINE_FIGURES = tuple(f for f in TABLE_FIGURES if f[0] in ("decode_tps", "ttft_s", "peak_rss_bytes"))


def suite_from_form() -> Suite:
    choice = st.session_state.get(SUITE_KEY, "builtin")
    if choice == "builtin":
        return builtin_suite()
    if choice == "upload":
        upload = st.session_state.get(UPLOAD_KEY)
        if upload is None:
            raise ConfigurationError(
                "no suite file chosen: upload a .jsonl or .csv file, or pick another suite"
            )
        kind = Path(upload.name).suffix.lower().lstrip(".")
        if kind not in ("jsonl", "csv"):
            raise ConfigurationError(f"{upload.name}: a prompt suite is a .jsonl or .csv file")
        return parse_suite(upload.getvalue(), upload.name, kind)
    text = st.session_state.get(TYPED_KEY, "")
    if not text.strip():
        raise ConfigurationError("the prompt is empty: type some text to benchmark")
    return Suite("typed", (SuitePrompt("prompt", text),))


def start_from_form() -> None:
    """The Run button's callback; errors wait in ERRORS_KEY for the page."""
    with guard_errors(ERRORS_KEY, "Starting the benchmark"):
        models = session.selected_models()
        temperature = st.session_state.get(TEMPERATURE_KEY, "saved")
        spec = BenchmarkSpec(
            model_ids=tuple(m.id for m in models),
            suite=suite_from_form(),
            repeats=int(st.session_state.get(REPEATS_KEY, 5)),
            warmups=int(st.session_state.get(WARMUP_KEY, 1)),
            seed=int(st.session_state.get(SEED_KEY, 0)),
            max_tokens=int(st.session_state.get(MAX_TOKENS_KEY, 0)) or None,
            temperature=None if temperature == "saved" else float(temperature),
        )
        session.start_benchmark(spec, models)


def stop_current() -> None:
    runner = session.benchmark()
    if runner is not None:
        runner.cancel()


def draw_progress(runner: BenchmarkRunner) -> None:
    progress = runner.progress()
    left = "" if progress.left_s is None else f" · about {human_duration(progress.left_s)} left"
    if runner.finished:
        left = " · stopped by you" if runner.stop_requested else " · finished"
    # Counted runs as "Past benchmarks" counts them; the bar moves with the warm-ups too.
    warmups = sum(1 for planned in runner.plan if planned.warmup)
    warmup_note = f" (and {warmups} warm-up run{'' if warmups == 1 else 's'})" if warmups else ""
    st.progress(
        progress.done / progress.total if progress.total else 1.0,
        text=(
            f"{progress.runs_done} / {progress.runs_planned} runs{warmup_note} · "
            f"{human_duration(progress.elapsed_s)} elapsed{left}"
        ),
    )
    st.caption(f"Order: {runner.order_note}. Repetition r of every model uses seed {runner.spec.seed} + r.")
    if runner.error:
        show_error(runner.error)
    for note in runner.notes:
        st.warning(literal(note), icon=":material/warning:")
    for note in runner.save_errors:
        st.warning(literal(note), icon=":material/save:")


def _results_once_per_run(runner: BenchmarkRunner, include_busy: bool):
    """The aggregation (bootstraps) only when a run has finished since the last draw: the live view
    redraws every second, and recomputing each time would take CPU from the models being measured."""
    key = (runner.benchmark_id, len(runner.snapshot()), include_busy)
    cached = st.session_state.get(RESULTS_CACHE_KEY)
    if cached is None or cached[0] != key:
        cached = (key, results_of(runner, include_busy))
        st.session_state[RESULTS_CACHE_KEY] = cached
    return cached[1]


def draw_results(runner: BenchmarkRunner) -> None:
    results, labels = _results_once_per_run(runner, session.include_busy())
    skipped = {(o.model.name, o.prompt.id): o.skipped for o in runner.snapshot() if o.skipped}
    for (model, prompt_id), reason in skipped.items():
        st.warning(literal(f"{model} skipped prompt {prompt_id}: {reason}"), icon=":material/skip_next:")
    if not results.runs:
        st.info(
            "No counted run yet: the figures appear after the first repetition.",
            icon=":material/hourglass_top:",
        )
        return
    _figures(results, labels)
    _downloads(runner.benchmark_id, runner.spec.to_dict(), runner.order_note, results)


def draw_past(running: bool = False) -> None:
    """Every stored benchmark; one opened shows its results again, and one whose process was
    stopped or crashed can be resumed. While one `running`, the table follows its runs."""
    store = RunStore()
    benchmarks = store.benchmarks()
    if not benchmarks:
        return
    st.subheader("Past benchmarks")
    _past_table(running)
    chosen = st.selectbox(
        "Open a benchmark",
        [b.benchmark_id for b in benchmarks],
        index=None,
        key=PAST_KEY,
        placeholder="Choose one to see its results",
    )
    if chosen is None:
        return
    stored = next(b for b in benchmarks if b.benchmark_id == chosen)
    if stored.status in ("incomplete", "stopped"):
        st.button(
            "Resume",
            key="bench_resume",
            icon=":material/resume:",
            on_click=resume_clicked,
            args=(chosen,),
            help="Run only what this benchmark has not run yet, with the same plan and seeds.",
        )
    records = store.benchmark_runs(chosen)
    labels = stored_labels(records)
    results = stored_results(records, session.include_busy())
    if results.runs:
        _figures(results, labels, key_prefix="past_")
        _downloads(chosen, stored.spec, stored.order_note, results, key_prefix="past_")


def _past_table(running: bool) -> None:
    # Drawn once with the page: the running benchmark's count is the live bar's (a second timer
    # on the page beside the bar's fragment starved its reruns on a busy machine), so its row
    # points there instead of showing a count that would go stale.
    live = session.benchmark().benchmark_id if running and session.benchmark() else None
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "id": b.benchmark_id,
                    "started": local_time_text(b.created_at),
                    "status": b.status,
                    "runs": "see the bar above"
                    if b.benchmark_id == live
                    else f"{b.runs_stored}/{_planned_runs(b.spec)}",
                    "models": len(b.spec["model_ids"]),
                    "suite": b.spec["suite"]["name"],
                    "repetitions": b.spec["repeats"],
                }
                for b in RunStore().benchmarks()
            ]
        ),
        hide_index=True,
        key="bench_past",
    )


def resume_clicked(benchmark_id: str) -> None:
    with guard_errors(ERRORS_KEY, "Resuming the benchmark"):
        session.resume_benchmark(benchmark_id)


def _planned_runs(spec: dict) -> int:
    return len(spec["model_ids"]) * len(spec["suite"]["prompts"]) * spec["repeats"]


def _figures(results: BenchmarkResults, labels: dict[str, ModelLabel], key_prefix: str = "") -> None:
    if results.from_busy:
        st.warning(
            f"Every run was busy (other programs used the CPU): the figures below come {FROM_BUSY}, "
            "and are not comparable with quiet runs. Rerun on a quieter machine for figures that are.",
            icon=":material/warning:",
        )
    names = {m: label.name for m, label in labels.items()}
    prefix = f"{FROM_BUSY.capitalize()}: " if results.from_busy else ""
    for pair in headline_pairs(results.pairs):
        st.markdown(f"- {literal(prefix + pair_sentence(pair, names))}")
    caption = busy_note(session.include_busy(), results.from_busy, results.busy_runs, results.total_runs)
    st.dataframe(
        _summary_table(results, labels, intervals=False), hide_index=True, key=f"{key_prefix}bench_table"
    )
    st.caption(
        f"Median and spread (min–max below 10 runs, p10–p90 from 10); every figure and the median's 95 % "
        f"interval (from 5 runs) below. {caption}"
    )
    with st.expander("Every figure, and per prompt", icon=":material/list:"):
        st.dataframe(
            _summary_table(results, labels, figures=TABLE_FIGURES),
            hide_index=True,
            key=f"{key_prefix}bench_all_table",
        )
        st.dataframe(
            _summary_table(results, labels, per_prompt=True),
            hide_index=True,
            key=f"{key_prefix}bench_prompt_table",
        )
        st.caption(caption)
    _plots(results, labels, key_prefix)


def _summary_table(
    results: BenchmarkResults,
    labels: dict[str, ModelLabel],
    per_prompt: bool = False,
    figures: tuple = HEADLINE_FIGURES,
    intervals: bool = True,
) -> pd.DataFrame:
    """One row per model (or per model and prompt): n, then each figure's median, spread and
    interval (a column of intervals only where some row has one: none below 5 runs)."""
    summary_of = {
        (s.model_id, s.prompt_id, s.figure): s.summary
        for s in results.summaries
        if (s.prompt_id is not None) == per_prompt
    }
    rate_of = {(r.model_id, r.prompt_id): r for r in results.pass_rates}
    rows = []
    for model_id, prompt_id in dict.fromkeys((m, p) for m, p, _ in summary_of):
        label = labels.get(model_id, ModelLabel(model_id, ""))
        cells = (
            {"model": label.name, "backend": label.backend}
            | ({"device": label.device} if label.device else {})
            | ({"prompt": prompt_id} if per_prompt else {})
        )
        cells["n"] = max(s.n for (m, p, _), s in summary_of.items() if (m, p) == (model_id, prompt_id))
        for figure, heading, scale in figures:
            summary = summary_of.get((model_id, prompt_id, figure))
            if summary is not None:
                cells.update(_figure_cells(heading, summary, scale))
        rate = rate_of.get((model_id, prompt_id))
        if rate is not None:
            cells["checks passed"] = (
                f"{rate.passed}/{rate.total} ({rate.interval.low:.0%}–{rate.interval.high:.0%})"
            )
        rows.append(cells)
    table = pd.DataFrame(rows)
    no_interval = [
        c for c in table.columns if c.endswith(" 95 % CI") and (not intervals or table[c].eq("–").all())
    ]
    return table.drop(columns=no_interval)


def _figure_cells(heading: str, summary: Summary, scale: float) -> dict:
    ci = summary.median_ci
    return {
        heading: float(_number(summary.median * scale)),
        f"{heading} {summary.spread_label}": (
            f"{_number(summary.low * scale)}–{_number(summary.high * scale)}"
        ),
        f"{heading} 95 % CI": f"{_number(ci.low * scale)}–{_number(ci.high * scale)}" if ci else "–",
    }


def _number(value: float) -> str:
    """Digits a reader can compare: 1874, 34.3, 5.34, 0.412."""
    size = abs(value)
    return (
        f"{value:.0f}"
        if size >= 100
        else f"{value:.1f}"
        if size >= 10
        else f"{value:.2f}"
        if size >= 0.1
        else f"{value:.3g}"
    )


def _plots(results: BenchmarkResults, labels: dict[str, ModelLabel], key_prefix: str = "") -> None:
    name = {m: label.name for m, label in labels.items()}
    runs = pd.DataFrame(
        [
            {
                "model": name.get(r.model_id, r.model_id),
                "prompt_id": r.prompt_id,
                "repeat": r.repeat,
                "decode_tps": r.figures.get("decode_tps"),
                "ttft_ms": r.figures["ttft_s"] * 1000 if r.figures.get("ttft_s") is not None else None,
                "peak_rss_mib": r.figures["peak_rss_bytes"] / 2**20
                if r.figures.get("peak_rss_bytes")
                else None,
                "busy": r.busy,
            }
            for r in results.all_runs  # busy runs too, drawn as crosses
        ]
    )
    colors = charts.model_colors(list(runs["model"].unique()))

    def spread(figure: str, scale: float) -> pd.DataFrame:
        rows = [
            {
                "model": name.get(s.model_id, s.model_id),
                "median": s.summary.median * scale,
                "low": s.summary.low * scale,
                "high": s.summary.high * scale,
                "spread": s.summary.spread_label,
                "n": s.summary.n,
            }
            for s in results.summaries
            if s.prompt_id is None and s.figure == figure
        ]
        return pd.DataFrame(rows, columns=["model", "median", "low", "high", "spread", "n"])

    left, right = st.columns(2)
    with guard("Drawing the charts"):
        left.plotly_chart(
            charts.median_with_spread(
                runs,
                spread("decode_tps", 1.0),
                "decode_tps",
                "Decode speed",
                "tokens/s",
                colors,
                results.from_busy,
            ),
            key=f"{key_prefix}bench_decode",
        )
        right.plotly_chart(
            charts.median_with_spread(
                runs,
                spread("ttft_s", 1000.0),
                "ttft_ms",
                "Time to first token",
                "ms",
                colors,
                results.from_busy,
            ),
            key=f"{key_prefix}bench_ttft",
        )
        left.plotly_chart(
            charts.box_per_model(runs, "decode_tps", "Decode speed, every run", "tokens/s", colors),
            key=f"{key_prefix}bench_box",
        )
        right.plotly_chart(charts.runs_scatter(runs, colors), key=f"{key_prefix}bench_scatter")
        left.plotly_chart(
            charts.median_with_spread(
                runs,
                spread("peak_rss_bytes", 1 / 2**20),
                "peak_rss_mib",
                "Peak memory",
                "MiB",
                colors,
                results.from_busy,
            ),
            key=f"{key_prefix}bench_memory",
        )
        rates = pd.DataFrame(
            [
                {
                    "model": name.get(r.model_id, r.model_id),
                    "rate": r.rate,
                    "low": r.interval.low,
                    "high": r.interval.high,
                    "passed": r.passed,
                    "total": r.total,
                }
                for r in results.pass_rates
                if r.prompt_id is None
            ]
        )
        if not rates.empty:
            right.plotly_chart(
                charts.pass_rate(rates, colors, results.from_busy), key=f"{key_prefix}bench_checks"
            )


def _downloads(
    benchmark_id: str, spec: dict, order_note: str, results: BenchmarkResults, key_prefix: str = ""
) -> None:
    """Built only when clicked: the runs as the store holds them."""

    def records():
        return RunStore().benchmark_runs(benchmark_id)

    def document() -> str:
        return json.dumps(
            benchmark_document(benchmark_id, spec, order_note, results, records()),
            indent=1,
            ensure_ascii=False,
        )

    stem = f"llm-compare-bench-{benchmark_id}"
    downloads = (
        (
            "Aggregate CSV",
            lambda: rows_to_csv(results.aggregate_rows),
            f"{stem}-aggregate.csv",
            "text/csv",
            "bench_download_aggregate",
        ),
        (
            "Runs CSV",
            lambda: rows_to_csv(run_rows(records())),
            f"{stem}-runs.csv",
            "text/csv",
            "bench_download_runs",
        ),
        ("JSON", document, f"{stem}.json", "application/json", "bench_download_json"),
        ("Markdown", lambda: results.markdown, f"{stem}.md", "text/markdown", "bench_download_md"),
    )
    for column, (label, data, file_name, mime, key) in zip(st.columns(4), downloads):
        column.download_button(
            label,
            data=data,
            file_name=file_name,
            mime=mime,
            key=key_prefix + key,
            icon=":material/download:",
            width="stretch",
            on_click="ignore",
        )
