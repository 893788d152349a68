"""Compare: one prompt to every selected model, answers streamed side by side with their numbers."""

import streamlit as st

from llm_compare.ui import compare_view, layout, session
from llm_compare.ui.errors import guard, show_error
from llm_compare.ui.text import literal, preformatted

layout.page_entry()

SCHEDULES = {
    "sequential": "Sequential — fair timings (one model at a time)",
    "parallel": "Parallel — all at once (timings affect each other)",
}

st.title("Compare")

restored = session.restore_last_comparison()  # a reloaded page shows the last comparison again
if restored is not None:
    st.session_state.setdefault(compare_view.PROMPT_KEY, restored.prompt)
    if restored.system_prompt:
        st.session_state.setdefault(compare_view.SYSTEM_PROMPT_KEY, restored.system_prompt)
run = session.comparison()
running = run is not None and not run.finished

if not layout.need_selection("compare"):
    if session.names_hidden():
        st.markdown(f"Models: {len(session.selected_models())}, hidden until you vote")
    else:
        names = ", ".join(f"**{literal(model.name)}**" for model in session.selected_models())
        st.markdown(f"Models: {names}")
    st.text_area(
        "Prompt",
        key=compare_view.PROMPT_KEY,
        height=120,
        persist_state="session",
        placeholder="Type a prompt to send to every selected model…",
    )
    with st.expander("System prompt (optional)", icon=":material/settings_suggest:"):
        st.text_area(
            "System prompt",
            key=compare_view.SYSTEM_PROMPT_KEY,
            height=80,
            persist_state="session",
            placeholder="Used in chat mode; overrides each model's own system prompt setting.",
        )
    schedule_col, blind_col, run_col, stop_col = st.columns([5, 1, 1, 1], vertical_alignment="bottom")
    schedule_col.radio(
        "Schedule",
        list(SCHEDULES),
        format_func=SCHEDULES.get,
        key=compare_view.SCHEDULE_KEY,
        horizontal=True,
        persist_state="session",
        help="Sequential gives each model the whole machine, so timings compare fairly.",
    )
    blind_col.toggle(
        "Blind",
        key=compare_view.BLIND_KEY,
        persist_state="session",
        help="Answers appear together in random columns (Model A, B, …) once every model has finished; "
        "names and figures stay hidden, on this page and on Results, until you vote.",
    )
    run_col.button(
        "Run",
        key="run",
        type="primary",
        icon=":material/play_arrow:",
        width="stretch",
        disabled=running,
        on_click=compare_view.start_from_form,
        help="Send the prompt to every selected model.",
    )
    stop_col.button(
        "Stop",
        key="stop",
        icon=":material/stop:",
        width="stretch",
        disabled=not running,
        on_click=compare_view.stop_current,
        help="Stop every model now; what they produced so far is kept and saved.",
    )
    for message in st.session_state.pop(compare_view.ERRORS_KEY, []):
        show_error(message)

if run is not None:
    st.divider()
    excerpt = run.prompt if len(run.prompt) <= 120 else run.prompt[:119] + "…"
    stopped = " · stopped by you" if run.stop_requested else ""
    st.caption(f"Started {run.started_at:%H:%M:%S} · {run.schedule}{stopped} · “{preformatted(excerpt)}”")
    with guard("Showing the comparison"):
        compare_view.draw(run)
    if running and run.finished:
        st.rerun()  # the run just ended: draw the buttons again (Run enabled, Stop disabled)
