"""The main pages in French, at desktop and phone size, light and dark: French runs about a
fifth longer than English, and a label that fitted may now overflow, overlap or be cut off.
The same pages and the same measure as tests/checks/test_layout_browser.py; screenshots go
to the test's tmp dir and to AIPORTAL_SCREENSHOTS, if set."""

from __future__ import annotations

import pytest

from tests.checks.pages import DESKTOP, PHONE, THEMES, Check, site, walk
from tests.checks.test_layout_browser import layout_report, page_problems, screenshot_folders

pytestmark = pytest.mark.browser


@pytest.mark.usefixtures("transactional_db")
@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_the_main_pages_fit_in_french(page, chromium, daphne_url, owner, theme, size, tmp_path):
    # ``page`` first: it lets the ORM run beside Playwright's loop (tests/conftest.py).
    viewport = DESKTOP if size == "desktop" else PHONE
    shots = screenshot_folders(tmp_path)
    found: dict[str, list[str]] = {}
    # Preferences too: its language menu and the longest French help texts.
    checks = [*site(owner), Check("preferences", "/settings/preferences/", "main h1")]
    for check, tab in walk(
        chromium,
        checks,
        theme=theme,
        viewport=viewport,
        base_url=daphne_url,
        email=owner.email,
        locale="fr-FR",
    ):
        # The page really is in French: the layout below is French text's.
        assert tab.evaluate("document.documentElement.lang") == "fr", check.name
        label = f"fr-{{check}}-{{state}}-{size}-{theme}.png"
        problems = page_problems(tab, check.name, shots, label)
        found.update({f"{where} ({size}, {theme})": p for where, p in problems.items()})
    assert not found, layout_report("layout problems in French", found)
