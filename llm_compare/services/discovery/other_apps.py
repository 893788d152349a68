"""Other apps' model stores: Ollama's, LM Studio's folder and the Hugging Face cache. When one
exists on this machine it is offered as a model directory, on unless the user switched it off
(saved in settings.json, for the dashboard and the CLI alike)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from llm_compare.system.settings_file import load_settings, save_settings

OLLAMA, LMSTUDIO, HUGGINGFACE = "ollama", "lmstudio", "huggingface"
STORE_LABELS = {OLLAMA: "Ollama", LMSTUDIO: "LM Studio", HUGGINGFACE: "Hugging Face cache"}
# Set (to 1) to use no store at all in this process and its children: `--no-stores`, the tests.
NO_STORES_ENV = "LLM_COMPARE_NO_STORES"
# Where Ollama's Linux installer keeps the models of its system service (user `ollama`).
OLLAMA_SERVICE_MODELS = Path("/usr/share/ollama/.ollama/models")
_SETTINGS_KEY = "stores_off"  # kinds the user switched off; absent means on


@dataclass(frozen=True)
class ModelStore:
    kind: str  # OLLAMA, LMSTUDIO or HUGGINGFACE
    path: Path  # its models directory, which exists

    @property
    def label(self) -> str:
        return STORE_LABELS[self.kind]


def store_locations(env: Mapping[str, str] | None = None, home: Path | None = None) -> list[ModelStore]:
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
        [ModelStore(OLLAMA, p) for p in ollama]
        + [ModelStore(LMSTUDIO, p) for p in lmstudio]
        + [ModelStore(HUGGINGFACE, hub)]
    )


def find_stores(env: Mapping[str, str] | None = None, home: Path | None = None) -> list[ModelStore]:
    """The stores present on this machine, switched on or not; one location read once."""
    found, seen = [], set()
    for store in store_locations(env, home):
        try:
            if not store.path.is_dir():
                continue
        except OSError:  # a folder we may not look into is not offered
            continue
        real = os.path.realpath(store.path)
        if real not in seen:
            seen.add(real)
            found.append(store)
    return found


def stores_disabled_by_env(env: Mapping[str, str] | None = None) -> bool:
    value = (os.environ if env is None else env).get(NO_STORES_ENV, "")
    return value.strip().lower() not in ("", "0", "false", "no")


def stores_off() -> set[str]:
    """The kinds of store the user switched off."""
    kinds = load_settings().get(_SETTINGS_KEY)
    return {k for k in kinds if k in STORE_LABELS} if isinstance(kinds, list) else set()


def set_store_on(kind: str, on: bool) -> None:
    if kind not in STORE_LABELS:
        raise ValueError(f"unknown model store {kind!r}")
    off = stores_off() - {kind} if on else stores_off() | {kind}
    save_settings({**load_settings(), _SETTINGS_KEY: sorted(off)})


def enabled_stores(env: Mapping[str, str] | None = None, home: Path | None = None) -> list[ModelStore]:
    """The stores to scan: present, not switched off, and not all turned off by NO_STORES_ENV."""
    if stores_disabled_by_env(env):
        return []
    off = stores_off()
    return [s for s in find_stores(env, home) if s.kind not in off]
