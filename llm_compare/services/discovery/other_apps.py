"""Other apps' model folders: Ollama's, LM Studio's and the Hugging Face cache. When one
exists on this machine it is offered as a model directory, on unless the user switched it off
(saved in settings.json, for the dashboard and the CLI alike)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from llm_compare.system.settings_file import load_settings, save_settings

OLLAMA, LMSTUDIO, HUGGINGFACE = "ollama", "lmstudio", "huggingface"
APP_LABELS = {OLLAMA: "Ollama", LMSTUDIO: "LM Studio", HUGGINGFACE: "Hugging Face cache"}
# Set (to 1) to use no other app's folder in this process and its children: `--no-other-apps`, the
# tests. The name it had before is still read.
NO_OTHER_APPS_ENV = "LLM_COMPARE_NO_OTHER_APPS"
_LEGACY_NO_OTHER_APPS_ENV = "LLM_COMPARE_NO_STORES"
# Where Ollama's Linux installer keeps the models of its system service (user `ollama`).
OLLAMA_SERVICE_MODELS = Path("/usr/share/ollama/.ollama/models")
_SETTINGS_KEY = "stores_off"  # kinds the user switched off; absent means on (the key of earlier versions)


@dataclass(frozen=True)
class AppModelFolder:
    kind: str  # OLLAMA, LMSTUDIO or HUGGINGFACE
    path: Path  # its models directory, which exists

    @property
    def label(self) -> str:
        return APP_LABELS[self.kind]


def app_folder_locations(
    env: Mapping[str, str] | None = None, home: Path | None = None
) -> list[AppModelFolder]:
    """Where each app keeps its models, as that app itself decides (existing or not)."""
    env = os.environ if env is None else env
    home = Path.home() if home is None else home
    if env.get("OLLAMA_MODELS"):  # what the Ollama server uses when set
        ollama = [Path(env["OLLAMA_MODELS"]).expanduser()]
    else:
        ollama = [home / ".ollama" / "models", OLLAMA_SERVICE_MODELS]
    lmstudio = [home / ".lmstudio" / "models", home / ".cache" / "lm-studio" / "models"]
    pointer = home / ".lmstudio-home-pointer"  # LM Studio moved to another folder: it names it here
    try:
        moved = pointer.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        moved = ""
    if moved:
        lmstudio.insert(0, Path(moved).expanduser() / "models")
    hf = env.get("HF_HUB_CACHE") or env.get("HUGGINGFACE_HUB_CACHE")  # huggingface_hub's own order
    if hf:
        hub = Path(hf).expanduser()
    else:
        cache = Path(env["XDG_CACHE_HOME"]).expanduser() if env.get("XDG_CACHE_HOME") else home / ".cache"
        hub = (Path(env["HF_HOME"]).expanduser() if env.get("HF_HOME") else cache / "huggingface") / "hub"
    return (
        [AppModelFolder(OLLAMA, p) for p in ollama]
        + [AppModelFolder(LMSTUDIO, p) for p in lmstudio]
        + [AppModelFolder(HUGGINGFACE, hub)]
    )


def find_app_folders(env: Mapping[str, str] | None = None, home: Path | None = None) -> list[AppModelFolder]:
    """The folders present on this machine, switched on or not; one location read once."""
    found, seen = [], set()
    for folder in app_folder_locations(env, home):
        try:
            if not folder.path.is_dir():
                continue
        except OSError:  # a folder we may not look into is not offered
            continue
        real = os.path.realpath(folder.path)
        if real not in seen:
            seen.add(real)
            found.append(folder)
    return found


def app_folders_disabled_by_env(env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    values = (env.get(NO_OTHER_APPS_ENV, ""), env.get(_LEGACY_NO_OTHER_APPS_ENV, ""))
    return any(value.strip().lower() not in ("", "0", "false", "no") for value in values)


def app_folders_off() -> set[str]:
    """The apps whose folders the user switched off."""
    kinds = load_settings().get(_SETTINGS_KEY)
    return {k for k in kinds if k in APP_LABELS} if isinstance(kinds, list) else set()


def set_app_folder_on(kind: str, on: bool) -> None:
    if kind not in APP_LABELS:
        raise ValueError(f"unknown app {kind!r}")
    off = app_folders_off() - {kind} if on else app_folders_off() | {kind}
    save_settings({**load_settings(), _SETTINGS_KEY: sorted(off)})


def enabled_app_folders(
    env: Mapping[str, str] | None = None, home: Path | None = None
) -> list[AppModelFolder]:
    """The folders to scan: present, not switched off, and not all turned off by NO_OTHER_APPS_ENV."""
    if app_folders_disabled_by_env(env):
        return []
    off = app_folders_off()
    return [s for s in find_app_folders(env, home) if s.kind not in off]
