"""The Models page's endpoint form: an endpoint added there is saved (without its key) and its
models are listed with their health; bad input gives one line; Configure says what a server ignores."""

from __future__ import annotations

import json

import pytest
from dashboard_testing import ids_by_name, no_exception, rendered, select

from tests.support.dashboard_driver import free_port
from tests.support.endpoint_servers import BEHAVIOURS, misbehaving_server


@pytest.fixture
def server():
    with misbehaving_server() as running:
        running.models = ["ok", "slow-ok"]
        yield running


def fill(at, **values):
    for key, value in values.items():
        widget = (
            at.number_input(key=key)
            if key in ("ep_timeout_s", "ep_input_price", "ep_output_price")
            else (at.text_area(key=key) if key == "ep_headers" else at.text_input(key=key))
        )
        widget.set_value(value)
    return at


def add_button(at):
    return next(b for b in at.button if b.label == "Add endpoint")


def errors(at) -> list[str]:
    return [rendered(e.value) for e in at.error]


def test_adding_an_endpoint_lists_its_models_with_their_health(
    make_app, tiny_dir, server, private_home, monkeypatch
):
    monkeypatch.setenv("MY_ENDPOINT_KEY", "sk-form-test-secret")
    at = make_app(tiny_dir)
    fill(
        at,
        ep_name="box",
        ep_base_url=server.base_url,
        ep_api_key_env="MY_ENDPOINT_KEY",
        ep_headers="X-Team: ml",
        ep_timeout_s=20.0,
        ep_output_price=0.5,
    )
    add_button(at).click().run()
    no_exception(at)
    assert errors(at) == []
    saved = json.loads((private_home / "endpoints.json").read_text())["endpoints"]
    assert saved == [
        {
            "name": "box",
            "base_url": server.base_url,
            "api_key_env": "MY_ENDPOINT_KEY",
            "headers": {"X-Team": "ml"},
            "timeout_s": 20.0,
            "output_price_per_m": 0.5,
        }
    ]
    assert "sk-form-test-secret" not in (private_home / "endpoints.json").read_text()
    table = at.dataframe[0].value
    rows = table[table["backend"] == "HTTP endpoint"].set_index("name")
    assert list(rows.index) == ["box#ok", "box#slow-ok"]
    assert (rows["health"] == "healthy").all() and (rows["health_latency_ms"] > 0).all()
    assert {"box#ok", "box#slow-ok", "tiny-llama-f32"} <= set(ids_by_name(at))  # selectable like the others
    # A second browser session (a new AppTest) finds the saved endpoint's models too.
    again = make_app(tiny_dir)
    assert "box#ok" in ids_by_name(again)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"ep_name": "x", "ep_base_url": "localhost:8080"}, "is not an http(s) URL"),
        (
            {"ep_name": "x", "ep_base_url": "http://127.0.0.1:1/v1", "ep_api_key_env": "sk-pasted-key"},
            "give the NAME of an environment variable",
        ),
        (
            {"ep_name": "x", "ep_base_url": "http://127.0.0.1:1/v1", "ep_headers": "no colon here"},
            "headers, line 1: write each header as Name: value",
        ),
        (
            {"ep_name": "x", "ep_base_url": "http://127.0.0.1:1/v1", "ep_headers": "Authorization: Bearer k"},
            "Authorization carries a credential",
        ),
        ({"ep_name": "", "ep_base_url": "http://127.0.0.1:1/v1"}, "name"),
    ],
)
def test_bad_input_is_refused_in_one_line(make_app, empty_dir, private_home, values, message):
    at = make_app(empty_dir)
    fill(at, **values)
    add_button(at).click().run()
    no_exception(at)
    shown = errors(at)
    assert len(shown) == 1 and message in shown[0] and "\n" not in shown[0]
    assert not (private_home / "endpoints.json").exists()


def test_an_unreachable_endpoint_is_saved_and_says_why(make_app, empty_dir):
    at = make_app(empty_dir)
    fill(at, ep_name="down", ep_base_url=f"http://127.0.0.1:{free_port()}/v1")
    add_button(at).click().run()
    no_exception(at)
    warnings = [rendered(w.value) for w in at.warning]
    assert any("down cannot be used: connection refused" in w for w in warnings)
    assert "unhealthy" in " ".join(rendered(m.value) for m in at.markdown)


def test_removing_an_endpoint_drops_its_models(make_app, tiny_dir, server):
    at = make_app(tiny_dir)
    fill(at, ep_name="box", ep_base_url=server.base_url)
    add_button(at).click().run()
    assert "box#ok" in ids_by_name(at)
    at.button(key="ep_remove:box").click().run()
    no_exception(at)
    assert "box#ok" not in ids_by_name(at) and "tiny-llama-f32" in ids_by_name(at)


def test_configure_greys_out_what_the_server_cannot_take(make_app, empty_dir, server):
    at = make_app(empty_dir)
    fill(at, ep_name="box", ep_base_url=server.base_url)
    add_button(at).click().run()
    select(at, "box#ok")
    at.switch_page("pages/configure.py").run()
    no_exception(at)
    expander = next(e for e in at.expander if "Ignored by the HTTP endpoint backend" in e.label)
    shown = " ".join(rendered(c.value) for c in expander.caption)
    assert "not an OpenAI field" in shown  # top_k and the repeat penalty of a server we do not recognise
    assert len(BEHAVIOURS) > 2  # (the server could serve more; this one lists two)
