"""Saved endpoints: validated with one-line errors, kept in a hand-editable file that never holds a
key, and listed by ModelManager beside the local models; the references users type resolve."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from llm_compare.core.endpoints import Endpoint
from llm_compare.core.errors import ConfigurationError, ModelNotFoundError
from llm_compare.core.models import ModelType
from llm_compare.services.discovery.model_manager import ModelManager
from llm_compare.services.endpoints.registry import EndpointRegistry
from tests.support.dashboard_driver import free_port
from tests.support.endpoint_servers import BEHAVIOURS, misbehaving_server


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"base_url": "ftp://host/v1"}, "is not an http(s) URL"),
        ({"base_url": "localhost:8080"}, "is not an http(s) URL"),
        ({"base_url": "http://user:pw@host/v1"}, "put no user name or password in the URL"),
        ({"api_key_env": "sk-abc123"}, "give the NAME of an environment variable"),
        ({"headers": {"Authorization": "Bearer sk-x"}}, "Authorization carries a credential"),
        ({"headers": {"X-Trace": "a\nb"}}, "has a line break"),
        ({"timeout_s": 0.1}, "timeout_s"),
        ({"input_price_per_m": -1.0}, "input_price_per_m"),
        ({"name": "has space"}, "no spaces"),
        ({"name": "a#b"}, "'#'"),
    ],
)
def test_bad_endpoint_fields_give_a_one_line_error(fields, message):
    with pytest.raises(ConfigurationError) as excinfo:
        Endpoint.parse({"name": "e", "base_url": "http://127.0.0.1:8080/v1", **fields})
    assert message in str(excinfo.value) and "\n" not in str(excinfo.value)


def test_a_bare_server_address_gets_the_api_path():
    assert (
        Endpoint.parse({"name": "e", "base_url": "http://127.0.0.1:11434/"}).base_url
        == "http://127.0.0.1:11434/v1"
    )
    assert (
        Endpoint.parse({"name": "e", "base_url": "https://gpu.example/api/v1/"}).base_url
        == "https://gpu.example/api/v1"
    )


def test_saved_endpoints_are_a_hand_editable_file_without_keys(private_home, monkeypatch):
    monkeypatch.setenv("MY_TEST_KEY", "sk-never-written-42")
    registry = EndpointRegistry()
    registry.add(
        Endpoint.parse(
            {
                "name": "box",
                "base_url": "http://10.0.0.5:8000/v1",
                "api_key_env": "MY_TEST_KEY",
                "headers": {"X-Team": "ml"},
                "timeout_s": 30.0,
                "output_price_per_m": 0.6,
            }
        )
    )
    text = registry.path.read_text()
    assert "sk-never-written-42" not in text
    saved = json.loads(text)["endpoints"][0]
    assert saved == {
        "name": "box",
        "base_url": "http://10.0.0.5:8000/v1",
        "api_key_env": "MY_TEST_KEY",
        "headers": {"X-Team": "ml"},
        "timeout_s": 30.0,
        "output_price_per_m": 0.6,
    }
    with pytest.raises(ConfigurationError, match="exists"):
        registry.add(Endpoint.parse({"name": "box", "base_url": "http://x/v1"}))
    registry.remove("box")
    assert registry.load() == []


def test_a_bad_entry_costs_only_itself(private_home):
    path = private_home / "endpoints.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            {
                "endpoints": [
                    {"name": "good", "base_url": "http://127.0.0.1:1/v1"},
                    {"name": "bad", "base_url": "nope"},
                    "not an object",
                    {"name": "good", "base_url": "http://127.0.0.1:2/v1"},
                ]
            }
        )
    )
    registry = EndpointRegistry()
    assert [e.name for e in registry.load()] == ["good"]
    assert len(registry.problems) == 3
    assert all("\n" not in p for p in registry.problems)
    path.write_text("{not json")
    assert registry.load() == [] and "cannot be read" in registry.problems[0]


def test_endpoint_models_are_listed_beside_local_models(tiny_dir):
    with misbehaving_server() as server:
        EndpointRegistry().add(Endpoint.parse({"name": "srv", "base_url": server.base_url}))
        EndpointRegistry().add(
            Endpoint.parse({"name": "down", "base_url": f"http://127.0.0.1:{free_port()}/v1"})
        )
        models = ModelManager([tiny_dir]).scan()
    local = [m for m in models if m.type != ModelType.OPENAI]
    remote = [m for m in models if m.type == ModelType.OPENAI]
    assert {m.name for m in local} == {"tiny-llama", "tiny-llama-f32", "tiny-llama-q8_0"}
    assert {m.name for m in remote if m.usable} == {f"srv#{b}" for b in BEHAVIOURS}
    assert all(m.metadata.healthy and m.metadata.health_latency_ms > 0 for m in remote if m.usable)
    down = [m for m in remote if not m.usable]
    assert [m.name for m in down] == ["down"] and "connection refused" in down[0].error
    assert down[0].metadata.healthy is False


def test_references_name_endpoint_models(tiny_dir):
    with misbehaving_server() as server:
        EndpointRegistry().add(Endpoint.parse({"name": "srv", "base_url": server.base_url}))
        manager = ModelManager([tiny_dir])
        assert manager.get("srv#ok").metadata.server_model == "ok"
        by_url = manager.get(f"{server.base_url}#slow-ok")
        assert by_url.type == ModelType.OPENAI and by_url.metadata.endpoint.base_url == server.base_url
        with pytest.raises(ConfigurationError, match=f"serves {len(BEHAVIOURS)} models"):
            manager.get(server.base_url)  # which one?
        server.models = ["only"]
        assert manager.get(server.base_url).metadata.server_model == "only"
        with pytest.raises(ConfigurationError, match="no saved endpoint is named 'nope'"):
            manager.get("nope#x")
    with pytest.raises(ModelNotFoundError, match="connection refused"):
        ModelManager([tiny_dir]).get(f"http://127.0.0.1:{free_port()}/v1")


ADDER = """
import sys, time
from pathlib import Path
from llm_compare.core.endpoints import Endpoint
from llm_compare.services.endpoints.registry import EndpointRegistry

home, prefix, go = sys.argv[1], sys.argv[2], Path(sys.argv[3])
while not go.exists():
    time.sleep(0.001)
registry = EndpointRegistry(home)
for i in range(15):
    registry.add(Endpoint(name=f"{prefix}-{i}", base_url=f"http://127.0.0.1:{8000 + i}/v1"))
registry.remove(f"{prefix}-0")
"""


def test_endpoints_added_and_removed_by_concurrent_processes_are_all_kept(tmp_path):
    home, go = tmp_path / "home", tmp_path / "go"
    prefixes = [f"p{n}" for n in range(4)]
    adders = [
        subprocess.Popen([sys.executable, "-c", ADDER, str(home), prefix, str(go)]) for prefix in prefixes
    ]
    go.touch()
    assert [p.wait(120) for p in adders] == [0] * len(prefixes)
    names = {e.name for e in EndpointRegistry(home).load()}
    assert names == {f"{prefix}-{i}" for prefix in prefixes for i in range(1, 15)}
