"""What a person sees, in headless Chromium against a real Daphne: setting up an
authenticator app from the page, then signing in with a code from it, or with a recovery
code; a wrong code is refused. And the sessions page, where a session is signed out. (Being
sent to enrol by the policy is tested in test_mfa.py, without a browser.)"""

from __future__ import annotations

import os
import re

import pytest
from playwright.sync_api import expect

from tests.accounts.mfa_fixtures import PASSWORD, totp_code

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]
SHOTS = os.environ.get("AIPORTAL_TEST_SCREENSHOTS")  # a folder: look at the pages by hand


def _shot(page, name: str) -> None:
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/{name}.png", full_page=True)


def _password_step(page, base_url: str, email: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.fill("#id_login", email)
    page.fill("#id_password", PASSWORD)
    page.click("form button[type=submit]")


def _sign_out(page, base_url: str) -> None:
    page.goto(f"{base_url}/accounts/logout/")
    page.click("main form button[type=submit]")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))


def _wrong_code(secret: str) -> str:
    # Any six digits that are none of the codes the server accepts now (one period either
    # side); decided, not drawn, so the test cannot pass or fail by luck.
    valid = {totp_code(secret, steps_ahead=step) for step in (-1, 0, 1, 2)}
    return next(code for code in ("000000", "111111", "222222") if code not in valid)


def _code_step(page, code: str) -> None:
    expect(page).to_have_url(re.compile(r"/accounts/2fa/authenticate/"))
    page.fill("input[name=code]", code)
    page.click("form.mfa-code-form button[type=submit]")


def test_a_person_enrols_an_authenticator_app_then_signs_in_with_its_code_or_a_recovery_code(
    page, daphne_url, owner
):
    base = daphne_url
    admin = owner
    _password_step(page, base, admin.email)
    expect(page).to_have_url(f"{base}/")
    page.goto(f"{base}/accounts/2fa/")
    _shot(page, "mfa-index-off")
    page.get_by_role("link", name="Set up an authenticator app").click()
    # allauth asks for the password once more before a factor is added.
    expect(page).to_have_url(re.compile(r"/accounts/reauthenticate/"))
    _shot(page, "mfa-reauthenticate")
    page.fill("#id_password", PASSWORD)
    page.click("main form button[type=submit]")
    expect(page).to_have_url(f"{base}/accounts/2fa/totp/activate/")
    expect(page.locator("img.mfa-qr")).to_be_visible()
    _shot(page, "mfa-activate")
    secret = page.locator("#authenticator_secret").input_value()

    # A wrong code does not turn it on.
    page.fill("input[name=code]", _wrong_code(secret))
    page.click("main form button[type=submit]")
    expect(page.locator(".errorlist")).to_contain_text("Incorrect code")

    page.fill("input[name=code]", totp_code(secret))
    page.click("main form button[type=submit]")
    expect(page).to_have_url(f"{base}/accounts/2fa/recovery-codes/")
    codes = page.locator(".mfa-codes code").all_inner_texts()
    assert len(codes) == 10
    _shot(page, "mfa-recovery-codes")
    page.get_by_role("link", name="Done").click()
    expect(page.locator(".mfa-on")).to_be_visible()
    _shot(page, "mfa-index-on")
    page.goto(f"{base}/")
    expect(page.locator("#socket-status")).to_have_attribute("data-state", "connected")

    # Signing in again takes a code: a wrong one is refused, the app's is accepted.
    _sign_out(page, base)
    _password_step(page, base, admin.email)
    _code_step(page, _wrong_code(secret))
    expect(page.locator(".errorlist")).to_contain_text("Incorrect code")
    _shot(page, "mfa-authenticate-wrong")
    # The next period's code: the one used to enrol may not be used twice.
    page.fill("input[name=code]", totp_code(secret, steps_ahead=1))
    page.click("form.mfa-code-form button[type=submit]")
    expect(page).to_have_url(f"{base}/")
    expect(page.locator("#socket-status")).to_have_attribute("data-state", "connected")

    # Without the phone: a recovery code, once.
    _sign_out(page, base)
    _password_step(page, base, admin.email)
    _code_step(page, codes[0])
    expect(page).to_have_url(f"{base}/")
    _sign_out(page, base)
    _password_step(page, base, admin.email)
    _code_step(page, codes[0])
    expect(page.locator(".errorlist")).to_contain_text("Incorrect code")


def test_a_person_signs_out_another_of_their_sessions_from_the_sessions_page(
    page, chromium, daphne_url, member
):
    base = daphne_url
    other = chromium.new_context()
    try:
        other_page = other.new_page()
        _password_step(other_page, base, member.email)
        expect(other_page.locator("#socket-status")).to_have_attribute("data-state", "connected")

        _password_step(page, base, member.email)
        page.goto(f"{base}/accounts/sessions/")
        rows = page.locator(".sessions-table tbody tr")
        expect(rows).to_have_count(2)
        expect(page.locator("tr.current")).to_contain_text("This browser")
        _shot(page, "sessions")
        expect(rows.first).to_contain_text("127.0.0.1")
        page.locator("tr:not(.current)").get_by_role("button", name="Sign out").click()
        expect(page.locator(".flash")).to_contain_text("is signed out")
        expect(rows).to_have_count(1)

        # The other browser's open chat page hears it at once and says it is signed out.
        expect(other_page.locator("#socket-status")).to_have_attribute("data-state", "signed-out")
        other_page.reload()
        expect(other_page).to_have_url(re.compile(r"/accounts/login/"))
    finally:
        other.close()


def test_a_person_adds_a_security_key_and_signs_in_with_it(page, daphne_url, member):
    # WebAuthn needs a host name, not an address, and a secure context: localhost is both.
    base = daphne_url.replace("127.0.0.1", "localhost")
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "usb",
                "hasResidentKey": False,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    _password_step(page, base, member.email)
    expect(page).to_have_url(f"{base}/")
    page.goto(f"{base}/accounts/2fa/")
    page.get_by_role("link", name="Add a security key").click()
    expect(page).to_have_url(re.compile(r"/accounts/reauthenticate/"))
    page.fill("#id_password", PASSWORD)
    page.click("main form button[type=submit]")
    expect(page).to_have_url(f"{base}/accounts/2fa/webauthn/add/")
    _shot(page, "mfa-webauthn-add")
    page.fill("#id_name", "Desk key")
    # allauth's script wires the button on DOMContentLoaded; a click before it does nothing.
    page.wait_for_load_state("domcontentloaded")
    page.click("#mfa_webauthn_add")
    # The first factor comes with recovery codes.
    expect(page).to_have_url(f"{base}/accounts/2fa/recovery-codes/")
    page.goto(f"{base}/accounts/2fa/")
    expect(page.locator(".mfa-panel", has_text="Security keys")).to_contain_text("1 key")

    _sign_out(page, base)
    _password_step(page, base, member.email)
    expect(page).to_have_url(re.compile(r"/accounts/2fa/authenticate/"))
    _shot(page, "mfa-authenticate-webauthn")
    page.wait_for_load_state("domcontentloaded")
    page.get_by_role("button", name="Use a security key").click()
    expect(page).to_have_url(f"{base}/")
    expect(page.locator("#socket-status")).to_have_attribute("data-state", "connected")
