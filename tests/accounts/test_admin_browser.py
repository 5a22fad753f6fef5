"""The Django admin as an administrator sees it, in a real browser: adding a user who then
signs in, the branding and section names on the home page, its links to the live pages.
Screenshots go to AIPORTAL_TEST_SCREENSHOTS when it is set."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import PASSWORD
from tests.pages.viewport import resize

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]

SHOTS = os.environ.get("AIPORTAL_TEST_SCREENSHOTS")


def shoot(page: Page, name: str) -> None:
    """Desktop and phone, light and dark, when screenshots are asked for."""
    if not SHOTS:
        return
    Path(SHOTS).mkdir(parents=True, exist_ok=True)
    for size_name, size in (("desktop", (1440, 900)), ("phone", (390, 844))):
        resize(page, {"width": size[0], "height": size[1]})
        for scheme in ("light", "dark"):
            page.emulate_media(color_scheme=scheme)
            page.screenshot(path=f"{SHOTS}/{name}-{size_name}-{scheme}.png", full_page=True)
    resize(page, {"width": 1280, "height": 900})
    page.emulate_media(color_scheme="light")


def admin_sign_in(page: Page, url: str, email: str, path: str = "/admin/") -> None:
    page.goto(f"{url}/admin/login/?next={path}")
    page.fill("#id_login", email)
    page.fill("#id_password", PASSWORD)
    page.click("form button[type=submit]")
    expect(page).to_have_url(f"{url}{path}")


def test_a_user_added_in_the_admin_signs_in_with_their_email(page, daphne_url, make_user):
    admin = make_user("admin@example.com", is_staff=True)
    admin_sign_in(page, daphne_url, admin.email, "/admin/accounts/user/add/")
    # The form asks for the address people sign in with, not a username.
    expect(page.locator("#id_username")).to_have_count(0)
    page.fill("#id_email", "New.Person@Example.com")
    page.fill("#id_first_name", "New")
    page.fill("#id_password1", "a long fresh password 7")
    page.fill("#id_password2", "a long fresh password 7")
    shoot(page, "user-add")
    page.click("input[name=_save]")
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")

    person = page.context.browser.new_context()
    try:
        other = person.new_page()
        other.goto(f"{daphne_url}/accounts/login/")
        other.fill("#id_login", "new.person@example.com")
        other.fill("#id_password", "a long fresh password 7")
        other.click("form button[type=submit]")
        expect(other).to_have_url(f"{daphne_url}/")
    finally:
        person.close()


def test_the_home_is_aiportals_and_leads_to_the_live_pages(page, daphne_url, make_user):
    admin = make_user("admin@example.com", is_staff=True)
    admin_sign_in(page, daphne_url, admin.email)
    expect(page.locator("#site-name")).to_have_text("aiportal administration")
    expect(page).to_have_title("Administration | aiportal admin")
    headings = page.locator("#content-main .module caption").all_inner_texts()
    assert len(headings) == len({h.casefold() for h in headings}), headings
    assert "SIGN-IN ADDRESSES" in [h.upper() for h in headings]
    shoot(page, "home")
    page.locator("#live-pages").get_by_role("link", name="Worker pool").click()
    expect(page).to_have_url(f"{daphne_url}/admin/gateway/worker/pool/")
    row = page.locator("#pool-rows tr.up")
    expect(row).to_have_count(1, timeout=10_000)
    expect(row.locator(".pool-verdict")).to_have_text("routed")
    # Sixteen columns beside the sidebar: the table scrolls in its box, the page does not.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    shoot(page, "pool")
    page.goto(f"{daphne_url}/admin/gateway/worker/")
    others = page.locator("#pool-others")
    expect(others).to_contain_text("Serving from the environment and DNS (1, read-only here)")
    shoot(page, "workers")


def test_the_usage_page_draws_its_charts_and_fits_a_phone(page, daphne_url, make_user):
    from datetime import timedelta

    from django.utils import timezone

    from gateway.models import UsageRecord

    admin = make_user("admin@example.com", is_staff=True)
    now = timezone.now()
    for n, model in enumerate(["llama-3.1-70b-instruct", "qwen2.5-coder", "mistral-small"] * 8):
        UsageRecord.objects.create(
            user=admin,
            model=model,
            source="title" if n % 5 == 0 else "chat",
            prompt_tokens=200 + 37 * n,
            completion_tokens=90 + 11 * n,
            ttft_ms=120 + 40 * n,
            failovers=n % 4 == 0,
            continued=n % 7 == 0,
            outcome="complete",
            created_at=now - timedelta(days=n % 9),
        )
    admin_sign_in(page, daphne_url, admin.email, "/admin/")
    page.locator("#live-pages").get_by_role("link", name="Usage").click()
    expect(page).to_have_url(f"{daphne_url}/admin/gateway/usagerecord/dashboard/")
    # No beat in this server: the page says the roll-ups are behind, and rolls them up.
    expect(page.locator("#usage-behind")).to_be_visible()
    page.get_by_role("button", name="Roll up today and yesterday now").click()
    expect(page.locator(".messagelist")).to_contain_text("Today and yesterday rolled up")
    # The older days, as `manage.py usage_rollup` does after an upgrade.
    from gateway.usage_rollup import usage_rollup_all

    usage_rollup_all()
    page.get_by_role("link", name="30 days").click()
    expect(page.locator("#usage-behind")).to_have_count(0)
    expect(page.locator(".usage-chart svg")).to_have_count(3)
    expect(page.locator("#usage-table tbody tr")).to_have_count(3)
    shoot(page, "usage")
    resize(page, {"width": 390, "height": 844})
    # The page does not scroll sideways on a phone (the wide table scrolls in its own box).
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
