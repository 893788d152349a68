"""Results: every stored run, charts of speed, latency and memory per model, and a CSV export."""

import streamlit as st

from llm_compare.core.results import STAT_HELP
from llm_compare.services.store.run_store import RunStore, StoredRuns, to_csv
from llm_compare.ui import charts, layout, session, tables
from llm_compare.ui.errors import guard, show_error
from llm_compare.ui.text import literal

layout.page_entry()

st.title("Results")

stored, hidden = StoredRuns([]), set()
with guard("Reading the stored runs"):
    store = RunStore()
    stored, hidden = store.read(), store.hidden_comparisons()
# A blind comparison's runs stay out of sight (and out of the CSV) until it is voted on.
records = [record for record in stored.records if record.comparison_id not in hidden]
if len(records) < len(stored.records):
    count = len(stored.records) - len(records)
    st.caption(
        f":material/visibility_off: {count} run{'s' if count != 1 else ''} of blind comparisons "
        "hidden until you vote on them (Compare page)."
    )
# A bad row costs only itself: one line for those left out, one for those shown after a repair.
if stored.unreadable:
    count = len(stored.unreadable)
    st.warning(
        literal(f"{count} stored run{'s' if count != 1 else ''} could not be read and are not shown "
                f"(first: {stored.unreadable[0]}); the log lists each."),
        icon=":material/warning:",
    )
if stored.repaired:
    count = len(stored.repaired)
    st.caption(
        literal(f"{count} stored run{'s' if count != 1 else ''} held values that cannot be shown as they "
                f"were and are shown repaired (first: {stored.repaired[0]}).")
    )

if not records:
    st.info("No runs stored yet: every comparison you run is saved here.", icon=":material/info:")
    st.page_link("pages/compare.py", label="Go to Compare", icon=":material/compare_arrows:")
    st.stop()

frame = tables.runs_frame(records, session.session_comparison_ids())

only_session_col, models_col, reasons_col, download_col = st.columns(
    [2, 5, 3, 2], vertical_alignment="bottom"
)
only_session = only_session_col.toggle(
    "This session",
    key="runs_this_session",
    disabled=not frame["this_session"].any(),
    help="Show only the runs started since this browser tab opened.",
)
model_names = sorted(frame["model"].unique())
chosen_models = models_col.multiselect("Models", model_names, key="runs_models", placeholder="All models")
reasons = sorted(frame["finish_reason"].dropna().unique())
chosen_reasons = reasons_col.multiselect(
    "Finish reason", reasons, key="runs_reasons", placeholder="All", help=STAT_HELP["finish_reason"]
)

shown = tables.filter_runs(frame, only_session=only_session, models=chosen_models, reasons=chosen_reasons)
shown_records = tables.records_of(shown, records)
download_col.download_button(
    "Download CSV",
    data=to_csv(shown_records),
    file_name="llm-compare-runs.csv",
    mime="text/csv",
    key="download_csv",
    icon=":material/download:",
    width="stretch",
    on_click="ignore",
    disabled=shown.empty,
    help="The runs shown, with every figure, the model identity and the exact settings each ran with.",
)

st.caption(
    f"{len(shown)} of {len(frame)} stored runs, newest first. Hover a column header for what it measures."
)

if shown.empty:
    st.info("No run matches the filters.", icon=":material/filter_alt_off:")
    st.stop()

# --- charts ------------------------------------------------------------------------------------
colors = charts.model_colors(list(shown["model"].unique()))
left, right = st.columns(2)
with guard("Drawing the charts"):
    left.plotly_chart(
        charts.per_model(shown, "decode_tps", "Decode speed per model", "tokens/s", colors),
        key="chart_decode",
    )
    right.plotly_chart(
        charts.per_model(shown, "ttft_ms", "Time to first token per model", "ms", colors), key="chart_ttft"
    )
    left.plotly_chart(
        charts.per_model(shown, "peak_rss_mib", "Peak memory per model", "MiB", colors, reduce="max"),
        key="chart_memory",
    )
    right.plotly_chart(charts.speed_vs_latency(shown, colors), key="chart_scatter")
st.caption(
    "Bars: median over the shown quiet runs (peak memory: the highest); dots: single runs, "
    "crosses: busy runs (other programs used the CPU), left out of the bars. "
    "Compare timings from sequential runs: parallel runs share the CPU."
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
selection = st.dataframe(
    shown,
    hide_index=True,
    column_order=list(TABLE_COLUMNS),
    column_config=TABLE_COLUMNS,
    key="runs_table",
    placeholder="–",
    on_select="rerun",
    selection_mode="single-row",
)

# --- one run in full -------------------------------------------------------------------------------
picked = selection.selection.rows if selection else []
if not picked:
    st.caption("Select a row to see the run in full.")
else:
    record = shown_records[picked[0]]
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
