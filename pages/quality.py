"""Quality: models scored on a text (bits per byte, perplexity) and measured against a reference."""

import streamlit as st

from llm_compare.services.quality.scoring import DEFAULT_CTX
from llm_compare.ui import job_view, layout, quality_view, session
from llm_compare.ui.errors import show_error
from llm_compare.ui.text import literal

layout.page_entry()

st.title("Quality")
st.caption(
    "How well each model predicts a text it has not seen, and how far it strays from a reference model."
)

scoring = quality_view.current()
running = scoring is not None and not scoring.finished
names = quality_view.model_names()

models_col, reference_col = st.columns([3, 2])
with models_col:
    selected = session.selected_models()
    st.markdown("**Models to score** (the selection)")
    if selected and session.names_hidden():  # a blind comparison not voted on yet
        st.markdown(f"{len(selected)} models, hidden until you vote")
    elif selected:
        st.markdown(", ".join(f"**{literal(m.name)}**" for m in selected))
    else:
        st.caption("None selected yet: tick them in the Models page's table.")
        st.page_link("pages/models.py", label="Go to Models", icon=":material/dataset:")
reference_col.selectbox(
    "Reference",
    [quality_view.NO_REFERENCE, *names],
    format_func=lambda i: names.get(i, "none"),
    key=quality_view.REFERENCE_KEY,
    help=(
        "KL divergence, top-1 agreement and Δp of each model sharing its vocabulary are measured against it."
    ),
)
text_col, ctx_col = st.columns([3, 2])
with text_col:
    choice = st.radio(
        "Text",
        list(quality_view.TEXTS),
        format_func=quality_view.TEXTS.get,
        key=quality_view.TEXT_KEY,
        horizontal=True,
    )
    if choice == "upload":
        st.file_uploader(
            "Text file (UTF-8)", key=quality_view.UPLOAD_KEY, help="At least 2 chunks of the context."
        )
ctx_col.number_input(
    "Context (tokens per chunk)",
    16,
    32768,
    DEFAULT_CTX,
    key=quality_view.CTX_KEY,
    help=(
        "Each chunk is evaluated from an empty context; its second half is scored (as llama-perplexity does)."
    ),
)
job_view.run_and_stop_buttons(
    "Score",
    ("q_score", "q_stop"),
    running,
    quality_view.start_from_form,
    quality_view.stop_current,
    "Stop within a chunk; models not started yet are skipped.",
)
for message in st.session_state.pop(quality_view.ERRORS_KEY, []):
    show_error(message)

if scoring is not None:
    st.divider()
    job_view.draw_live(
        scoring, running, "Showing the scores", quality_view.draw_progress, quality_view.draw_table
    )
