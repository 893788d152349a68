"""The Models page's "Serve over HTTP" section: one click starts `llm-compare serve` for a local
model and saves it as the endpoint `served-NAME`, so the model can be compared in-process with the
same model behind a server; the served processes are listed with their memory and a Stop button."""

from __future__ import annotations

import streamlit as st

from llm_compare.core.models import ModelInfo
from llm_compare.services.engine.memory import gib
from llm_compare.services.served_models.served import ServedModel
from llm_compare.ui import session, tables
from llm_compare.ui.errors import guard_errors, show_error
from llm_compare.ui.text import code, literal

MESSAGES = "serve_messages"
CHOICE = "serve_choice"
RSS_REFRESH_S = 2


def serve_clicked(models: dict[str, ModelInfo]) -> None:
    with guard_errors(MESSAGES, "Serving the model"):
        model = models[st.session_state[CHOICE]]
        served = session.served_models().serve(
            model, session.config_manager().get(model), session.model_dirs()
        )
        session.rescan()  # its endpoint's model joins the table
        st.toast(f"Serving {model.name} at {served.base_url}.", icon=":material/dns:")


def stop_clicked(name: str) -> None:
    with guard_errors(MESSAGES, "Stopping the server"):
        session.served_models().stop(name)
        session.rescan()
        st.toast(f"Stopped serving {name}.", icon=":material/stop_circle:")


@st.fragment(run_every=RSS_REFRESH_S)
def resident_memory(served: ServedModel) -> None:
    """The server's RSS with its model worker's, read again every few seconds."""
    if served.process.alive:
        st.caption(
            f"{gib(served.rss_bytes())} resident now (the server and its model worker); the memory "
            f"budget counts at least {gib(served.reserved_bytes)}, the model's estimate"
        )
    else:
        st.caption("The server has exited: press Stop serving to remove its endpoint.")


def draw(found: list[ModelInfo]) -> None:
    local = {m.id: m for m in found if not m.is_endpoint and m.usable}
    served = session.served_models().list()
    with st.expander(f"Serve over HTTP ({len(served)})", icon=":material/dns:", expanded=bool(served)):
        st.caption(
            "Starts `llm-compare serve` for a local model on 127.0.0.1 and adds it to the HTTP endpoints as "
            "`served-NAME`: compare the model in-process with the same model behind a server. The server "
            "loads the model a second time, in its own process; that memory counts against the dashboard's "
            "memory budget. Servers stop when the dashboard stops."
        )
        if local:
            pick, start = st.columns([5, 1], vertical_alignment="bottom")
            pick.selectbox(
                "Model to serve", list(local), key=CHOICE, format_func=tables.picker_names(local.values()).get
            )
            start.button(
                "Serve",
                key="serve_start",
                icon=":material/play_arrow:",
                width="stretch",
                on_click=serve_clicked,
                args=(local,),
            )
        else:
            st.caption("No usable local model to serve.")
        for message in session.pop_messages(MESSAGES):
            show_error(message)
        for entry in served:
            info, stop = st.columns([6, 1], vertical_alignment="center")
            with info:
                st.markdown(f"**{literal(entry.endpoint_name)}** {code(entry.base_url)} · pid {entry.pid}")
                st.info(literal(entry.process.notice), icon=":material/content_copy:")
                resident_memory(entry)
            stop.button(
                "Stop serving",
                key=f"serve_stop:{entry.endpoint_name}",
                icon=":material/stop_circle:",
                on_click=stop_clicked,
                args=(entry.endpoint_name,),
            )
