"""In a real headless Chromium: what the browser itself does with a number typed out of range."""

import pytest

from tests.support.dashboard_driver import (
    browser_page,
    dashboard_server,
    open_page,
    select_models,
    wait_until_idle,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


def test_an_out_of_range_number_says_the_range_and_save_stays_disabled(tiny_dir, private_home):
    """A number box given bounds refused -5 in the browser, silently: the box turned red, the old
    value stayed, and Save wrote it and said "Saved". Now the value reaches the page, which says why."""
    with dashboard_server(tiny_dir, private_home) as url, browser_page(1500, 1000) as page:
        select_models(page, url, ["tiny-llama-q8_0"])
        open_page(page, "Configure")
        wait_until_idle(page)  # typing while the first run still draws races it
        save = page.get_by_role("button", name="Save", exact=True)
        assert save.is_enabled()
        box = page.get_by_label("Top-k", exact=True)
        box.fill("-5")
        box.press("Enter")
        page.get_by_text("must be between 0 and 1000 (got -5)").wait_for(timeout=60_000)
        wait_until_idle(page)
        assert save.is_disabled()
        save.click(force=True)  # a click on the disabled button does nothing
        wait_until_idle(page)
        assert page.get_by_text("Saved", exact=True).count() == 0  # the badge says "1 invalid"
        assert page.get_by_text("1 invalid", exact=False).count() >= 1
        assert page.get_by_text("Saved. Comparisons use", exact=False).count() == 0

        box.fill("7")
        box.press("Enter")
        page.get_by_text("must be between 0 and 1000").wait_for(state="detached", timeout=60_000)
        wait_until_idle(page)
        assert save.is_enabled()
    assert not (private_home / "configs").exists() or not any((private_home / "configs").iterdir())
