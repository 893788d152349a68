"""The saved endpoints: one JSON file in the data directory, editable by hand. It holds names,
URLs, headers, timeouts and prices, and the NAME of each key's environment variable, never a key."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from llm_compare.core.endpoints import Endpoint
from llm_compare.core.errors import ConfigurationError, one_line
from llm_compare.system.atomic_files import locked, replace_text
from llm_compare.system.paths import data_home

log = logging.getLogger(__name__)

ENDPOINTS_FILE = "endpoints.json"
MAX_FILE_BYTES = 1 << 20


class EndpointRegistry:
    def __init__(self, home: str | Path | None = None):
        self.path = (Path(home).expanduser() if home else data_home()) / ENDPOINTS_FILE
        self.problems: list[str] = []  # one line per saved entry (or the file) that could not be used

    def load(self) -> list[Endpoint]:
        """The valid saved endpoints; each invalid entry is left out with a one-line reason in
        `problems` (the file is only rewritten by an explicit add or remove)."""
        self.problems = []
        try:
            if self.path.stat().st_size > MAX_FILE_BYTES:
                self.problems.append(f"{self.path} is larger than any endpoints file: not read")
                return []
            document = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
            self.problems.append(f"{self.path} cannot be read ({one_line(exc)}): fix or remove it")
            return []
        entries = document.get("endpoints") if isinstance(document, dict) else None
        if not isinstance(entries, list):
            self.problems.append(f'{self.path} holds no "endpoints" list: fix or remove it')
            return []
        endpoints: dict[str, Endpoint] = {}
        for i, entry in enumerate(entries, 1):
            try:
                if not isinstance(entry, dict):
                    raise ConfigurationError(f"entry {i} is not an object")
                endpoint = Endpoint.parse(entry)
            except ConfigurationError as exc:
                self.problems.append(f"{self.path.name}, entry {i}: {exc}")
                continue
            if endpoint.name in endpoints:
                self.problems.append(
                    f"{self.path.name}, entry {i}: the name {endpoint.name!r} is used twice; the first is "
                    "kept"
                )
                continue
            endpoints[endpoint.name] = endpoint
        for problem in self.problems:
            log.warning("%s", problem)
        return list(endpoints.values())

    def get(self, name: str) -> Endpoint:
        for endpoint in self.load():
            if endpoint.name == name:
                return endpoint
        names = ", ".join(e.name for e in self.load()) or "none saved yet"
        raise ConfigurationError(
            f"no saved endpoint is named {name!r} (saved: {names}): add it on the Models page"
        )

    def add(self, endpoint: Endpoint, replace: bool = False) -> None:
        with locked(self.path):  # the dashboard's tabs and the CLI may add at once: none is lost
            endpoints = self.load()
            if not replace and any(e.name == endpoint.name for e in endpoints):
                raise ConfigurationError(
                    f"an endpoint named {endpoint.name!r} exists: choose another name or remove it first"
                )
            self._write([e for e in endpoints if e.name != endpoint.name] + [endpoint])

    def remove(self, name: str) -> None:
        with locked(self.path):
            endpoints = self.load()
            if not any(e.name == name for e in endpoints):
                raise ConfigurationError(f"no saved endpoint is named {name!r}")
            self._write([e for e in endpoints if e.name != name])

    def _write(self, endpoints: list[Endpoint]) -> None:
        document = {"endpoints": [e.model_dump(exclude_none=True) for e in endpoints]}
        replace_text(self.path, json.dumps(document, indent=2, ensure_ascii=False) + "\n")
