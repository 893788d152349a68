"""Pieces every page shares: the sidebar, model badges, the 'nothing selected' hint."""

from __future__ import annotations

import streamlit as st

from llm_compare.core.formatting import human_bytes, human_count, memory_with_file_part
from llm_compare.core.models import ModelInfo, ModelType
from llm_compare.services.engine.memory import process_file_bytes
from llm_compare.ui import session
from llm_compare.ui.host_check import stop_unless_allowed_host
from llm_compare.ui.text import literal

BACKEND_BADGE = {
    ModelType.PYTORCH: ("PyTorch", "orange"),
    ModelType.GGUF: ("GGUF", "blue"),
    ModelType.OPENAI: ("HTTP endpoint", "violet"),
}


def page_entry() -> None:
    """The first call of every page. While no session of this process has called
    st.navigation yet, Streamlit treats the pages/ folder next to app.py as an old-style
    multipage app: a first visit straight to /compare (a bookmark, a restored tab) would run
    that page alone, without app.py's navigation and setup. Then switch to app.py's
    navigation and start the run over.

    Before that, the host check: a page opened directly runs without app.py."""
    stop_unless_allowed_host()
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


def sidebar() -> None:
    # A tick in the Models table since the last run, taken before the sidebar lists the selection.
    session.take_table_selection()
    with st.sidebar:
        selected = session.selected_models()
        st.caption(f"SELECTED FOR COMPARISON · {len(selected)}/{session.MAX_MODELS}")
        if session.names_hidden():
            st.caption(":material/visibility_off: Hidden until you vote on the blind comparison.")
            return  # the loaded models too: their names would tell which answer is whose
        if selected:
            for model in selected:
                label, color = BACKEND_BADGE[model.type]
                st.markdown(f"**{literal(model.name)}** :{color}-badge[{label}]")
        else:
            st.caption("None yet: pick models on the Models page.")
        _loaded_models()


def _loaded_models() -> None:
    engine = session.engine()
    # The engine's own workers as the memory budget counts them (a worker that has exited reads 0).
    loaded = [c for c in engine.memory_in_use() if not c.external and c.rss_bytes]
    if not loaded:
        return
    st.caption("LOADED (WARM) MODELS")
    for worker in loaded:
        resident = memory_with_file_part(worker.rss_bytes, process_file_bytes(worker.pid))
        st.markdown(f"{literal(worker.label)} · {literal(resident)}")
    st.button(
        "Unload all",
        key="unload_all",
        icon=":material/eject:",
        disabled=engine.busy,  # a comparison (from any tab) is using them
        on_click=session.unload_all_clicked,
        help="Stop the worker processes that keep models loaded, freeing their memory.",
    )


def model_badges(model: ModelInfo) -> str:
    """One markdown line: backend, architecture, parameters, quantization, size, context."""
    label, color = BACKEND_BADGE[model.type]
    meta = model.metadata
    parts = [f":{color}-badge[{label}]"]
    details = [
        meta.architecture,
        meta.parameters and f"{human_count(meta.parameters)} params",
        meta.quantization,
        None if model.is_endpoint else human_bytes(model.size_bytes),  # its files are the server's
        meta.context_length and f"ctx {meta.context_length}",
        "chat template" if meta.has_chat_template else "no chat template",
    ]
    parts.extend(f":gray-badge[{literal(d)}]" for d in details if d)  # architecture etc. come from the file
    return " ".join(parts)


def need_selection(what: str) -> bool:
    """When nothing is selected: say so, link to the Models page, and return True."""
    if session.selected_models():
        return False
    st.info(f"Select the models to {what} on the Models page first.", icon=":material/info:")
    st.page_link("pages/models.py", label="Go to Models", icon=":material/dataset:")
    return True
