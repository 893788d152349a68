"""Compare: one prompt to every selected model, answers streamed side by side with their numbers."""

import streamlit as st

from llm_compare.ui import compare_view, session
from llm_compare.ui.errors import guard, guard_errors
from llm_compare.ui.layout import need_selection

SCHEDULES = {
    "sequential": "Sequential — fair timings (one model at a time)",
    "parallel": "Parallel — all at once (timings affect each other)",
}


def start() -> None:
    """Run's callback: it runs before the page draws, so the page already shows the run."""
    with guard_errors("compare_errors", "Starting the comparison"):
        manager, models = session.config_manager(), session.selected_models()
        session.start_comparison(
            prompt=st.session_state.get("prompt", ""),
            models=models,
            configs={model.id: manager.get(model) for model in models},
            schedule=st.session_state.get("schedule", "sequential"),
            system_prompt=st.session_state.get("system_prompt") or None,
        )


def stop() -> None:
    if session.comparison():
        session.comparison().cancel()


st.title("Compare")

run = session.comparison()
running = run is not None and not run.finished

if not need_selection("compare"):
    names = ", ".join(f"**{model.name}**" for model in session.selected_models())
    st.markdown(f"Models: {names}")
    st.text_area("Prompt", key="prompt", height=120, persist_state="session",
                 placeholder="Type a prompt to send to every selected model…")
    with st.expander("System prompt (optional)", icon=":material/settings_suggest:"):
        st.text_area("System prompt", key="system_prompt", height=80, persist_state="session",
                     placeholder="Used in chat mode; overrides each model's own system prompt setting.")
    schedule_col, run_col, stop_col = st.columns([6, 1, 1], vertical_alignment="bottom")
    schedule_col.radio("Schedule", list(SCHEDULES), format_func=SCHEDULES.get, key="schedule",
                       horizontal=True, persist_state="session",
                       help="Sequential gives each model the whole machine, so timings compare fairly.")
    run_col.button("Run", key="run", type="primary", icon=":material/play_arrow:", width="stretch",
                   disabled=running, on_click=start, help="Send the prompt to every selected model.")
    stop_col.button("Stop", key="stop", icon=":material/stop:", width="stretch", disabled=not running,
                    on_click=stop, help="Stop every model now; what they produced so far is kept and saved.")
    for message in st.session_state.pop("compare_errors", []):
        st.error(message, icon=":material/error:")

if run is not None:
    st.divider()
    excerpt = run.prompt if len(run.prompt) <= 120 else run.prompt[:119] + "…"
    stopped = " · stopped by you" if run.stop_requested else ""
    st.caption(f"Started {run.started_at:%H:%M:%S} · {run.schedule}{stopped} · “{excerpt}”")
    with guard("Showing the comparison"):
        compare_view.draw(run)
    if running and run.finished:
        st.rerun()  # the run just ended: draw the buttons again (Run enabled, Stop disabled)
