"""Results: every stored run, charts of speed, latency and memory per model, and a CSV export."""

import streamlit as st

from llm_compare.core.results import STAT_HELP
from llm_compare.services.bench.aggregate import busy_share
from llm_compare.services.store.run_store import RunFacets, RunQuery, RunStore, to_csv
from llm_compare.ui import charts, layout, session, tables
from llm_compare.ui.errors import guard, show_error
from llm_compare.ui.text import literal

layout.page_entry()

st.title("Results")

PAGE_SIZES = (25, 50, 100, 500)
CHART_RUNS = 2000  # the charts draw the newest runs shown, at most this many
SOURCES = {"all": "All", "comparisons": "Comparisons", "benchmarks": "Benchmarks"}

store = RunStore()
facets = RunFacets(0, [], [], [], 0, None, 0, None)
hidden_runs = 0
with guard("Reading the stored runs"):
    facets, hidden_runs = store.facets(), store.hidden_run_count()
if hidden_runs:
    st.caption(
        f":material/visibility_off: {hidden_runs} run{'s' if hidden_runs != 1 else ''} of blind comparisons "
        "hidden until you vote on them (Compare page)."
    )
# A bad row costs only itself: one line for those left out, one for those shown after a repair.
if facets.unreadable:
    count = facets.unreadable
    st.warning(
        literal(
            f"{count} stored run{'s' if count != 1 else ''} could not be read and are not shown "
            f"(first: {facets.first_unreadable}); the log lists each."
        ),
        icon=":material/warning:",
    )
if facets.repaired:
    count = facets.repaired
    st.caption(
        literal(
            f"{count} stored run{'s' if count != 1 else ''} held values that cannot be shown as they "
            f"were and are shown repaired (first: {facets.first_repaired})."
        )
    )

if not facets.total:
    st.info("No runs stored yet: every comparison you run is saved here.", icon=":material/info:")
    st.page_link("pages/compare.py", label="Go to Compare", icon=":material/compare_arrows:")
    st.stop()


def first_page() -> None:
    """A filter changed: back to the first page of what it finds."""
    st.session_state["runs_page"] = 1


session_comparisons = session.session_comparison_ids()
# Two rows, so that no label is cut off: where the runs come from, then what they are.
only_session_col, source_col, _ = st.columns([1, 2, 2], vertical_alignment="bottom")
models_col, backends_col, reasons_col = st.columns([5, 2, 3], vertical_alignment="bottom")
only_session = only_session_col.toggle(
    "This session",
    key="runs_this_session",
    disabled=not session_comparisons,
    help="Show only the runs started since this browser tab opened.",
    on_change=first_page,
)
chosen_models = models_col.multiselect(
    "Models", facets.models, key="runs_models", placeholder="All models", on_change=first_page
)
chosen_backends = backends_col.multiselect(
    "Backend", facets.backends, key="runs_backends", placeholder="All", on_change=first_page
)
chosen_reasons = reasons_col.multiselect(
    "Finish reason",
    facets.finish_reasons,
    key="runs_reasons",
    placeholder="All",
    help=STAT_HELP["finish_reason"],
    on_change=first_page,
)
source = source_col.segmented_control(
    "From",
    list(SOURCES),
    format_func=SOURCES.get,
    key="runs_source",
    default="all",
    on_change=first_page,
)
query = RunQuery(
    models=tuple(chosen_models),
    backends=tuple(chosen_backends),
    finish_reasons=tuple(chosen_reasons),
    comparison_ids=tuple(sorted(session_comparisons)) if only_session else None,
    source=source or "all",
)
matching = 0
with guard("Counting the runs"):
    matching = store.count(query)

