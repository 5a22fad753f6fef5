"""Settings → API keys in a real browser, on a desktop and a phone, light and dark: the page
reads as one card (no gap where the table would be) and its form controls match."""

from __future__ import annotations

import os

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD
from tests.pages.viewport import resize

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]

SHOTS = os.environ.get("AIPORTAL_TEST_SCREENSHOTS")  # a folder: look at the pages by hand
SIZES = {"desktop": (1440, 900), "phone": (390, 844)}


def test_the_keys_page_without_keys_reads_as_one_card(page, daphne_url, make_user):
    person = make_user("person@example.com")
    page.goto(f"{daphne_url}/accounts/login/?next=/settings/keys/")
    page.fill("#id_login", person.email)
    page.fill("#id_password", PASSWORD)
    page.click("form button[type=submit]")
    expect(page).to_have_url(f"{daphne_url}/settings/keys/")
    for size, (width, height) in SIZES.items():
        resize(page, {"width": width, "height": height})
        for scheme in ("light", "dark"):
            page.emulate_media(color_scheme=scheme)
            page.reload()
            intro = page.locator(".keys-intro").bounding_box()
            empty = page.locator(".empty").bounding_box()
            assert intro and empty
            # The "no keys yet" line follows the text, not a fifth of the screen below it.
            assert empty["y"] - (intro["y"] + intro["height"]) < 40, (size, scheme)
            name = page.locator("#id_name").bounding_box()
            expires = page.locator("#id_expires").bounding_box()
            assert name and expires
            assert abs(name["height"] - expires["height"]) <= 4, (size, scheme)
            colours = page.locator("#id_expires").evaluate(
                """(node) => [getComputedStyle(node).color,
                    getComputedStyle(node).backgroundColor]"""
            )
            assert colours[0] != colours[1]
            if SHOTS:
                page.screenshot(path=f"{SHOTS}/keys-empty-{size}-{scheme}.png", full_page=True)


LINES = """(cell) => {
    // Each word of the cell's text on one line: a word split across lines ("Exp-ires") gives
    // a word more than one box.
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    const split = [];
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        for (const match of node.textContent.matchAll(/\\S+/g)) {
            const range = document.createRange();
            range.setStart(node, match.index);
            range.setEnd(node, match.index + match[0].length);
            if (range.getClientRects().length > 1) split.push(match[0]);
        }
    }
    return split;
}"""


def test_on_a_phone_the_keys_table_keeps_its_words_whole(page, daphne_url, make_user):
    """The card breaks long tokens anywhere (overflow-wrap) and the table's words broke with
    them on a phone: "Exp-ires", "Nev-er", "Revok-ed". Only the key's prefix may break."""
    person = make_user("person@example.com")
    resize(page, {"width": 390, "height": 844})
    page.goto(f"{daphne_url}/accounts/login/?next=/settings/keys/")
    page.fill("#id_login", person.email)
    page.fill("#id_password", PASSWORD)
    page.click("form button[type=submit]")
    expect(page).to_have_url(f"{daphne_url}/settings/keys/")
    for name in ("ci", "laptop scripts"):
        page.fill("#id_name", name)
        page.click(".keys-create button[type=submit]")
        page.goto(f"{daphne_url}/settings/keys/")
    page.get_by_role("button", name="Revoke").first.click()
    expect(page.locator(".flash")).to_contain_text("is revoked")
    cells = page.locator(".keys-table th:visible, .keys-table td:visible:not(:nth-child(2))")
    split = {word for cell in cells.all() for word in cell.evaluate(LINES)}
    assert not split, split
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
