"""A background job drawn live: redrawn every second while it runs, the whole page once it ends."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import streamlit as st

from llm_compare.services.background import BackgroundJob
from llm_compare.ui.errors import guard

Job = TypeVar("Job", bound=BackgroundJob)


def draw_live(job: Job, running: bool, action: str, *draws: Callable[[Job], None]) -> None:
    """Draw `job` with each of `draws` under `guard(action)`. `running` is what the page's
    buttons were drawn with: when it was True and the job has ended since, the whole page runs
    again so they follow (Run enabled, Stop disabled)."""

    @st.fragment(run_every=1.0 if running else None)
    def live() -> None:
        with guard(action):
            for draw in draws:
                draw(job)
        if running and job.finished:
            st.rerun()

    live()


def run_and_stop_buttons(
    label: str,
    keys: tuple[str, str],
    running: bool,
    start: Callable[[], None],
    stop: Callable[[], None],
    stop_help: str,
) -> None:
    """A job page's two buttons side by side: `label` starts the job, Stop stops it, each enabled
    only when it can act. `keys`: the two buttons' widget keys."""
    run_col, stop_col, _ = st.columns([1, 1, 6])
    run_col.button(
        label,
        key=keys[0],
        type="primary",
        icon=":material/play_arrow:",
        width="stretch",
        disabled=running,
        on_click=start,
    )
    stop_col.button(
        "Stop",
        key=keys[1],
        icon=":material/stop:",
        width="stretch",
        disabled=not running,
        on_click=stop,
        help=stop_help,
    )
