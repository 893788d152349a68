"""Each endpoint's health, shared by every llm-compare process through a small file in the data
directory: the last check (`health_latency_ms`, docs/metrics.md) and a circuit breaker. After
FAILURES_TO_OPEN failed runs in a row an endpoint is unhealthy, and runs on it are refused at once
instead of each waiting for a timeout, until a health check (GET /v1/models) succeeds again."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from llm_compare.system.atomic_files import locked, replace_text
from llm_compare.system.paths import data_home

HEALTH_FILE = "endpoint-health.json"
FAILURES_TO_OPEN = 3


@dataclass
class Health:
    healthy: bool | None = None  # None: never checked nor used
    health_latency_ms: float | None = None
    checked_at: str | None = None
    consecutive_failures: int = 0
    last_error: str | None = None


class HealthBook:
    """Health by base URL (an ad-hoc URL from the command line has no saved name)."""

    def __init__(self, home: str | Path | None = None):
        self.path = (Path(home).expanduser() if home else data_home()) / HEALTH_FILE

    def get(self, base_url: str) -> Health:
        return self._read().get(base_url, Health())

    def record_check(self, base_url: str, latency_ms: float | None, error: str | None = None) -> Health:
        """A health check's outcome: a success closes the breaker."""

        def change(health: Health) -> None:
            health.checked_at = datetime.now(UTC).isoformat(timespec="seconds")
            health.health_latency_ms = latency_ms if error is None else None
            if error is None:
                health.healthy, health.consecutive_failures, health.last_error = True, 0, None
            else:
                health.healthy, health.last_error = False, error

        return self._update(base_url, change)

    def record_run(self, base_url: str, error: str | None) -> Health:
        """A run's outcome: FAILURES_TO_OPEN failures in a row open the breaker."""

        def change(health: Health) -> None:
            if error is None:
                health.consecutive_failures, health.last_error = 0, None
                health.healthy = True if health.healthy is None else health.healthy
            else:
                health.consecutive_failures += 1
                health.last_error = error
                if health.consecutive_failures >= FAILURES_TO_OPEN:
                    health.healthy = False

        return self._update(base_url, change)

    def refusal(self, base_url: str, name: str) -> str | None:
        """Why a run on this endpoint is refused now (its breaker is open), or None."""
        health = self.get(base_url)
        if health.healthy is False and health.consecutive_failures >= FAILURES_TO_OPEN:
            return (
                f"endpoint {name} is marked unhealthy after {health.consecutive_failures} failures in a row "
                f"(last: {health.last_error}): fix the server, then check its health on the Models page "
                "(Rescan) or with `llm-compare scan`"
            )
        return None

    def _update(self, base_url: str, change) -> Health:
        """Read, change and write back as one step for every process and thread: no update is lost."""
        try:
            with locked(self.path):
                book = self._read()
                health = book.setdefault(base_url, Health())
                change(health)
                replace_text(self.path, json.dumps({url: asdict(h) for url, h in book.items()}, indent=1))
                return health
        except OSError:  # a read-only data directory costs the breaker, never a run
            health = self.get(base_url)
            change(health)
            return health

    def _read(self) -> dict[str, Health]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):  # none yet, or unreadable: health is only a cache of checks
            return {}
        book = {}
        for url, entry in data.items() if isinstance(data, dict) else ():
            try:
                book[url] = Health(**entry)
            except TypeError:
                continue
        return book
