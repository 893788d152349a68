"""Draws a comparison: one column per model, streamed live while it runs, kept afterwards."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pandas as pd
import streamlit as st

from llm_compare.core.errors import LLMCompareError
from llm_compare.core.formatting import stats_line
from llm_compare.core.results import STAT_HELP, FinishReason
from llm_compare.services.engine.comparison import Comparison, ModelRun
from llm_compare.services.engine.summary import best_by_figure
from llm_compare.ui import session
from llm_compare.ui.errors import guard_errors, show_error
from llm_compare.ui.layout import model_badges
from llm_compare.ui.text import blocks, literal

# Drawing streamed text costs the browser CPU that the models share: redrawing every 0.1 s, the
# (headless) browser took 18-32 % of 2 cores during runs, every 0.5 s 11-19 %.
REDRAW_INTERVAL_S = 0.5
OUTPUT_HEIGHT_PX = 360
FINISH_BADGES = {
    FinishReason.STOP: ("stop", "green", ":material/check_circle:"),
    FinishReason.LENGTH: ("length", "blue", ":material/straighten:"),
    FinishReason.CANCELLED: ("cancelled", "orange", ":material/stop_circle:"),
    FinishReason.ERROR: ("error", "red", ":material/error:"),
}


# Widget keys of the Compare page's form (stable: the browser tests find them by these).
PROMPT_KEY, SYSTEM_PROMPT_KEY, SCHEDULE_KEY, BLIND_KEY = "prompt", "system_prompt", "schedule", "blind"
VOTE_KEY, RANK_KEY_PREFIX = "blind_vote", "rank:"
ERRORS_KEY = "compare_errors"
VOTE_LABELS = {"a": "A is better", "b": "B is better", "tie": "Tie", "both_bad": "Both bad"}


def start_from_form() -> None:
    """The Run button's callback: it runs before the page draws, so the page shows the run
    straight away (Run disabled, Stop enabled). Errors wait in ERRORS_KEY for the page."""
    with guard_errors(ERRORS_KEY, "Starting the comparison"):
        manager, models = session.config_manager(), session.selected_models()
        session.start_comparison(
            prompt=st.session_state.get(PROMPT_KEY, ""),
            models=models,
            configs={model.id: manager.get(model) for model in models},
            schedule=st.session_state.get(SCHEDULE_KEY, "sequential"),
            system_prompt=st.session_state.get(SYSTEM_PROMPT_KEY) or None,
            blind=bool(st.session_state.get(BLIND_KEY)),
        )


def vote_clicked() -> None:
    """The Vote button's callback: the pair's outcome, or the ranks of several answers."""
    with guard_errors(ERRORS_KEY, "Storing the vote"):
        run = session.comparison()
        if len(run.blind_order) == 2:
            outcome = st.session_state.get(VOTE_KEY)
            if outcome is None:
                raise LLMCompareError("choose A is better, B is better, tie or both bad first")
            run.vote_pair(outcome)
        else:
            ranks = {label: st.session_state.get(RANK_KEY_PREFIX + label) for label in run.labels.values()}
            if any(rank is None for rank in ranks.values()):
                raise LLMCompareError("give every answer a rank first")
            run.vote_ranking({label: int(rank) for label, rank in ranks.items()})


def reveal_clicked() -> None:
    with guard_errors(ERRORS_KEY, "Revealing the models"):
        session.comparison().reveal()


def stop_current() -> None:
    """The Stop button's callback."""
    run = session.comparison()
    if run is not None:
        run.cancel()


@dataclass
class _Column:
    status: st.delta_generator.DeltaGenerator
    output: st.delta_generator.DeltaGenerator
    footer: st.delta_generator.DeltaGenerator
    drawn: tuple = ()


