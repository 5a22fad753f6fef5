"""Costs and per-minute limits as people see them, in a real browser on a desktop and a phone,
light and dark: a person's usage on Settings → API keys, the admin's usage page, and the
admin's forms where the limits are set."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from gateway.keys import apikey_create
from gateway.models import ModelPrice, Policy, UsageRecord
from gateway.usage_rollup import usage_rollup_range
from tests.conftest import PASSWORD
from tests.pages.shots import shots
from tests.pages.viewport import resize

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]


def sign_in(page, base: str, email: str, path: str) -> None:
    page.goto(f"{base}/accounts/login/?next={path}")
    page.fill("#id_login", email)
    page.fill("#id_password", PASSWORD)
    page.click("form button[type=submit]")
    expect(page).to_have_url(f"{base}{path}")


def test_costs_and_limits_on_the_keys_page_and_in_the_admin(page, daphne_url, make_user):
    person = make_user("person@example.com")
    ModelPrice.objects.create(
        model="aiportal-emulator",
        input_per_million=Decimal("0.5"),
        output_per_million=Decimal("1.5"),
    )
    key, _ = apikey_create(user=person, name="nightly batch")
    key.requests_per_minute, key.tokens_per_minute = 30, 20_000
    key.save()
    apikey_create(user=person, name="laptop")
    Policy.objects.create(user=person, requests_per_minute=60, tokens_per_minute=100_000)
    for prompt, completion, outcome in ((120_000, 40_000, "complete"), (0, 0, "rejected")):
        UsageRecord.objects.create(
            user=person, api_key=key, source="api", model="aiportal-emulator",
            outcome=outcome, prompt_tokens=prompt, completion_tokens=completion,
        )  # fmt: skip
    UsageRecord.objects.create(
        user=person, source="chat", model="unpriced-model", outcome="complete",
        prompt_tokens=800, completion_tokens=200,
    )  # fmt: skip
    today = timezone.localdate()
    usage_rollup_range(first=today, last=today)

    sign_in(page, daphne_url, person.email, "/settings/keys/")
    usage = page.locator("#my-usage")
    expect(usage).to_contain_text("0.12 USD")  # 0.06 + 0.06
    expect(page.locator(".keys-table").first).to_contain_text("30 requests · 20,000 tokens")
    expect(page.locator(".usage-intro")).to_contain_text("60 requests · 100,000 tokens")
    shots(page, "keys-usage")
    resize(page, {"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    resize(page, {"width": 1440, "height": 900})

    page.context.clear_cookies()
    admin = make_user("admin@example.com", is_staff=True)
    sign_in(page, daphne_url, admin.email, "/admin/gateway/usagerecord/dashboard/")
    expect(page.locator("#usage-cost")).to_contain_text("0.12 USD")
    shots(page, "admin-usage-cost")
    page.goto(f"{daphne_url}/admin/gateway/apikey/{key.pk}/change/")
    expect(page.locator("#id_requests_per_minute")).to_have_value("30")
    shots(page, "admin-key-limits")
    policy = Policy.objects.get(user=person)
    page.goto(f"{daphne_url}/admin/gateway/policy/{policy.pk}/change/")
    expect(page.locator("#id_tokens_per_minute")).to_have_value("100000")
    shots(page, "admin-policy-limits")
    page.goto(f"{daphne_url}/admin/gateway/modelprice/")
    expect(page.locator("#result_list")).to_contain_text("aiportal-emulator")
    shots(page, "admin-prices")
