"""Fixtures for the dashboard tests: models directories (empty, tiny, with a broken file) and
an AppTest of the whole app with them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from dashboard_testing import APP
from streamlit.testing.v1 import AppTest


@pytest.fixture
def empty_dir(tmp_path) -> Path:
    path = tmp_path / "no-models"
    path.mkdir()
    return path


@pytest.fixture
def broken_dir(tmp_path, tiny_dir) -> Path:
    """One good GGUF (a link to the tiny one) next to `broken.gguf`, 4 KiB of random bytes."""
    path = tmp_path / "with-broken"
    path.mkdir()
    (path / "tiny-llama-f32.gguf").symlink_to(tiny_dir / "tiny-llama-f32.gguf")
    (path / "broken.gguf").write_bytes(os.urandom(4096))
    return path


@pytest.fixture
def make_app(monkeypatch):
    """make_app(models_dir) -> an AppTest of app.py on the Models page, already run once."""

    def make(models_dir: Path) -> AppTest:
        monkeypatch.setenv("LLM_COMPARE_MODELS_DIR", str(models_dir))
        return AppTest.from_file(str(APP), default_timeout=30).run()

    return make


@pytest.fixture(scope="module", autouse=True)
def stop_engine_workers():
    """The dashboard's engine (st.cache_resource) outlives each AppTest: stop its workers."""
    yield
    from llm_compare.ui import session

    session.engine().shutdown()
