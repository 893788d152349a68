"""Leaderboard: ratings from blind votes, and the frontier of quality against speed and memory."""

import streamlit as st

from llm_compare.ui import frontier_view, layout, session, votes_view
from llm_compare.ui.errors import guard

layout.page_entry()

st.title("Leaderboard")
with guard("Drawing the leaderboard"):
    votes_view.draw_leaderboard()

st.subheader("Frontier")
session.include_busy_toggle("leaderboard_include_busy")
with guard("Drawing the frontier"):
    frontier_view.draw_section()
