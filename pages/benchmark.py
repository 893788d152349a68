"""Benchmark: the selected models over a prompt suite, repeated, with spread, intervals and verdicts."""

import streamlit as st

from llm_compare.ui import bench_view, job_view, layout, session
from llm_compare.ui.errors import guard, show_error

layout.page_entry()

st.title("Benchmark")

runner = session.benchmark()
running = runner is not None and not runner.finished

if not layout.need_selection("benchmark"):
    suite_col, options_col = st.columns([3, 4])
    with suite_col:
        choice = st.radio(
            "Prompts",
            list(bench_view.SUITES),
            format_func=bench_view.SUITES.get,
            key=bench_view.SUITE_KEY,
            horizontal=True,
            persist_state="session",
        )
        if choice == "upload":
            st.file_uploader(
                "Suite file",
                type=["jsonl", "csv"],
                key=bench_view.UPLOAD_KEY,
                help=(
                    "One prompt per line (JSONL) or row (CSV): id, prompt, optional system, max_tokens and "
                    "checks."
                ),
            )
        elif choice == "typed":
            st.text_area("Prompt", key=bench_view.TYPED_KEY, height=100, persist_state="session")
        else:
            st.caption(
                "8 prompts shipped with llm-compare: short and long, code and prose, one near a 512-token "
                "context."
            )
    with options_col:
        a, b, c = st.columns(3)
        a.number_input(
            "Repetitions",
            1,
            1000,
            5,
            key=bench_view.REPEATS_KEY,
            persist_state="session",
            help="Counted runs per model and prompt. Verdicts need at least 5.",
        )
        b.number_input(
            "Warm-up runs",
            0,
            20,
            1,
            key=bench_view.WARMUP_KEY,
            persist_state="session",
            help="Runs per model after each load, never counted.",
        )
        c.number_input(
            "Seed",
            0,
            2**31 - 1,
            0,
            key=bench_view.SEED_KEY,
            persist_state="session",
            help="Repetition r of every model uses seed S + r.",
        )
        a.number_input(
            "Max tokens",
            0,
            32768,
            0,
            key=bench_view.MAX_TOKENS_KEY,
            persist_state="session",
            help="0: each prompt's own limit, else each model's setting.",
        )
        b.selectbox(
            "Temperature",
            list(bench_view.TEMPERATURES),
            format_func=bench_view.TEMPERATURES.get,
            key=bench_view.TEMPERATURE_KEY,
            persist_state="session",
        )
    job_view.run_and_stop_buttons(
        "Run",
        ("bench_run", "bench_stop"),
        running,
        bench_view.start_from_form,
        bench_view.stop_current,
        "Stop after the run in flight; every finished run is kept.",
    )

# Shown with or without a selection: Resume (below) needs none.
for message in st.session_state.pop(bench_view.ERRORS_KEY, []):
    show_error(message)

session.include_busy_toggle(bench_view.INCLUDE_BUSY_KEY)
if runner is not None:
    st.divider()
    job_view.draw_live(
        runner, running, "Showing the benchmark", bench_view.draw_progress, bench_view.draw_results
    )

st.divider()
with guard("Listing past benchmarks"):
    bench_view.draw_past(running)
