"""Draws the leaderboard of blind votes: ratings with intervals, counts, the win-rate matrix and
the votes as CSV."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from llm_compare.services.quality.votes import PairVote, leaderboard, votes_csv
from llm_compare.services.store.run_store import RunStore


def draw_leaderboard() -> None:
    votes = [PairVote(**row) for row in RunStore().votes()]
    if not votes:
        st.info(
            "No votes yet: turn on Blind on the Compare page, run a prompt and vote on the answers.",
            icon=":material/how_to_vote:",
        )
        st.page_link("pages/compare.py", label="Go to Compare", icon=":material/compare_arrows:")
        return
    board = leaderboard(votes)
    about_col, download_col = st.columns([5, 1], vertical_alignment="bottom")
    download_col.download_button(
        "Download votes CSV",
        data=votes_csv(votes),
        file_name="llm-compare-votes.csv",
        mime="text/csv",
        key="download_votes",
        icon=":material/download:",
        on_click="ignore",
        width="stretch",
        help=(
            "One row per pairwise outcome: the models' names and ids, the outcome, the ballot and comparison."
        ),
    )
    about_col.caption(
        f"{board.ballots} vote{'s' if board.ballots != 1 else ''} ({board.pair_votes} pairwise outcomes; a "
        "ranking of k answers counts as its k·(k−1)/2 pairs). Bradley-Terry ratings on the Elo scale, mean "
        "1000; a tie and “both bad” count half a win each way; 95 % intervals from resampling the votes "
        "(fixed seed)."
    )
    ratings = pd.DataFrame(
        [
            {
                "model": r.name,
                "rating": r.rating,
                "low": r.interval.low,
                "high": r.interval.high,
                "comparisons": r.comparisons,
                "wins": r.wins,
            }
            for r in board.ratings
        ]
    )
    st.dataframe(
        ratings,
        hide_index=True,
        key="leaderboard",
        column_config={
            "model": st.column_config.TextColumn("Model"),
            "rating": st.column_config.NumberColumn(
                "Rating", format="%.0f", help="Elo scale: 400 points is 10-to-1 odds"
            ),
            "low": st.column_config.NumberColumn("95 % low", format="%.0f"),
            "high": st.column_config.NumberColumn("95 % high", format="%.0f"),
            "comparisons": st.column_config.NumberColumn("Pairs voted", format="%d"),
            "wins": st.column_config.NumberColumn("Wins", format="%.1f", help="Ties and both bad count half"),
        },
    )
    order = [r.model_id for r in board.ratings]
    names = [r.name for r in board.ratings]
    matrix = pd.DataFrame(
        [[board.win_rate.get((a, b)) for b in order] for a in order], index=names, columns=names, dtype=float
    )
    st.markdown("**Win rate** (row against column: its share of the points, ties half)")
    st.dataframe(matrix.style.format("{:.0%}", na_rep="–"), key="win_rate")
