"""The Models page's HTTP endpoints section: the saved endpoints with their health, a form to add
one, and a button to remove each. Bad input is refused with one line saying what to fix."""

from __future__ import annotations

import streamlit as st

from llm_compare.core.endpoints import Endpoint
from llm_compare.core.errors import ConfigurationError
from llm_compare.services.endpoints.health import HealthBook
from llm_compare.services.endpoints.registry import EndpointRegistry
from llm_compare.ui import session
from llm_compare.ui.errors import guard_errors, show_error
from llm_compare.ui.text import code, literal

MESSAGES = "endpoint_messages"
_FIELDS = (
    "ep_name",
    "ep_base_url",
    "ep_api_key_env",
    "ep_headers",
    "ep_timeout_s",
    "ep_input_price",
    "ep_output_price",
)


def parse_headers(text: str) -> dict[str, str]:
    """`Name: value`, one per line; blank lines skipped."""
    headers = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            raise ConfigurationError(f"headers, line {number}: write each header as Name: value")
        headers[name.strip()] = value.strip()
    return headers


def added() -> None:
    """Callback of the form's Add button: validate, save, list the endpoint's models."""
    with guard_errors(MESSAGES, "Adding the endpoint"):
        state = st.session_state
        endpoint = Endpoint.parse(
            {
                "name": state.get("ep_name") or "",
                "base_url": state.get("ep_base_url") or "",
                "api_key_env": state.get("ep_api_key_env") or None,
                "headers": parse_headers(state.get("ep_headers") or ""),
                "timeout_s": float(state.get("ep_timeout_s") or 60.0),
                "input_price_per_m": state.get("ep_input_price"),
                "output_price_per_m": state.get("ep_output_price"),
            }
        )
        EndpointRegistry().add(endpoint)
        for key in _FIELDS:
            state.pop(key, None)
        found = [m for m in session.rescan() if m.is_endpoint and m.metadata.endpoint.name == endpoint.name]
        if len(found) == 1 and found[0].error:
            st.toast(
                f"Saved {endpoint.name}, but its models cannot be listed yet: see its row.",
                icon=":material/warning:",
            )
        else:
            st.toast(
                f"Saved {endpoint.name}: {len(found)} model{'s' if len(found) != 1 else ''}.",
                icon=":material/check:",
            )


def removed(name: str) -> None:
    with guard_errors(MESSAGES, "Removing the endpoint"):
        EndpointRegistry().remove(name)
        session.rescan()
        st.toast(f"Removed {name}.", icon=":material/delete:")


def draw() -> None:
    registry = EndpointRegistry()
    endpoints = registry.load()
    with st.expander(f"HTTP endpoints ({len(endpoints)})", icon=":material/cloud:", expanded=bool(endpoints)):
        st.caption(
            "OpenAI-compatible servers (llama.cpp's llama-server, llamafile, Ollama, vLLM, LM Studio, …). "
            f"Their models are listed above beside the local ones. Saved in {code(registry.path)}; the API "
            "key stays in the environment variable you name, and is never written anywhere."
        )
        for problem in registry.problems:
            st.warning(literal(problem), icon=":material/warning:")
        book = HealthBook()
        for endpoint in endpoints:
            health = book.get(endpoint.base_url)
            state = {True: "healthy", False: "unhealthy"}.get(health.healthy, "not checked")
            latency = f", {health.health_latency_ms:.0f} ms" if health.health_latency_ms is not None else ""
            info, remove = st.columns([6, 1], vertical_alignment="center")
            key = f" · key in ${endpoint.api_key_env}" if endpoint.api_key_env else ""
            info.markdown(
                f"**{literal(endpoint.name)}** {code(endpoint.base_url)}{literal(key)} · {state}{latency}"
            )
            if health.healthy is False and health.last_error:
                info.caption(literal(health.last_error))
            remove.button(
                "Remove",
                key=f"ep_remove:{endpoint.name}",
                icon=":material/delete:",
                on_click=removed,
                args=(endpoint.name,),
            )
        with st.form("endpoint_add", border=True):
            st.markdown("**Add an endpoint**")
            name_col, url_col = st.columns([1, 2])
            name_col.text_input(
                "Name", key="ep_name", placeholder="gpu-box", help="Models are shown as NAME#MODEL."
            )
            url_col.text_input("Base URL", key="ep_base_url", placeholder="http://127.0.0.1:8080/v1")
            key_col, timeout_col = st.columns([2, 1])
            key_col.text_input(
                "API key environment variable",
                key="ep_api_key_env",
                placeholder="OPENAI_API_KEY",
                help=(
                    "The NAME of the variable holding the key (set it before starting llm-compare); never "
                    "the key."
                ),
            )
            timeout_col.number_input(
                "Timeout (s)", key="ep_timeout_s", min_value=1.0, max_value=3600.0, value=60.0
            )
            st.text_area(
                "Extra headers",
                key="ep_headers",
                placeholder="X-Team: research",
                height=68,
                help="One per line, as Name: value. No credentials: use the key variable.",
            )
            in_col, out_col = st.columns(2)
            in_col.number_input(
                "Input price per million tokens",
                key="ep_input_price",
                min_value=0.0,
                value=None,
                help="Optional, in your unit: runs then show a cost.",
            )
            out_col.number_input(
                "Output price per million tokens", key="ep_output_price", min_value=0.0, value=None
            )
            st.form_submit_button("Add endpoint", icon=":material/add:", on_click=added)
        for message in session.pop_messages(MESSAGES):
            show_error(message)
