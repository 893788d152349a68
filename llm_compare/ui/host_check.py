"""Refuse to serve the dashboard under a host name other than loopback or the user's own list
(the names: llm_compare/system/host_names.py, shared with `llm-compare serve`).

A DNS-rebinding page (evil.example resolving to 127.0.0.1) gets a browser to open our WebSocket
with `Host: evil.example`; Streamlit accepts it (the Origin matches that Host), and the page could
then drive the dashboard: point it at other folders, turn on remote code. Every browser sends the
name it connected to in `Host`, so an app run under a name we do not know draws nothing."""

from __future__ import annotations

import logging

import streamlit as st

from llm_compare.system.host_names import ENV_ALLOWED_HOSTS, first_foreign_host
from llm_compare.ui.text import code

log = logging.getLogger(__name__)


def foreign_host(headers) -> str | None:
    """The Host value when it is not allowed, else None. A session without any request headers
    (AppTest, a bare script run) has no browser behind it, so nothing to rebind."""
    if len(headers) == 0:
        return None
    return first_foreign_host(headers.get_all("host"))


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