size_col, page_col, summary_col, download_col = st.columns([2, 2, 6, 2], vertical_alignment="bottom")
page_size = size_col.selectbox(
    "Runs per page", PAGE_SIZES, index=1, key="runs_page_size", on_change=first_page
)
pages = max(1, -(-matching // page_size))
# No bounds on the box: the browser would refuse "9 of 2" without a word; the page says where it went.
page_number, paging_note = tables.page_in_range(st.session_state.get("runs_page"), pages)
st.session_state["runs_page"] = page_number
page_col.number_input("Page", key="runs_page", step=1, help=f"From 1 to {pages:,}.")
offset = (page_number - 1) * page_size
download_col.download_button(
    "Download CSV",
    data=lambda: to_csv(store.records(query)),  # built only when clicked: every run the filters find
    file_name="llm-compare-runs.csv",
    mime="text/csv",
    key="download_csv",
    icon=":material/download:",
    width="stretch",
    on_click="ignore",
    disabled=not matching,
    help=(
        "The runs the filters find (every page), with every figure, the model identity and the exact "
        "settings each ran with."
    ),
)
summary_col.caption(
    (f"{paging_note} " if paging_note else "")
    + f"{matching:,} of {facets.total:,} stored runs, newest first"
    + (f"; this page shows runs {offset + 1:,}–{min(offset + page_size, matching):,}" if matching else "")
    + ". Hover a column header for what it measures."
)

if not matching:
    st.info("No run matches the filters.", icon=":material/filter_alt_off:")
    st.stop()

# --- charts ------------------------------------------------------------------------------------
shown = tables.chart_frame(store.figures(query, tables.CHART_COLUMNS, CHART_RUNS))
colors = charts.model_colors(list(shown["model"].unique()))
include_busy = session.include_busy_toggle("results_include_busy")
left, right = st.columns(2)
with guard("Drawing the charts"):
    left.plotly_chart(
        charts.per_model(
            shown, "decode_tps", "Decode speed per model", "tokens/s", colors, include_busy=include_busy
        ),
        key="chart_decode",
    )
    right.plotly_chart(
        charts.per_model(
            shown, "ttft_ms", "Time to first token per model", "ms", colors, include_busy=include_busy
        ),
        key="chart_ttft",
    )
    left.plotly_chart(
        charts.per_model(
            shown,
            "peak_rss_mib",
            "Peak memory per model",
            "MiB",
            colors,
            reduce="max",
            include_busy=include_busy,
        ),
        key="chart_memory",
    )
    right.plotly_chart(charts.speed_vs_latency(shown, colors), key="chart_scatter")
st.caption(
    f"{busy_share(int(shown['busy'].eq(True).sum()), len(shown))} (other programs used the CPU): "
    "drawn as crosses, "
    + ("counted in the bars. " if include_busy else "left out of the bars unless a model has no quiet run. ")
    + "Bars: median (peak memory: the highest); hatched bars hold busy runs. "
    "Compare timings from sequential runs: parallel runs share the CPU."
    + (
        f" The charts draw the newest {CHART_RUNS:,} of the {matching:,} runs found."
        if matching > CHART_RUNS
        else ""
    )
)

# --- table ---------------------------------------------------------------------------------------
TABLE_COLUMNS = {
    "this_session": st.column_config.CheckboxColumn("New", help="Run in this session", width=50),
    "created_at": st.column_config.DatetimeColumn("When", format="YYYY-MM-DD HH:mm:ss"),
    "model": st.column_config.TextColumn("Model"),
    "backend": st.column_config.TextColumn("Backend"),
    "quantization": st.column_config.TextColumn("Quant"),
    "ttft_ms": st.column_config.NumberColumn("TTFT (ms)", format="%.0f", help=STAT_HELP["ttft_s"]),
    "decode_tps": st.column_config.NumberColumn("Decode tok/s", format="%.1f", help=STAT_HELP["decode_tps"]),
    "prefill_tps": st.column_config.NumberColumn(
        "Prefill tok/s", format="%.0f", help=STAT_HELP["prefill_tps"]
    ),
    "tpot_ms": st.column_config.NumberColumn("TPOT (ms)", format="%.1f", help=STAT_HELP["tpot_ms"]),
    "prompt_tokens": st.column_config.NumberColumn(
        "Prompt tok", format="%d", help=STAT_HELP["prompt_tokens"]
    ),
    "completion_tokens": st.column_config.NumberColumn(
        "Tokens", format="%d", help=STAT_HELP["completion_tokens"]
    ),
    "e2e_s": st.column_config.NumberColumn("E2E (s)", format="%.2f", help=STAT_HELP["e2e_s"]),
    "load_s": st.column_config.NumberColumn("Load (s)", format="%.2f", help=STAT_HELP["load_s"]),
    "peak_rss_mib": st.column_config.NumberColumn(
        "Peak RSS (MiB)", format="%.0f", help=STAT_HELP["peak_rss_bytes"]
    ),
    "peak_private_mib": st.column_config.NumberColumn(
        "Peak private (MiB)", format="%.0f", help=STAT_HELP["peak_private_bytes"]
    ),
    "peak_file_mib": st.column_config.NumberColumn(
        "Peak mapped file (MiB)", format="%.0f", help=STAT_HELP["peak_file_bytes"]
    ),
    "peak_vram_mib": st.column_config.NumberColumn(
        "Peak GPU memory (MiB)", format="%.0f", help=STAT_HELP["peak_vram_bytes"]
    ),
    "gpu_layers": st.column_config.TextColumn(
        "GPU layers",
        help=f"{STAT_HELP['gpu_layers_offloaded']} Shown as offloaded/total: {STAT_HELP['gpu_layers_total']}",
    ),
    "energy_j": st.column_config.NumberColumn("Energy (J)", format="%.3g", help=STAT_HELP["energy_j"]),
    "j_per_token": st.column_config.NumberColumn("J/token", format="%.3g", help=STAT_HELP["j_per_token"]),
    "device": st.column_config.TextColumn(
        "Ran on", help="What the run ran on: CPU (threads, features) or GPU."
    ),
    "finish_reason": st.column_config.TextColumn("Finish", help=STAT_HELP["finish_reason"]),
    "busy": st.column_config.CheckboxColumn("Busy", help=STAT_HELP["busy"], width=50),
    "other_cpu_share": st.column_config.NumberColumn(
        "Other CPU", format="percent", help=STAT_HELP["other_cpu_share"]
    ),
    "schedule": st.column_config.TextColumn("Schedule"),
    "prompt": st.column_config.TextColumn("Prompt", width="medium"),
    "text": st.column_config.TextColumn("Answer", width="medium"),
    "error": st.column_config.TextColumn("Error"),
}
st.subheader("Runs")
records = store.page(query, offset, page_size)
runs = tables.runs_frame(records, session_comparisons)
selection = st.dataframe(
    runs,
    hide_index=True,
    column_order=tables.shown_columns(runs, TABLE_COLUMNS),
    column_config=TABLE_COLUMNS,
    key="runs_table",
    placeholder="–",
    on_select="rerun",
    selection_mode="single-row",
)
if "busy" in runs:
    st.caption(f"This page: {busy_share(int(runs['busy'].eq(True).sum()), len(runs))} (column Busy).")

# --- one run in full -------------------------------------------------------------------------------
picked = selection.selection.rows if selection else []
if not picked:
    st.caption("Select a row to see the run in full.")
else:
    record = records[picked[0]]
    when = tables.local_time(record.created_at)
    st.subheader(f"{literal(record.model['name'])} · {when:%Y-%m-%d %H:%M:%S}")
    answer_col, detail_col = st.columns([3, 2])
    with answer_col:
        st.markdown("**Prompt**")
        st.text(record.prompt)
        if record.system_prompt:
            st.markdown("**System prompt**")
            st.text(record.system_prompt)
        st.markdown("**Answer**")
        st.text(record.text or "(no text)")
        if record.error:
            show_error(record.error)
    with detail_col:
        st.markdown("**Settings it ran with**")
        st.json(record.config, expanded=False)
        if record.ignored_settings:
            st.markdown("**Ignored by the backend**")
            st.json(record.ignored_settings)
        st.markdown("**Model, backend and host**")
        st.json(
            {"model": record.model, "backend_versions": record.backend_versions, "host": record.host},
            expanded=False,
        )
