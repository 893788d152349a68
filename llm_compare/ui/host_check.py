"""Refuse to serve the dashboard under a host name other than loopback or the user's own list.

A DNS-rebinding page (evil.example resolving to 127.0.0.1) gets a browser to open our WebSocket
with `Host: evil.example`; Streamlit accepts it (the Origin matches that Host), and the page could
then drive the dashboard: point it at other folders, turn on remote code. Every browser sends the
name it connected to in `Host`, so an app run under a name we do not know draws nothing."""

from __future__ import annotations

import logging
import os

import streamlit as st

from llm_compare.ui.text import code

log = logging.getLogger(__name__)

ENV_ALLOWED_HOSTS = "LLM_COMPARE_ALLOWED_HOSTS"
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def host_name(host_header: str) -> str:
    """The name in a Host header, without its port, in lower case: `[::1]:8501` -> `::1`."""
    host = host_header.strip().lower()
    if host.startswith("["):  # an IPv6 literal: [::1] or [::1]:8501
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def allowed_names() -> frozenset[str]:
    """Loopback names plus $LLM_COMPARE_ALLOWED_HOSTS (names separated by commas, no ports)."""
    extra = os.environ.get(ENV_ALLOWED_HOSTS, "")
    return LOOPBACK_NAMES | {host_name(name) for name in extra.split(",") if name.strip()}


def foreign_host(headers) -> str | None:
    """The Host value when it is not allowed, else None. A session without any request headers
    (AppTest, a bare script run) has no browser behind it, so nothing to rebind."""
    if len(headers) == 0:
        return None
    hosts = headers.get_all("host")
    allowed = allowed_names()
    if not hosts:
        return "(none)"
    return next((host for host in hosts if host_name(host) not in allowed), None)


def stop_unless_allowed_host() -> None:
    """The first call of app.py and of every page: under a foreign Host, one line and stop."""
    host = foreign_host(st.context.headers)
    if host is None:
        return
    log.warning("refused a session for Host %r (not loopback, not in $%s)", host, ENV_ALLOWED_HOSTS)
    st.error(
        f"This dashboard answers only on localhost, 127.0.0.1 or [::1], not on {code(host)}; "
        f"to allow another name, start it with `{ENV_ALLOWED_HOSTS}=name`.",
        icon=":material/block:",
    )
    st.stop()
