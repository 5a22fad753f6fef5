"""Account pages in Chromium: the theme saved in Preferences on every page, the default-model
menu filled with the models one may use, the sign-in message shown over the chat once, the
re-authentication page in the product's words, and the 404 page in the product's card."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.chat.test_browser import sign_in
from tests.conftest import PASSWORD
from tests.pages.shots import shots

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]
DARK_BACKGROUND = "rgb(22, 24, 28)"  # --bg of the dark theme (static/chat/chat.css)


def _background(page) -> str:
    return page.evaluate("getComputedStyle(document.body).backgroundColor")


def test_the_saved_theme_and_default_model_apply_everywhere(page, daphne_url, owner):
    page.emulate_media(color_scheme="light")
    sign_in(page, daphne_url, owner.email)
    # The sign-in message shows over the chat, then is gone.
    toast = page.locator(".flash-toast")
    expect(toast).to_contain_text("Successfully signed in")
    # Over the top of the chat, it must not take the clicks meant for what is under it.
    assert toast.evaluate("e => getComputedStyle(e).pointerEvents") == "none"
    shots(page, "chat-signed-in")
    page.goto(f"{daphne_url}/settings/preferences/")
    menu = page.locator("#id_default_model")
    expect(menu).to_have_attribute("data-loaded", "true")
    served = [o for o in menu.locator("option").all_inner_texts() if o != "The admins' default"]
    assert served, "the models the emulator serves are offered"
    menu.select_option(served[0])
    page.fill("#id_custom_instructions", "Answer briefly.")
    page.get_by_label("Dark").check()
    page.click(".preferences-form button[type=submit]")
    expect(page.locator(".flash")).to_contain_text("Your preferences are saved")
    shots(page, "preferences")
    for path in ("/datasets/", "/settings/keys/", "/"):
        page.goto(f"{daphne_url}{path}")
        assert _background(page) == DARK_BACKGROUND, path
    assert "Successfully signed in" not in page.content()
    assert (
        page.evaluate("JSON.parse(document.getElementById('chat-data').textContent).model")
        == (served[0])
    )


def test_the_confirm_access_page_and_the_404_page_look_like_the_product(page, daphne_url, owner):
    sign_in(page, daphne_url, owner.email)
    page.goto(f"{daphne_url}/accounts/reauthenticate/")
    expect(page.get_by_role("heading", name="Confirm it's you")).to_be_visible()
    expect(page.locator(".auth-card")).to_be_visible()
    shots(page, "reauthenticate")
    page.fill("#id_password", PASSWORD)
    page.click("main form button[type=submit]")
    page.goto(f"{daphne_url}/no-such-page/")
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    shots(page, "not-found")
    page.get_by_role("link", name="Back to chat").click()
    expect(page).to_have_url(re.compile(rf"{re.escape(daphne_url)}/$"))


def test_the_sign_in_page_words_remember_me_like_the_product(page, daphne_url, db):
    page.goto(f"{daphne_url}/accounts/login/")
    box = page.get_by_label("Keep me signed in on this browser")
    expect(box).to_be_visible()
    label = page.locator("label[for=id_remember]")
    expect(label).to_have_text("Keep me signed in on this browser")  # no "Remember Me:"
    assert box.bounding_box()["x"] < label.bounding_box()["x"]  # the box first
    shots(page, "sign-in")
