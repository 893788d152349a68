"""Models: what was found on disk, and which of them to compare."""

import streamlit as st
from tqdm import tqdm

from llm_compare.core.models import ModelType
from llm_compare.services.discovery import demo_build, other_apps
from llm_compare.ui import endpoint_form, layout, serve_panel, session, settings, tables
from llm_compare.ui.errors import guard, show_error
from llm_compare.ui.text import code, literal

STAT_HELP_HEALTH_LATENCY = (
    "health_latency_ms: time for the endpoint's GET /v1/models to answer, at its last check."
)

layout.page_entry()

st.title("Models")


@st.fragment(run_every=2)
def demo_build_progress(shown: demo_build.DemoBuildStatus) -> None:
    """The build's progress, redrawn every 2 s; the whole page reruns when a model is ready
    (it joins the table) or the build ends."""
    status = demo_build.read_status() or shown
    if status.models_ready != shown.models_ready or status.state != "building":
        st.rerun()
    left = (
        f", about {tqdm.format_interval(status.remaining_s)} left" if status.remaining_s is not None else ""
    )
    st.progress(
        status.fraction,
        text=f"Building the demo models: {literal(status.stage)} · {len(status.models_ready)} of "
        f"{status.models_total or '?'} ready · {tqdm.format_interval(status.elapsed_s)} elapsed{left}",
    )
    st.caption(
        "Each model appears in the table as soon as it is written. Runs made meanwhile share the CPU "
        "with the build, and are marked busy."
    )


build = None
with guard("Reading the demo build's status"):
    build = session.demo_build_status()
    if build is not None and build.state == "building":
        demo_build_progress(build)
    elif build is not None and build.state != "done" and demo_build.demo_needed(build.models_dir):
        why = (
            f"failed: {literal(build.error)}" if build.state == "failed" else "was stopped before it finished"
        )
        st.warning(
            f"The demo build {why} ({len(build.models_ready)} of {build.models_total or '?'} models ready). "
            "`./scripts/start.sh` or `llm-compare demo` finishes it.",
            icon=":material/warning:",
        )

found = []
with guard("Scanning the model directories"):
    found = session.models()
dirs = session.model_dirs()
st.caption("Scanning " + ", ".join(code(d) for d in dirs) + " — headers only, no weights are loaded.")

search_col, backend_col, rescan_col = st.columns([4, 2, 1], vertical_alignment="bottom")
search = search_col.text_input(
    "Search",
    key="model_search",
    placeholder="name, path, architecture, quantization or app (Ollama)",
    icon=":material/search:",
)
backends = backend_col.pills(
    "Backend",
    list(ModelType),
    selection_mode="multi",
    key="backend_filter",
    format_func=lambda t: tables.BACKEND_LABELS[t],
    help="Show only these backends (none: all).",
)
rescan_col.button(
    "Rescan",
    key="rescan",
    icon=":material/refresh:",
    width="stretch",
    on_click=session.rescan_clicked,
    help="Look for new, changed or removed models.",
)
for message in session.pop_messages(session.MODELS_MESSAGES):
    show_error(message)

selected = session.selected_ids()
matching = tables.filter_models(found, search, backends or None)
shown = tables.keep_selected(found, matching, selected)

if not found and build is not None and build.state == "building":
    st.info(
        "No models yet: the demo models are being built. Each appears here when it is ready.",
        icon=":material/info:",
    )
elif not found:
    st.info(
        "No models found yet. See **Where models go** below, or point the dashboard at another directory.",
        icon=":material/info:",
    )
if not shown:
    session.table_not_shown()
    if found:
        st.info("No model matches the search or filter.", icon=":material/filter_alt_off:")
