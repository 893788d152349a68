"""The Quality page's glue: the scoring form's keys and callbacks, progress and the scores table."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from llm_compare.core.errors import ConfigurationError
from llm_compare.core.formatting import EMPTY
from llm_compare.services.job_slot import JobSlot
from llm_compare.services.quality.report import COLUMNS, REFERENCE_FIGURES, table_notes, table_rows
from llm_compare.services.quality.scores import save_scores
from llm_compare.services.quality.scoring import DEFAULT_CTX, Scoring
from llm_compare.services.quality.texts import builtin_text, text_from_bytes
from llm_compare.services.store.run_store import RunStore
from llm_compare.ui import session, tables
from llm_compare.ui.errors import guard_errors, show_error
from llm_compare.ui.text import literal

REFERENCE_KEY, TEXT_KEY, UPLOAD_KEY, CTX_KEY = (
    "q_reference",
    "q_text",
    "q_upload",
    "q_ctx",
)
ERRORS_KEY = "q_errors"
NO_REFERENCE = ""
TEXTS = {
    "builtin:prose": "English prose (built in)",
    "builtin:code": "Python code (built in)",
    "upload": "Upload a text file",
}


@st.cache_resource(show_spinner=False)
def _scorings() -> JobSlot[Scoring]:
    """The dashboard process's scoring: it keeps running when its tab closes."""
    return JobSlot("scoring")


def current() -> Scoring | None:
    return _scorings().current


def model_names() -> dict[str, str]:
    """Usable models by id, for the reference picker."""
    return tables.picker_names(m for m in session.models() if m.usable)


def start_from_form() -> None:
    with guard_errors(ERRORS_KEY, "Starting the scoring"):
        _scorings().check_free()
        by_id = {m.id: m for m in session.models()}
        models = session.selected_models()  # the one selection, made on the Models page
        reference_id = st.session_state.get(REFERENCE_KEY) or NO_REFERENCE
        reference = by_id.get(reference_id)
        choice = st.session_state.get(TEXT_KEY, "builtin:prose")
        if choice == "upload":
            upload = st.session_state.get(UPLOAD_KEY)
            if upload is None:
                raise ConfigurationError("no text file uploaded: choose a file, or a built-in text")
            text = text_from_bytes(upload.name, upload.getvalue())
        else:
            text = builtin_text(choice.removeprefix("builtin:"))
        saved = session.config_manager().load_many([*models, *([reference] if reference else [])])
        store = RunStore()
        scoring = Scoring(
            session.engine(),
            models,
            text,
            reference=reference,
            n_ctx=int(st.session_state.get(CTX_KEY) or DEFAULT_CTX),
            configs=saved.configs,
        )
        _scorings().start(scoring, on_done=lambda results: save_scores(store, results))


def stop_current() -> None:
    scoring = current()
    if scoring is not None:
        scoring.stop()


def draw_progress(scoring: Scoring) -> None:
    for model in scoring.models:
        event = scoring.progress.get(model.id)
        name = literal(model.name)
        if event is None:
            state = "stopped" if scoring.finished or scoring.stop_requested else "waiting"
            st.caption(f"{name}: {state}")
        elif event.kind == "loading":
            st.caption(f"{name}: loading…")
        elif event.kind == "scoring":
            st.progress(
                event.done_chunks / max(1, event.total_chunks),
                text=f"{name}: chunk {event.done_chunks} of {event.total_chunks}",
            )
        else:
            st.caption(f"{name}: {event.result.status}")
    if scoring.error:
        show_error(scoring.error)


def draw_table(scoring: Scoring) -> None:
    if not scoring.results:
        return
    frame = pd.DataFrame(table_rows(scoring.results))
    # Two tables that each fit the page, rather than one that scrolls sideways: each model's own
    # figures on the text, then (where a reference was scored) its figures against the reference.
    against = [heading for heading, figure, *_ in COLUMNS if figure in REFERENCE_FIGURES]
    _fitted_table(frame.drop(columns=against))
    if (frame[against] != EMPTY).any().any():
        st.markdown("**Against the reference**")
        _fitted_table(frame[["model", *against]])
    for note in table_notes(scoring.results):
        st.caption(literal(note))


def _fitted_table(frame: pd.DataFrame) -> None:
    widths = tables.fitted_widths(frame)
    st.dataframe(
        frame,
        hide_index=True,
        width="content",  # the fitted widths, not stretched past the page's edge
        placeholder=EMPTY,
        column_config={column: st.column_config.TextColumn(width=w) for column, w in widths.items()},
    )
