"""What the pages share: the engine (one per dashboard process), and per browser session the
model directories, the discovered models, the selection and the last comparison."""

from __future__ import annotations

import logging
from collections.abc import Callable

import streamlit as st

from llm_compare.core.errors import ConfigurationError
from llm_compare.core.models import ModelInfo
from llm_compare.services.bench.jobs import BenchmarkJobs
from llm_compare.services.bench.runner import BenchmarkRunner, BenchmarkSpec
from llm_compare.services.discovery import demo_build, other_apps
from llm_compare.services.discovery.config_manager import ConfigManager
from llm_compare.services.discovery.model_manager import ModelManager
from llm_compare.services.engine.comparison import Comparison
from llm_compare.services.engine.engine import InferenceEngine
from llm_compare.services.engine.restored import RestoredComparison, last_comparison
from llm_compare.services.served_models.served import ServedModels
from llm_compare.services.store.run_store import RunStore
from llm_compare.ui import settings
from llm_compare.ui.errors import guard_errors

MAX_MODELS = 4  # models compared at once; the engine and the selection share this limit

_DIRS = "model_dirs"
_MANAGER = "model_manager"
_SELECTED = "selected_model_ids"
_COMPARISON = "comparison"
_SESSION_COMPARISONS = "session_comparison_ids"
_DEMO_READY_SEEN = "demo_models_seen"
_RESTORE_TRIED = "comparison_restore_tried"

log = logging.getLogger(__name__)


@st.cache_resource(show_spinner=False)
def engine() -> InferenceEngine:
    """One engine for the whole dashboard: it keeps models warm in worker processes across
    reruns and sessions, and runs one comparison at a time."""
    return InferenceEngine(max_models=MAX_MODELS)


@st.cache_resource(show_spinner=False)
def served_models() -> ServedModels:
    """The models this dashboard serves over HTTP, for every tab: their servers' memory counts in
    the engine's budget, and they stop when the dashboard does."""
    return ServedModels(engine())


def config_manager() -> ConfigManager:
    return ConfigManager()  # cheap: it only knows a directory


# --- models ---------------------------------------------------------------------------------


def model_dirs() -> list[str]:
    if _DIRS not in st.session_state:
        st.session_state[_DIRS] = settings.initial_model_dirs()
    return list(st.session_state[_DIRS])


def set_model_dirs(dirs: list[str]) -> None:
    """Use `dirs` from now on (and at the next start); rescans."""
    st.session_state[_DIRS] = list(dirs)
    settings.save_model_dirs(dirs)
    st.session_state.pop(_MANAGER, None)


def model_manager() -> ModelManager:
    """This session's ModelManager, scanned once; `rescan()` looks again. A change of the
    directories or of the other apps switched on (in any tab) scans again."""
    where = (tuple(model_dirs()), tuple(other_apps.enabled_app_folders()))
    scanned, manager = st.session_state.get(_MANAGER, ((), None))
    if manager is None or scanned != where:
        manager = ModelManager(list(where[0]), max_models=MAX_MODELS, app_folders=where[1])
        _drop_missing_selection(manager.scan())
        st.session_state[_MANAGER] = (where, manager)
    return manager


def present_app_folders() -> dict[str, list[other_apps.AppModelFolder]]:
    """Other apps' model folders found on this machine, by app (one switch per app)."""
    by_kind: dict[str, list[other_apps.AppModelFolder]] = {}
    for folder in other_apps.find_app_folders():
        by_kind.setdefault(folder.kind, []).append(folder)
    return by_kind


def app_folder_key(kind: str) -> str:
    """The key of an app's on/off switch."""
    return f"store:{kind}"


def app_folder_toggled(kind: str) -> None:
    """Callback of an app's switch: remember it (the next draw scans again)."""
    with guard_errors(DIRS_MESSAGES, "Saving the other apps' switches"):
        other_apps.set_app_folder_on(kind, bool(st.session_state.get(app_folder_key(kind))))


def rescan() -> list[ModelInfo]:
    models = model_manager().scan()
    _drop_missing_selection(models)
    return models


# Callbacks (they run before the page draws, and cannot draw): errors wait under these keys.
MODELS_MESSAGES, DIRS_MESSAGES = "models_messages", "dirs_messages"


def rescan_clicked() -> None:
    with guard_errors(MODELS_MESSAGES, "Rescanning"):
        found = rescan()
        st.toast(f"Found {len(found)} model{'s' if len(found) != 1 else ''}.", icon=":material/refresh:")


def dirs_applied(text_key: str) -> None:
    """Use the directories typed (one per line) in the text area `text_key`."""
    with guard_errors(DIRS_MESSAGES, "Saving the directories"):
        dirs = settings.parse_dir_lines(st.session_state.get(text_key, ""))
        if not dirs:
            raise ConfigurationError("give at least one directory")
        set_model_dirs(dirs)


def unload_all_clicked() -> None:
    # Another tab may have started a comparison since this button was drawn: its models stay.
    kept = engine().unload_idle()
    if kept:
        st.toast(f"Kept {', '.join(kept)}: a running comparison is using them.", icon=":material/info:")


def pop_messages(key: str) -> list[str]:
    return st.session_state.pop(key, [])


def models() -> list[ModelInfo]:
    return model_manager().models


def demo_build_status() -> demo_build.DemoBuildStatus | None:
    """The background demo build's status (None if there never was one). When it has finished a
    model since this session last looked, rescan: the new model shows without pressing Rescan."""
    status = demo_build.read_status()
    ready = status.models_ready if status else []
    seen = st.session_state.get(_DEMO_READY_SEEN)
    st.session_state[_DEMO_READY_SEEN] = ready
    if seen is not None and seen != ready:
        rescan()
    return status