def draw(run: Comparison) -> None:
    """Draw `run`; while it is going, keep redrawing until it ends. Streamlit may interrupt
    this at any redraw (Stop, a page switch): the run itself goes on in its thread."""
    if run.error:
        show_error(run.error)
        if run.finished and not run.results():
            return  # nothing ran (e.g. another comparison was still going)
    if not run.revealed:
        _draw_blind(run)
        return
    snapshot = _in_column_order(run, run.snapshot())
    # While the answers stream, each box follows its end; once the run is over (the page reruns
    # when it ends), a box under a new key starts over at the top, where the answer begins.
    following = not run.finished
    columns = {}
    for model_run, column in zip(snapshot, st.columns(len(snapshot), border=True)):
        with column:
            label = f"{run.labels[model_run.model.id]} · " if run.blind else ""
            st.markdown(f"#### {label}{literal(model_run.model.name)}")
            st.markdown(model_badges(model_run.model))
            columns[model_run.model.id] = _Column(
                st.empty(),
                st.container(
                    height=OUTPUT_HEIGHT_PX,
                    border=False,
                    autoscroll=following,
                    key=f"answer_{'live' if following else 'done'}_{model_run.model.id}",
                ).empty(),
                st.empty(),
            )
    summary = st.empty()
    while True:
        finished = run.finished  # read before the snapshot, so the last one drawn is final
        for model_run in run.snapshot():
            _draw_column(columns[model_run.model.id], model_run, finished)
        if finished:
            break
        time.sleep(REDRAW_INTERVAL_S)
        # Reading session state is one of Streamlit's yield points: a Stop click or page switch
        # interrupts the script here at once, even while no column has anything new to draw.
        _ = "comparison" in st.session_state
    with summary.container():
        if run.votes:
            st.caption(f":material/how_to_vote: Your vote: {literal(_vote_words(run))}")
        _summary_table(_in_column_order(run, run.snapshot()))


def _in_column_order(run: Comparison, runs: list[ModelRun]) -> list[ModelRun]:
    """A blind comparison keeps its random order after the vote, so each answer stays where it was."""
    return sorted(runs, key=lambda r: run.blind_order.index(r.model.id)) if run.blind else runs


def _vote_words(run: Comparison) -> str:
    names = {mid: r.model.name for mid, r in run.runs.items()}
    words = []
    for vote in run.votes:
        a, b = names[vote.model_a], names[vote.model_b]
        words.append(
            {
                "a": f"{a} over {b}",
                "b": f"{b} over {a}",
                "tie": f"{a} tie {b}",
                "both_bad": f"{a} and {b} both bad",
            }[vote.outcome]
        )
    return "; ".join(words)


def _draw_blind(run: Comparison) -> None:
    """A blind comparison before the vote: nothing until every model has finished, then the
    answers alone under their labels, in random order, and the vote."""
    if not run.finished:
        _wait_for_every_answer(run)
        return
    by_id = {r.model.id: r for r in run.snapshot()}
    for model_id, column in zip(run.blind_order, st.columns(len(run.blind_order), border=True)):
        answer = by_id[model_id]
        with column:
            st.markdown(f"#### {run.labels[model_id]}")
            with st.container(height=OUTPUT_HEIGHT_PX, border=False, autoscroll=False):
                _draw_output(st.empty(), answer)
            if answer.result and answer.result.error:
                st.caption(":material/error: This answer failed; the reason shows after your vote.")
    _vote_form(run)


@st.fragment(run_every=REDRAW_INTERVAL_S)
def _wait_for_every_answer(run: Comparison) -> None:
    """Polled as a fragment, so that the page's own run ends at once: Streamlit clears what the
    previous run drew (the sidebar's model names) only when a run ends, and a page waiting in a
    loop would leave them on screen for the whole comparison."""
    if run.finished:
        st.rerun()  # the whole page: the answers and the vote
    done = sum(1 for r in run.snapshot() if r.status == "done")
    st.info(
        f"Blind comparison: {done} of {len(run.runs)} answers ready. They appear together, in a random "
        "order, when every model has finished; names and figures show after your vote.",
        icon=":material/visibility_off:",
    )


def _vote_form(run: Comparison) -> None:
    labels = list(run.labels.values())
    if len(labels) == 2:
        st.radio(
            "Which answer is better?",
            list(VOTE_LABELS),
            format_func=VOTE_LABELS.get,
            key=VOTE_KEY,
            index=None,
            horizontal=True,
            help="A tie and both bad count half a win each way in the ratings.",
        )
    else:
        st.markdown("**Rank the answers** (1 is best; give equal ranks for a tie)")
        for label, column in zip(labels, st.columns(len(labels))):
            # Empty at first: a preset order would be recorded by a quick click on Vote.
            column.selectbox(
                label,
                range(1, len(labels) + 1),
                index=None,
                placeholder="Rank…",
                key=RANK_KEY_PREFIX + label,
            )
    vote_col, reveal_col, _ = st.columns([1, 2, 5])
    vote_col.button(
        "Vote",
        key="vote",
        type="primary",
        icon=":material/how_to_vote:",
        width="stretch",
        on_click=vote_clicked,
    )
    reveal_col.button(
        "Reveal without voting",
        key="reveal",
        icon=":material/visibility:",
        on_click=reveal_clicked,
        help="Show the names and figures; no vote is stored.",
    )


