"""The messages a page shows after an action ("Successfully signed in", "The key … is revoked",
"Your preferences are saved", "Created …") in Chromium, checked by axe-core: each list of
them sits inside a live region. With role=status on the <ul> itself, the list is no list any
more and its items are list items outside any list (axe: listitem, aria-allowed-role)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.chat.test_browser import sign_in
from tests.checks.pages import DESKTOP, new_context
from tests.checks.test_axe_browser import violations_of

pytestmark = pytest.mark.browser

LIST_RULES = {"listitem", "list", "aria-allowed-role"}


def _list_rules(tab: Page, selector: str, text: str) -> set[str]:
    """The list rules axe finds while the message is on screen, and that it is announced."""
    expect(tab.locator(selector)).to_contain_text(text)
    rules = {v["rule"] for v in violations_of(tab)} & LIST_RULES
    if not tab.locator(f"[role=status] > {selector}").count():
        rules.add("not inside a live region")
    return rules


@pytest.mark.usefixtures("transactional_db")
def test_the_messages_after_an_action_are_a_list_inside_a_live_region(
    page, chromium, daphne_url, owner
):
    context = new_context(chromium, theme="light", viewport=DESKTOP, base_url=daphne_url)
    found: dict[str, set[str]] = {}
    try:
        tab = context.new_page()
        sign_in(tab, daphne_url, owner.email)
        # The chat has no place for it in a card: the notice over the page (_messages.html).
        found["chat"] = _list_rules(tab, "ul.flash-toast", "signed in")

        tab.goto("/settings/keys/")
        tab.fill("#id_name", "laptop")
        tab.click(".keys-create button[type=submit]")
        tab.goto("/settings/keys/")
        tab.get_by_role("button", name="Revoke").click()
        found["api-keys"] = _list_rules(tab, "ul.flash", "is revoked")

        tab.goto("/settings/preferences/")
        tab.click(".preferences-form button[type=submit]")
        found["preferences"] = _list_rules(tab, "ul.flash", "preferences are saved")

        tab.goto("/datasets/")
        tab.fill("#id_name", "Handbook")
        tab.click("#dataset-create button[type=submit]")
        found["datasets"] = _list_rules(tab, "ul.flash", "Created")
    finally:
        context.close()
    assert not any(found.values()), found
