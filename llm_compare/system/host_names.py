"""Which names in a request's `Host` header we answer to: loopback, plus the user's own list.

Shared by the dashboard (ui/host_check.py) and `llm-compare serve` (api_server/app.py). A
DNS-rebinding page (evil.example resolving to 127.0.0.1) makes a browser send
`Host: evil.example` to a server on the user's machine; every browser sends the name it
connected to, so a server that answers only to names it knows cannot be driven that way."""

from __future__ import annotations

import os

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


def first_foreign_host(hosts: list[str]) -> str | None:
    """The first Host value that names no allowed host, "(none)" when there is no Host at all,
    else None."""
    if not hosts:
        return "(none)"
    allowed = allowed_names()
    return next((host for host in hosts if host_name(host) not in allowed), None)