def _draw_column(column: _Column, run: ModelRun, finished: bool) -> None:
    elapsed = time.monotonic() - run.status_since
    # Redraw only what changed; the elapsed-time label is refreshed about twice a second.
    key = (
        run.version,
        run.status,
        finished,
        int(elapsed * 2) if run.status in ("loading", "generating", "stopping") else 0,
    )
    if key == column.drawn:
        return
    if key[:2] != column.drawn[:2]:
        _draw_output(column.output, run)
        _draw_footer(column.footer, run)
    _draw_status(column.status, run, elapsed, finished)
    column.drawn = key


def _draw_status(slot, run: ModelRun, elapsed: float, finished: bool) -> None:
    if run.status != "done" and finished:
        slot.caption(":material/block: Did not run")
    elif run.status == "queued":
        slot.caption(":material/schedule: Queued")
    elif run.status == "loading":
        slot.caption(f":material/progress_activity: Loading… {elapsed:.1f} s")
    elif run.status == "generating":
        slot.caption(f":material/progress_activity: Generating… {run.completion_tokens} tokens")
    elif run.status == "stopping":
        slot.caption(f":material/stop_circle: Stopping… {elapsed:.1f} s (waiting for the model to confirm)")
    else:
        label, color, icon = FINISH_BADGES[run.result.finish_reason]
        slot.badge(label, icon=icon, color=color, help=STAT_HELP["finish_reason"])


def _draw_output(slot, run: ModelRun) -> None:
    text = run.text
    if text:
        _draw_answer(slot, text)
    elif run.status == "done":
        slot.caption("(no text)")
    else:
        slot.empty()


def _draw_answer(slot, text: str) -> None:
    """An answer as the model wrote it: code between ``` fences in monospace, the rest as plain
    text (never Markdown: a model's `*` or `$` is shown, not rendered)."""
    parts = blocks(text)
    if len(parts) == 1 and not parts[0].is_code:
        slot.text(parts[0].text)
        return
    with slot.container():
        for part in parts:
            if part.is_code:
                st.code(part.text, language=part.language, wrap_lines=True)
            else:
                st.text(part.text)


def _draw_footer(slot, run: ModelRun) -> None:
    if run.status != "done":
        slot.empty()
        return
    result = run.result
    with slot.container():
        if result.error:
            show_error(result.error)
        st.caption(literal(stats_line(result.stats, result.device, run.config.asks_for_gpu)))
        if run.save_note:
            st.warning(literal(run.save_note), icon=":material/warning:")
        if run.unsaved_record:  # not even the pending file took it: the user can still copy it
            with st.expander("This run's record, to keep by hand"):
                st.code(run.unsaved_record, language="json", wrap_lines=True)
        changed = _changed_ignored_settings(run)
        if changed:
            st.caption(
                ":orange[Ignored by this backend: "
                + literal("; ".join(f"{name} ({why})" for name, why in changed.items()))
                + "]"
            )


def _changed_ignored_settings(run: ModelRun) -> dict[str, str]:
    """The settings the backend ignored that the user changed from the model's defaults (the
    engine also reports defaults that differ from ModelConfig's, like n_ctx from the model)."""
    if not run.result.ignored_settings:
        return {}
    defaults = session.config_manager().defaults_for(run.model)
    return {
        name: why
        for name, why in run.result.ignored_settings.items()
        if getattr(run.config, name, None) != getattr(defaults, name, None)
    }


