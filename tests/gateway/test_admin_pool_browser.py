"""The live pool page in a real browser, under the real CSP: it draws itself from the JSON."""

from __future__ import annotations

import os
import re

import pytest
from playwright.sync_api import expect

from gateway.telemetry import NO_LOAD_METRICS
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]


def test_the_pool_page_redraws_itself_from_the_live_pool(page, daphne_url, make_user):
    admin = make_user("admin@example.com", is_staff=True)
    problems: list[str] = []

    def on_console(message):
        # CSP violations are console errors; so is a missing favicon, which is none of ours.
        if message.type == "error" and "status of 404" not in message.text:
            problems.append(message.text)

    def on_response(response):
        if response.status >= 400 and not response.url.endswith("/favicon.ico"):
            problems.append(f"{response.status} {response.url}")

    page.on("console", on_console)
    page.on("response", on_response)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    pool = f"{daphne_url}/admin/gateway/worker/pool/"
    page.goto(f"{daphne_url}/admin/login/?next=/admin/gateway/worker/pool/")
    # The admin's sign-in is the product's (accounts/admin_sign_in.py).
    page.fill("#id_login", admin.email)
    page.fill("#id_password", PASSWORD)
    page.click("form button[type=submit]")
    expect(page).to_have_url(pool)
    # Drawn by pool.js from the JSON (which also starts the server's prober if needed).
    table = page.locator("#pool-table")
    expect(table).to_have_attribute("data-refreshed", re.compile(r"^\d+$"), timeout=10_000)
    row = page.locator("#pool-rows tr.up")
    expect(row).to_have_count(1, timeout=10_000)
    expect(row).to_contain_text("aiportal-emulator")
    expect(row).to_contain_text("test-a")
    # And again two seconds later: it keeps polling.
    before = table.get_attribute("data-refreshed")
    expect(table).not_to_have_attribute("data-refreshed", before, timeout=5_000)
    assert problems == []  # no CSP violation, no script error


SHOTS = os.environ.get("AIPORTAL_TEST_SCREENSHOTS")  # a folder: look at the pages by hand


@pytest.fixture
def quiet_pool_url(django_db_blocker, emulator_url):
    """A Daphne whose pool has a worker started with --disable-log-stats beside a normal one."""
    from tests.conftest import _database_url, start_daphne, start_emulator

    quiet, quiet_url = start_emulator("--disable-log-stats", region="test-b")
    with django_db_blocker.unblock():
        database_url = _database_url()
    daphne, url = start_daphne(
        {
            "DATABASE_URL": database_url,
            "AIPORTAL_WORKERS": f"{emulator_url}@test-a,{quiet_url}@test-b",
        }
    )
    yield url
    daphne.stop()
    quiet.stop()


def test_the_pool_page_says_which_worker_has_no_load_metrics(page, quiet_pool_url, make_user):
    admin = make_user("admin@example.com", is_staff=True)
    page.goto(f"{quiet_pool_url}/admin/login/?next=/admin/gateway/worker/pool/")
    page.fill("#id_login", admin.email)
    page.fill("#id_password", PASSWORD)
    page.click("form button[type=submit]")
    quiet = page.locator("#pool-rows tr.quiet")
    expect(quiet).to_have_count(1, timeout=10_000)
    expect(quiet).to_contain_text(NO_LOAD_METRICS)
    expect(quiet).to_contain_text("test-b")
    expect(quiet).not_to_contain_text("down")
    expect(page.locator("#pool-rows tr.up:not(.quiet)")).to_contain_text("test-a")
    for size, viewport in (("desktop", (1440, 900)), ("phone", (390, 844))):
        page.set_viewport_size({"width": viewport[0], "height": viewport[1]})
        for scheme in ("light", "dark"):
            page.emulate_media(color_scheme=scheme)
            expect(quiet.locator(".pool-note")).to_be_visible()
            if SHOTS:
                page.screenshot(path=f"{SHOTS}/pool-no-load-{size}-{scheme}.png", full_page=True)
