"""Settings → API keys in Chromium: a new key is copied with one click; the Expires menu looks
like the field above it."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.chat.test_browser import sign_in
from tests.pages.shots import shots
from tests.pages.viewport import resize

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]


def test_a_new_key_is_copied_with_its_copy_button(page, daphne_url, owner):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=daphne_url)
    sign_in(page, daphne_url, owner.email)
    page.goto(f"{daphne_url}/settings/keys/")
    shots(page, "keys")
    name, expires = page.locator("#id_name"), page.locator("#id_expires")
    # The menu is drawn like the text field: same height, border and background.
    for prop in ("height", "border-top-color", "background-color", "border-radius"):
        assert expires.evaluate(f"e => getComputedStyle(e)['{prop}']") == name.evaluate(
            f"e => getComputedStyle(e)['{prop}']"
        ), prop
    name.fill("laptop")
    page.click(".keys-create button[type=submit]")
    key = page.locator("#new-key").input_value()
    assert key.startswith("aip_")
    shots(page, "key-created")
    # Nothing wider than a phone: the long example line wraps inside the card.
    resize(page, {"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    resize(page, {"width": 1280, "height": 900})
    copy = page.locator("#copy-key")
    expect(copy).to_be_visible()
    copy.click()
    # "Copied" shows for a moment only: the clipboard is what must be right.
    page.wait_for_function("k => navigator.clipboard.readText().then(t => t === k)", arg=key)