else:
    full = len(selected) >= session.MAX_MODELS
    kept_in_view = len(shown) - len(matching)
    st.caption(
        f"Tick a row to select its model for Compare, Benchmark, Configure and Quality · {len(selected)} of "
        f"up to {session.MAX_MODELS} selected"
        + (" — the limit: unselect one to pick another" if full else "")
        + (
            f" · {kept_in_view} selected model{'s' if kept_in_view != 1 else ''} not matching the search "
            "stay listed, to be unselected"
            if kept_in_view
            else ""
        )
        + "."
    )
    session.show_selection_in_table(shown)
    st.dataframe(
        tables.models_frame(shown),
        hide_index=True,
        key=session.MODELS_TABLE,
        on_select="rerun",
        selection_mode="multi-row",
        placeholder="–",
        column_config={
            "name": st.column_config.TextColumn("Name", width="medium"),
            "backend": "Backend",
            "architecture": "Architecture",
            "parameters": st.column_config.NumberColumn("Parameters", format="compact"),
            "quantization": "Quantization",
            "size": st.column_config.TextColumn("Size", help="Size on disk (KiB, MiB, GiB: powers of 1024)"),
            "context_length": st.column_config.NumberColumn(
                "Context", format="%d", help="Context length in tokens"
            ),
            "chat": st.column_config.CheckboxColumn("Chat", help="Has a chat template", width=50),
            "status": st.column_config.TextColumn("Status", width="large"),
            "health": st.column_config.TextColumn(
                "Health",
                help="HTTP endpoints: healthy when GET /v1/models answered at the last check (each scan)",
            ),
            "health_latency_ms": st.column_config.NumberColumn(
                "Health (ms)", format="%.0f", help=STAT_HELP_HEALTH_LATENCY
            ),
            "path": st.column_config.TextColumn("Path", width="medium"),
        },
    )
    for model in shown:
        if model.error:
            st.warning(
                f"**{literal(model.name)}** cannot be used: {literal(model.error)}", icon=":material/warning:"
            )
    if selected:
        left, right = st.columns([1, 5], vertical_alignment="center")
        left.page_link("pages/configure.py", label="Configure", icon=":material/tune:")
        right.page_link("pages/compare.py", label="Compare", icon=":material/compare_arrows:")

st.divider()
serve_panel.draw(found)
endpoint_form.draw()
with st.expander("Model directories", icon=":material/folder_open:"):
    st.caption(
        "One directory per line; sub-folders are searched too. Saved for the next start "
        f"(`${settings.ENV_MODELS_DIR}`, when set, takes precedence at start-up)."
    )
    if "model_dirs_text" not in st.session_state:
        st.session_state["model_dirs_text"] = "\n".join(dirs)
    st.text_area("Directories", key="model_dirs_text", height=100, label_visibility="collapsed")
    st.button(
        "Apply and rescan",
        key="apply_dirs",
        icon=":material/folder_managed:",
        on_click=session.dirs_applied,
        args=("model_dirs_text",),
    )
    for message in session.pop_messages(session.DIRS_MESSAGES):
        show_error(message)
    for status in tables.dir_summaries(dirs, found):
        st.caption(status)

with st.expander("Other apps' models", icon=":material/apps:"):
    turned_off = other_apps.app_folders_disabled_by_env()
    st.caption(
        "Models that Ollama, LM Studio and the Hugging Face cache keep on this machine, read in place "
        "(Ollama's under their Ollama names). Switch an app off to hide its models, here and in the CLI."
        + (
            f" All are off in this dashboard: `${other_apps.NO_OTHER_APPS_ENV}` is set (`llm-compare ui "
            "--no-other-apps`)."
            if turned_off
            else ""
        )
    )
    present, off = session.present_app_folders(), other_apps.app_folders_off()
    if not present:
        st.caption(
            "None found. Looked in `~/.ollama/models` (or `$OLLAMA_MODELS`), `~/.lmstudio/models`, "
            "`~/.cache/lm-studio/models` and `~/.cache/huggingface/hub` (or `$HF_HOME`, `$HF_HUB_CACHE`)."
        )
    for kind, located in present.items():
        key = session.app_folder_key(kind)
        st.session_state[key] = kind not in off  # the saved setting is the truth; the switch follows it
        count = sum(1 for m in found if m.metadata.app == other_apps.APP_LABELS[kind])
        st.toggle(
            f"{other_apps.APP_LABELS[kind]}: "
            + ", ".join(code(s.path) for s in located)
            + ("" if kind in off or turned_off else f" — {count} model{'s' if count != 1 else ''}"),
            key=key,
            on_change=session.app_folder_toggled,
            args=(kind,),
            disabled=turned_off,
        )

with st.expander("Where models go", icon=":material/help:", expanded=not found):
    st.markdown(
        """
Put models in a models directory (by default `./models`), in any sub-folder layout:

- **Hugging Face folders** (PyTorch backend): a folder with `config.json` and `*.safetensors`
  weights, plus the tokenizer files — as downloaded from the Hub.
- **GGUF files** (llama.cpp backend): `name.gguf`, or a split model `name-00001-of-00003.gguf` …
  with all its parts in one folder.

Models that Ollama, LM Studio or the Hugging Face cache already keep on this machine are listed
too (see **Other apps' models** above).

No models yet? `llm-compare demo` builds a few small demo models into `./models` (offline, a few
minutes). Then press **Rescan**.
"""
    )