# --- selection --------------------------------------------------------------------------------


def selected_ids() -> list[str]:
    if _SELECTED not in st.session_state:  # a new browser session: pick up where the last one was
        st.session_state[_SELECTED] = settings.load_selection()
    return list(st.session_state[_SELECTED])


def set_selected(ids: list[str]) -> None:
    ids = list(dict.fromkeys(ids))
    if ids != st.session_state.get(_SELECTED):
        st.session_state[_SELECTED] = ids
        settings.save_selection(ids)


def selected_models() -> list[ModelInfo]:
    """The selected models that are still discovered and usable, in selection order."""
    by_id = {m.id: m for m in models()}
    return [by_id[i] for i in selected_ids() if i in by_id and by_id[i].usable]


def selection_key(model: ModelInfo) -> str:
    """The key of the model's selection checkbox."""
    return f"select:{model.id}"


def selection_toggled(model: ModelInfo) -> None:
    """Callback of a selection checkbox: follow it, within the limit."""
    ids = selected_ids()
    if not st.session_state.get(selection_key(model)):
        set_selected([i for i in ids if i != model.id])
    elif why_not_selectable(model) is None:
        set_selected(ids + [model.id])


def why_not_selectable(model: ModelInfo) -> str | None:
    """Why `model` cannot be added to the selection now (None when it can, or already is)."""
    if model.error:
        return model.error
    ids = selected_ids()
    if model.id not in ids and len(ids) >= MAX_MODELS:
        return f"{MAX_MODELS} models are selected, the most compared at once: unselect one first"
    return None


def _drop_missing_selection(found: list[ModelInfo]) -> None:
    usable = {m.id for m in found if m.usable}
    set_selected([i for i in selected_ids() if i in usable])


# --- comparisons ------------------------------------------------------------------------------


def comparison() -> Comparison | RestoredComparison | None:
    """The last comparison started in this session (running or finished), or the one restored
    from the store after a reload."""
    return st.session_state.get(_COMPARISON)


def restore_last_comparison() -> RestoredComparison | None:
    """In a new browser session (a reloaded page), the last comparison stored, as this
    session's comparison; tried once per session, and never over one started here."""
    if _COMPARISON in st.session_state or st.session_state.get(_RESTORE_TRIED):
        return None
    st.session_state[_RESTORE_TRIED] = True
    try:
        restored = last_comparison(RunStore(), models())
    except Exception:  # an unreadable store costs the restored view only; Results says more
        log.warning("could not restore the last comparison", exc_info=True)
        return None
    if restored is not None:
        st.session_state[_COMPARISON] = restored
    return restored


def start_comparison(**kwargs) -> Comparison:
    """Start a comparison for this session; raises ConfigurationError on bad input."""
    run = Comparison(engine(), is_alive=session_alive_probe(), **kwargs)
    st.session_state[_COMPARISON] = run.start()
    st.session_state.setdefault(_SESSION_COMPARISONS, []).append(run.comparison_id)
    return run


def names_hidden() -> bool:
    """True while this session's comparison is blind and not voted on: every page hides which
    models ran (the sidebar's lists too)."""
    run = comparison()
    return run is not None and not run.revealed


def session_comparison_ids() -> set[str]:
    return set(st.session_state.get(_SESSION_COMPARISONS, []))


def session_alive_probe() -> Callable[[], bool]:
    """A thread-safe check that this browser session is still connected."""
    from streamlit import runtime
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx(suppress_warning=True)
    if ctx is None or not runtime.exists():
        return lambda: True
    instance, session_id = runtime.get_instance(), ctx.session_id
    return lambda: instance.is_active_session(session_id)


# --- benchmarks -------------------------------------------------------------------------------


@st.cache_resource(show_spinner=False)
def _benchmarks() -> BenchmarkJobs:
    """The dashboard process's benchmarks: one runs at a time, and it keeps running when the tab
    that started it closes, so every tab finds it here."""
    return BenchmarkJobs(engine())


def benchmark() -> BenchmarkRunner | None:
    """The benchmark running now, or the last one this dashboard process ran."""
    return _benchmarks().current


def start_benchmark(spec: BenchmarkSpec, models: list[ModelInfo]) -> BenchmarkRunner:
    """Benchmark `models` with their saved settings, as `llm-compare bench` does."""
    return _benchmarks().start(spec, models)


def resume_benchmark(benchmark_id: str) -> BenchmarkRunner:
    """Run what a stored benchmark has not run yet, under its own id, plan, seeds and settings."""
    return _benchmarks().resume(benchmark_id, model_manager())


# --- busy runs ---------------------------------------------------------------------------------

_INCLUDE_BUSY = "include_busy"
INCLUDE_BUSY_HELP = (
    "Runs during which other programs used more than 10 % of the CPU are always drawn (hatched), "
    "but left out of medians, verdicts and the frontier unless included; when every run was busy, "
    "the figures come from them and say so. The same switch on every page, as `bench --include-busy`."
)


def include_busy() -> bool:
    """Whether aggregates include busy runs: one choice for every page of the session."""
    return bool(st.session_state.get(_INCLUDE_BUSY, False))


def include_busy_toggle(key: str) -> bool:
    """The "Include busy runs" switch. Each page draws its own widget (`key`), showing and
    setting the one shared choice, so turning it on one page turns it on for all."""
    st.session_state[key] = include_busy()  # before the widget exists in this run: its value
    st.toggle(
        "Include busy runs",
        key=key,
        on_change=lambda: st.session_state.__setitem__(_INCLUDE_BUSY, bool(st.session_state[key])),
        help=INCLUDE_BUSY_HELP,
    )
    return include_busy()
