"""The page edge: errors become one line on screen; tracebacks go to the log, never the UI."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

from llm_compare.core.errors import LLMCompareError, one_line
from llm_compare.ui.text import literal

log = logging.getLogger("llm_compare.ui")


@contextmanager
def guard(action: str) -> Iterator[None]:
    """Run a block that calls services: an LLMCompareError shows its message; anything else
    shows one line naming `action` and logs the traceback. The page goes on drawing.

    Streamlit's own rerun / stop signals are BaseExceptions and pass through untouched."""
    try:
        yield
    except LLMCompareError as exc:
        show_error(str(exc))
    except Exception as exc:
        log.exception("%s failed", action)
        show_error(f"{action} failed: {one_line(exc)} (the log has the details)")


def show_error(message: str) -> None:
    """An error box holding `message` as plain text: it may quote a file name, a path or input."""
    st.error(literal(message), icon=":material/error:")


@contextmanager
def guard_errors(state_key: str, action: str) -> Iterator[None]:
    """Like `guard`, for widget callbacks (which cannot draw): the message is kept in
    st.session_state[state_key] (a list) for the page to show with show_error."""
    try:
        yield
    except LLMCompareError as exc:
        st.session_state.setdefault(state_key, []).append(str(exc))
    except Exception as exc:
        log.exception("%s failed", action)
        st.session_state.setdefault(state_key, []).append(
            f"{action} failed: {one_line(exc)} (the log has the details)"
        )
