"""Draws the leaderboard of blind votes: ratings with intervals, counts, the win-rate matrix and
the votes as CSV."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from llm_compare.services.quality.votes import MIN_VOTES, PairVote, Rating, leaderboard, votes_csv
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
    about_col, download_col = st.columns([3, 1], vertical_alignment="bottom")
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
        f"(fixed seed). A model with fewer than {MIN_VOTES} pairs voted shows no rating yet."
    )
    # Rated models first, best first; then those without enough votes, by name.
    shown = sorted(board.ratings, key=lambda r: (not r.enough_votes, r.name if not r.enough_votes else ""))
    ratings = pd.DataFrame([_rating_row(r) for r in shown])
    st.dataframe(
        ratings,
        hide_index=True,
        key="leaderboard",
        placeholder="–",
        column_config={
            "model": st.column_config.TextColumn("Model"),
            "rating": st.column_config.NumberColumn(
                "Rating", format="%.0f", help="Elo scale: 400 points is 10-to-1 odds"
            ),
            "low": st.column_config.NumberColumn("95 % low", format="%.0f"),
            "high": st.column_config.NumberColumn("95 % high", format="%.0f"),
            "comparisons": st.column_config.NumberColumn("Pairs voted", format="%d"),
            "wins": st.column_config.NumberColumn("Wins", format="%.1f", help="Ties and both bad count half"),
            "note": st.column_config.TextColumn("Note", width="medium"),
        },
    )
    order = [r.model_id for r in shown]
    names = [r.name for r in shown]
    matrix = pd.DataFrame(
        [[board.win_rate.get((a, b)) for b in order] for a in order], index=names, columns=names, dtype=float
    )
    st.markdown("**Win rate** (row against column: its share of the points, ties half)")
    st.dataframe(matrix.style.format("{:.0%}", na_rep="–"), key="win_rate")


def _rating_row(rating: Rating) -> dict:
    """A leaderboard row; below MIN_VOTES pairs, no rating or interval but a note saying why."""
    enough = rating.enough_votes
    return {
        "model": rating.name,
        "rating": rating.rating if enough else None,
        "low": rating.interval.low if enough else None,
        "high": rating.interval.high if enough else None,
        "comparisons": rating.comparisons,
        "wins": rating.wins,
        "note": None if enough else f"not enough votes ({rating.comparisons} of {MIN_VOTES} pairs)",
    }
