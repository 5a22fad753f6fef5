"""The live pool page in a real browser, under the real CSP: it draws itself from the JSON."""

from __future__ import annotations

import os
import re

import pytest
from playwright.sync_api import expect

from gateway.telemetry import NO_LOAD_METRICS
from tests.conftest import PASSWORD
from tests.pages.viewport import resize

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
    # The admin's sign-in is the product's (accounts/signin/admin_sign_in.py).
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
        resize(page, {"width": viewport[0], "height": viewport[1]})
        for scheme in ("light", "dark"):
            page.emulate_media(color_scheme=scheme)
            expect(quiet.locator(".pool-note")).to_be_visible()
            if SHOTS:
                page.screenshot(path=f"{SHOTS}/pool-no-load-{size}-{scheme}.png", full_page=True)


@pytest.fixture
def cache_pool(django_db_blocker):
    """A Daphne whose pool has a worker that reports cached tokens (vLLM's
    --enable-prompt-tokens-details, model "cached") beside one that does not."""
    from tests.conftest import _database_url, start_daphne, start_emulator

    details, details_url = start_emulator(
        "--enable-prompt-tokens-details", "--model", "cached", "--kv-cache-blocks", "8192"
    )
    plain, plain_url = start_emulator("--model", "plain", region="test-b")
    with django_db_blocker.unblock():
        database_url = _database_url()
    daphne, url = start_daphne(
        {
            "DATABASE_URL": database_url,
            "AIPORTAL_WORKERS": f"{details_url}@test-a,{plain_url}@test-b",
        }
    )
    yield url
    daphne.stop()
    plain.stop()
    details.stop()


def test_the_pool_page_shows_kv_capacity_and_prefix_cache_hit_rates(page, cache_pool, make_user):
    import httpx

    from tests.gateway.api_support import bearer, key_for, usage_settled

    admin = make_user("admin@example.com", is_staff=True)
    token = key_for(admin)
    # A conversation's turns, each a prefix of the next: the worker's cache serves the rest.
    messages = [{"role": "system", "content": "You answer questions about sourdough. " * 60}]
    for model in ("cached", "plain"):
        for turn in range(3):
            messages = [*messages, {"role": "user", "content": f"Question {turn}?"}]
            body = {"model": model, "messages": messages, "max_tokens": 8}
            response = httpx.post(
                f"{cache_pool}/v1/chat/completions", json=body, headers=bearer(token), timeout=20
            )
            assert response.status_code == 200, response.text
            answer = response.json()["choices"][0]["message"]["content"]
            messages = [*messages, {"role": "assistant", "content": answer}]
    records = usage_settled(admin, 6)
    assert [r.cached_tokens is None for r in records].count(True) == 3  # the plain worker's

    page.goto(f"{cache_pool}/admin/login/?next=/admin/gateway/worker/pool/")
    page.fill("#id_login", admin.email)
    page.fill("#id_password", PASSWORD)
    page.click("form button[type=submit]")
    rows = page.locator("#pool-rows tr.up")
    expect(rows).to_have_count(2, timeout=10_000)
    cached, plain = rows.filter(has_text="test-a"), rows.filter(has_text="test-b")
    expect(cached).to_contain_text("131,072 tokens")  # 8,192 blocks of 16
    expect(cached).to_contain_text(re.compile(r"[1-9]\d? % requests"))
    expect(cached).to_contain_text(re.compile(r"[1-9]\d? % worker"))
    # The plain worker does not report cached tokens: unknown, not 0 %; its own counters do.
    expect(plain).to_contain_text("— requests")
    expect(plain).to_contain_text(re.compile(r"[1-9]\d? % worker"))
    for size, viewport in (("desktop", (1440, 900)), ("phone", (390, 844))):
        resize(page, {"width": viewport[0], "height": viewport[1]})
        for scheme in ("light", "dark"):
            page.emulate_media(color_scheme=scheme)
            # On a phone the table scrolls sideways: bring the cache columns into view. In one
            # step inside the page: the live refresh replaces the rows every few seconds, and
            # a row found by one call may be detached by the next.
            page.evaluate(
                """() => [...document.querySelectorAll("#pool-rows tr.up")]
                    .find((row) => row.textContent.includes("test-a"))
                    .querySelector(".pool-hits")
                    .scrollIntoView({block: "nearest", inline: "center"})"""
            )
            expect(cached.locator(".pool-hit").first).to_be_visible()
            if SHOTS:
                page.screenshot(path=f"{SHOTS}/pool-cache-{size}-{scheme}.png", full_page=True)