SUMMARY_COLUMNS = {  # column: (label, format, help, the figure it shows)
    "ttft_ms": ("TTFT (ms)", "{:.0f}", STAT_HELP["ttft_s"], "ttft_s"),
    "decode_tps": ("Decode tok/s", "{:.1f}", STAT_HELP["decode_tps"], "decode_tps"),
    "prefill_tps": ("Prefill tok/s", "{:.0f}", STAT_HELP["prefill_tps"], "prefill_tps"),
    "completion_tokens": ("Tokens", "{:.0f}", STAT_HELP["completion_tokens"], "completion_tokens"),
    "e2e_s": ("E2E (s)", "{:.2f}", STAT_HELP["e2e_s"], "e2e_s"),
    "peak_rss_mib": ("Peak RSS (MiB)", "{:.0f}", STAT_HELP["peak_rss_bytes"], "peak_rss_bytes"),
    "load_s": ("Load (s)", "{:.2f}", STAT_HELP["load_s"], "load_s"),
    "other_cpu_pct": ("Other CPU (%)", "{:.0f}", STAT_HELP["other_cpu_share"], "other_cpu_share"),
    "peak_file_mib": ("Mapped file (MiB)", "{:.0f}", STAT_HELP["peak_file_bytes"], "peak_file_bytes"),
    "peak_vram_mib": ("GPU memory (MiB)", "{:.0f}", STAT_HELP["peak_vram_bytes"], "peak_vram_bytes"),
    "energy_j": ("Energy (J)", "{:.3g}", STAT_HELP["energy_j"], "energy_j"),
    "j_per_token": ("J/token", "{:.3g}", STAT_HELP["j_per_token"], "j_per_token"),
}
# Shown only when some run measured them: a CPU-only machine has no GPU memory nor, often, an
# energy counter, and a column of dashes says nothing.
MEASURED_ONLY = ("peak_file_mib", "peak_vram_mib", "energy_j", "j_per_token", "device")
BEST_STYLE = "background-color: #dcfce7; font-weight: 600"
BUSY_STYLE = "color: #b45309"


def _summary_table(runs: list[ModelRun]) -> None:
    finished = [run for run in runs if run.result]
    if not finished:
        return
    frame = pd.DataFrame([_summary_row(run.model.name, run.result) for run in finished])
    for column in SUMMARY_COLUMNS:
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    frame = frame.drop(columns=[c for c in MEASURED_ONLY if frame[c].isna().all()])
    best = best_by_figure({run.model.id: run.result for run in finished})
    marks = pd.DataFrame("", index=frame.index, columns=frame.columns)
    for column, (*_, figure) in SUMMARY_COLUMNS.items():
        if column not in frame:
            continue
        for i, run in enumerate(finished):
            if run.model.id in best.get(figure, ()):
                marks.loc[i, column] = BEST_STYLE
    marks.loc[frame["busy"] == "busy", "busy"] = BUSY_STYLE
    styled = frame.style.format(
        {name: spec[1] for name, spec in SUMMARY_COLUMNS.items() if name in frame}, na_rep="–"
    )
    styled = styled.apply(lambda _: marks, axis=None)
    config = {name: st.column_config.Column(spec[0], help=spec[2]) for name, spec in SUMMARY_COLUMNS.items()}
    config["model"] = st.column_config.TextColumn("Model")
    config["finish_reason"] = st.column_config.TextColumn("Finish", help=STAT_HELP["finish_reason"])
    config["busy"] = st.column_config.TextColumn("Machine", help=STAT_HELP["busy"])
    config["device"] = st.column_config.TextColumn("Ran on", help="What the model ran on.")
    st.dataframe(styled, hide_index=True, column_config=config, key="comparison_summary")
    notes = []
    if best:
        notes.append("Green: the best figure of each column among the runs that finished (stop or length).")
    if (frame["busy"] == "busy").any():
        notes.append("Busy: other programs used the CPU during that run; its timings are not comparable.")
    st.caption(" ".join(notes + ["Hover a column header for what it measures."]))


def _summary_row(name: str, result) -> dict:
    stats = result.stats

    def scaled(value, factor):
        return value * factor if value is not None else None

    return {
        "model": name,
        "ttft_ms": scaled(stats.ttft_s, 1000),
        "decode_tps": stats.decode_tps,
        "prefill_tps": stats.prefill_tps,
        "completion_tokens": stats.completion_tokens,
        "e2e_s": stats.e2e_s,
        "peak_rss_mib": scaled(stats.peak_rss_bytes, 2**-20),
        "load_s": stats.load_s,
        "finish_reason": stats.finish_reason.value if stats.finish_reason else None,
        "other_cpu_pct": scaled(stats.other_cpu_share, 100),
        "busy": {True: "busy", False: "quiet"}.get(stats.busy, "–"),
        "peak_file_mib": scaled(stats.peak_file_bytes, 2**-20),
        "peak_vram_mib": scaled(stats.peak_vram_bytes, 2**-20),
        "energy_j": stats.energy_j,
        "j_per_token": stats.j_per_token,
        "device": result.device,
    }
