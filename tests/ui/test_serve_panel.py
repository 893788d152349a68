"""The Models page's Serve over HTTP section: one click serves a local GGUF with a real
`llm-compare serve` and lists it as an endpoint; Stop serving ends it; a failed start says why in
one line and leaves nothing behind."""

from __future__ import annotations

import os
import re
import shutil

import psutil
import pytest
from dashboard_testing import ids_by_name, no_exception, rendered

from llm_compare.services.endpoints.registry import EndpointRegistry
from llm_compare.ui import session

START_TIMEOUT_S = 180  # a server start takes seconds; on a shared, loaded machine far more


@pytest.fixture(autouse=True)
def stop_served_models():
    """The dashboard's served models (st.cache_resource) outlive each AppTest: stop them."""
    yield
    session.served_models().stop_all()


@pytest.fixture
def models_dir(tmp_path, tiny_dir):
    root = tmp_path / "serve-models"
    root.mkdir()
    shutil.copy(tiny_dir / "tiny-llama-f32.gguf", root / "tiny-llama-f32.gguf")
    return root


def serve(at, name: str):
    at.selectbox(key="serve_choice").set_value(ids_by_name(at)[name])
    return at.button(key="serve_start").click().run(timeout=START_TIMEOUT_S)


def errors(at) -> list[str]:
    return [rendered(e.value) for e in at.error]


def served_pids(at) -> list[int]:
    """The pids the page shows for its served processes."""
    return [int(pid) for md in at.markdown for pid in re.findall(r"· pid (\d+)$", rendered(md.value))]


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_serve_adds_the_model_as_an_endpoint_and_stop_serving_removes_it(make_app, models_dir):
    at = serve(make_app(models_dir), "tiny-llama-f32")
    no_exception(at)
    assert errors(at) == []
    [endpoint] = EndpointRegistry().load()
    assert endpoint.name == "served-tiny-llama-f32" and endpoint.base_url.startswith("http://127.0.0.1:")
    served_names = [name for name in ids_by_name(at) if name.startswith("served-tiny-llama-f32#")]
    assert len(served_names) == 1  # its model is selectable beside the local one
    [pid] = served_pids(at)
    assert alive(pid)
    assert any("loaded a second time" in rendered(box.value) for box in at.info)
    assert any(re.search(r"resident now", rendered(c.value)) for c in at.caption)

    at.button(key="serve_stop:served-tiny-llama-f32").click().run(timeout=START_TIMEOUT_S)
    no_exception(at)
    assert errors(at) == []
    assert not alive(pid)
    assert EndpointRegistry().load() == []
    assert not any(name.startswith("served-") for name in ids_by_name(at)) and served_pids(at) == []


def test_a_failed_start_gives_one_line_and_leaves_no_endpoint(make_app, models_dir):
    at = make_app(models_dir)  # scanned while the file was still a GGUF
    (models_dir / "tiny-llama-f32.gguf").write_bytes(os.urandom(4096))
    children = psutil.Process().children(recursive=True)
    serve(at, "tiny-llama-f32")
    no_exception(at)
    [error] = errors(at)
    assert "\n" not in error and error.startswith("could not serve tiny-llama-f32"), error
    assert "tiny-llama-f32.gguf cannot be used: not a GGUF file" in error  # the server's own reason
    assert EndpointRegistry().load() == [] and served_pids(at) == []
    assert [c for c in psutil.Process().children(recursive=True) if c not in children and alive(c.pid)] == []


def test_two_models_with_the_same_name_are_told_apart_by_their_paths(make_app, tmp_path, tiny_dir):
    root = tmp_path / "same-names"
    for folder in ("a", "b"):
        (root / folder).mkdir(parents=True)
        shutil.copy(tiny_dir / "tiny-llama-f32.gguf", root / folder / "model.gguf")
    at = make_app(root)
    no_exception(at)
    paths = [str(root / folder / "model.gguf") for folder in ("a", "b")]
    table = at.dataframe(key="models_table").value
    assert list(table["name"]) == ["model", "model"] and sorted(table["path"]) == paths
    assert sorted(at.selectbox(key="serve_choice").options) == [f"model ({path})" for path in paths]
