"""Model prices turned into cost on the usage pages: the admin's usage report and a person's
own usage on Settings → API keys (theirs only)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from gateway.models import ModelPrice, UsageRecord
from gateway.usage_report import usage_report
from gateway.usage_rollup import usage_rollup_range

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def priced_usage(owner, member):
    ModelPrice.objects.create(
        model="llama", input_per_million=Decimal("2"), output_per_million=Decimal("6")
    )
    make = UsageRecord.objects.create
    make(user=owner, source="api", model="llama", outcome="complete",
         prompt_tokens=500_000, completion_tokens=100_000)  # fmt: skip
    make(user=owner, source="api", model="llama", outcome="rejected")
    make(user=member, source="chat", model="mistral", outcome="complete",
         prompt_tokens=900, completion_tokens=100)  # fmt: skip
    today = timezone.localdate()
    usage_rollup_range(first=today, last=today)
    return today


def test_the_report_costs_each_row_and_the_total_at_the_models_prices(priced_usage, owner):
    report = usage_report(first=priced_usage, last=priced_usage, split="user")
    rows = {row["key"]: row["cost"] for row in report.table}
    assert rows[owner.email].amount == Decimal("1.6")
    assert rows[owner.email].shown == "1.60 USD"
    assert rows["member@example.com"].amount is None  # mistral has no price: no cost, not 0
    assert report.cost.amount == Decimal("1.6") and report.cost.partial


def test_without_any_price_the_report_has_no_cost(owner):
    today = timezone.localdate()
    UsageRecord.objects.create(user=owner, source="api", model="m", outcome="complete",
                               prompt_tokens=5)  # fmt: skip
    usage_rollup_range(first=today, last=today)
    assert usage_report(first=today, last=today, split="model").cost is None


def test_the_admins_usage_page_shows_the_cost(priced_usage, make_user, settings):
    settings.AIPORTAL_CURRENCY = "EUR"
    admin = make_user("boss@example.com", is_staff=True)
    page = signed_in(admin).get(reverse("admin:gateway_usagerecord_dashboard"), {"split": "model"})
    text = page.content.decode()
    assert page.status_code == 200
    assert 'id="usage-cost"' in text and "1.60 EUR" in text
    assert "models without a price not counted" in text


def test_a_person_sees_their_own_usage_and_cost_and_no_one_elses(priced_usage, owner, outsider):
    mine = signed_in(owner).get(reverse("apikeys:list")).content.decode()
    assert 'id="my-usage"' in mine and "1.60 USD" in mine and "llama" in mine
    assert "mistral" not in mine  # the member's
    theirs = signed_in(outsider).get(reverse("apikeys:list")).content.decode()
    assert "llama" not in theirs and "No usage yet this month." in theirs
