"""Every test here drives a real headless Chromium."""

import importlib.util
import os
from pathlib import Path

import pytest

from tests.support.dashboard_driver import CHROMIUM


def missing_browser_parts() -> list[str]:
    missing = []
    if not Path(CHROMIUM).exists():
        missing.append(f"Debian's chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    if importlib.util.find_spec("playwright") is None:
        missing.append("the playwright package is not installed (pip install -e '.[dev]')")
    return missing


@pytest.fixture(autouse=True)
def real_browser():
    """Skips without a browser on a developer's machine; fails in CI, which installs one
    (scripts/setup.sh --test), so a missing browser there means the install broke."""
    missing = missing_browser_parts()
    if missing and os.environ.get("CI", "").lower() in ("true", "1"):
        pytest.fail("CI is set but the browser test cannot run: " + "; ".join(missing), pytrace=False)
    if missing:
        pytest.skip("; ".join(missing))
