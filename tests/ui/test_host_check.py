"""DNS rebinding: the real dashboard server, spoken to over its own WebSocket with the Host header a
rebinding page makes a browser send, draws nothing of the app; loopback names work as before."""

from pathlib import Path
from urllib.parse import urlparse

import pytest

from llm_compare.system.host_names import ENV_ALLOWED_HOSTS, host_name
from tests.support.dashboard_driver import dashboard_server, drawn_elements, session_messages


@pytest.fixture(scope="module")
def dashboard(tiny_dir, tmp_path_factory):
    """One server for the module, with one extra name allowed by the user."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(ENV_ALLOWED_HOSTS, "Dash.lan, other.lan")
        with dashboard_server(tiny_dir, tmp_path_factory.mktemp("home")) as url:
            yield url


def port(url: str) -> int:
    return urlparse(url).port


def page_text(messages) -> str:
    return "\n".join(str(element) for element in drawn_elements(messages))


PAGES = sorted(path.stem for path in (Path(__file__).resolve().parents[2] / "pages").glob("*.py"))


@pytest.mark.parametrize("page", ["", *PAGES])
@pytest.mark.parametrize("host", ["evil.example", "attacker.127.0.0.1.nip.io", "localhost.evil.example"])
def test_a_foreign_host_gets_one_line_and_nothing_of_the_app(dashboard, host, page):
    messages = session_messages(dashboard, f"{host}:{port(dashboard)}", page=page)
    elements = drawn_elements(messages)
    assert [e.WhichOneof("type") for e in elements] == ["alert"]
    assert host in elements[0].alert.body and ENV_ALLOWED_HOSTS in elements[0].alert.body
    assert not any(m.WhichOneof("type") == "page_config_changed" for m in messages)  # not even the title
    assert "tiny-llama" not in page_text(messages)


@pytest.mark.parametrize(
    "host", ["127.0.0.1:{port}", "localhost:{port}", "[::1]:{port}", "LOCALHOST", "dash.lan:{port}"]
)
def test_loopback_names_and_the_users_own_names_get_the_app(dashboard, host):
    messages = session_messages(dashboard, host.format(port=port(dashboard)))
    titles = [m.page_config_changed.title for m in messages if m.WhichOneof("type") == "page_config_changed"]
    assert titles == ["llm-compare"]
    text = page_text(messages)
    assert 'body: "Models"' in text and "tiny-llama-f32" in text  # the page and the model list
    assert not any(
        e.WhichOneof("type") == "alert" and "answers only on" in e.alert.body
        for e in drawn_elements(messages)
    )


@pytest.mark.slow
def test_a_page_opened_directly_as_the_first_visit_gets_nothing_either(tiny_dir, tmp_path):
    """Before any session has called st.navigation, Streamlit runs a page of pages/ alone, without
    app.py (until its first call hands over to app.py): it must draw nothing either."""
    with dashboard_server(tiny_dir, tmp_path / "home") as url:
        messages = session_messages(url, f"evil.example:{port(url)}", page="compare")
    assert [e.WhichOneof("type") for e in drawn_elements(messages)] == ["alert"]


def test_a_page_opened_directly_under_a_loopback_name_still_works(dashboard):
    text = page_text(session_messages(dashboard, f"127.0.0.1:{port(dashboard)}", page="results"))
    assert 'body: "Results"' in text


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("127.0.0.1:8501", "127.0.0.1"),
        ("[::1]:8501", "::1"),
        ("[::1]", "::1"),
        ("LocalHost", "localhost"),
        ("evil.example:80", "evil.example"),
        ("localhost.", "localhost."),
    ],
)
def test_host_name_drops_the_port_and_the_case(header, name):
    assert host_name(header) == name


def test_only_a_session_without_any_request_headers_skips_the_check(monkeypatch):
    from streamlit.runtime.context import StreamlitHeaders

    from llm_compare.ui.host_check import foreign_host

    monkeypatch.setenv(ENV_ALLOWED_HOSTS, "dash.lan")
    assert foreign_host(StreamlitHeaders([])) is None  # AppTest, a bare script run: no browser behind it
    assert foreign_host(StreamlitHeaders([("Accept", "*/*")])) == "(none)"
    assert foreign_host(StreamlitHeaders([("Host", "dash.lan:8501")])) is None
    assert foreign_host(StreamlitHeaders([("Host", "localhost"), ("host", "evil.example")])) == "evil.example"
