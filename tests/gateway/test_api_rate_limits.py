"""Per-minute limits on ``/v1`` as API clients meet them, on the shared Daphne (whose limits
count over a 3 s window: tests/gateway/api_support.py): 429 with Retry-After and OpenAI's
``x-ratelimit-*`` headers, the headers on answers too, a limit set in the admin applied to
the next request, and the official SDK reading the headers and retrying."""

from __future__ import annotations

import time

import httpx
import pytest
from django.test import Client
from django.urls import reverse
from openai import OpenAI

from gateway.models import ApiKey, Policy, UsageRecord
from tests.gateway.api_support import (
    FAST,
    bearer,
    chat,
    fast_passwords,
    key_for,
    usage_settled,
)

pytestmark = pytest.mark.django_db(
    transaction=True, available_apps=["accounts", "gateway", "django.contrib.sessions"]
)


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    fast_passwords(settings)


def ask(api, token: str) -> httpx.Response:
    return httpx.post(
        f"{api.v1}/chat/completions", json=chat(max_tokens=3), headers=bearer(token), timeout=20
    )


def test_a_key_limit_set_in_the_admin_applies_at_once_and_answers_429_with_headers(
    api, owner, make_user
):
    token = key_for(owner)
    key = ApiKey.objects.get(user=owner)
    first = ask(api, token)
    assert first.status_code == 200
    assert not any(name.startswith("x-ratelimit-") for name in first.headers)  # no limit yet

    admin = make_user("boss@example.com", is_staff=True)
    admin.is_superuser = True
    admin.save()
    browser = Client()
    browser.force_login(admin)
    change = reverse("admin:gateway_apikey_change", args=[key.pk])
    saved = browser.post(
        change,
        {"name": key.name, "expires_at_0": "", "expires_at_1": "", "requests_per_minute": "2"},
    )
    assert saved.status_code == 302, saved.content.decode()[:2000]

    answers = [ask(api, token) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[0].headers["x-ratelimit-limit-requests"] == "2"
    assert [a.headers["x-ratelimit-remaining-requests"] for a in answers] == ["1", "0", "0"]
    assert answers[0].headers["x-ratelimit-reset-requests"].endswith("s")
    refused = answers[2]
    error = refused.json()["error"]
    assert (error["type"], error["code"]) == ("rate_limit_error", "rate_limit_exceeded")
    assert error["message"].startswith("This API key may use 2 requests per minute")
    assert 1 <= int(refused.headers["retry-after"]) <= 3
    assert 0 < int(refused.headers["retry-after-ms"]) <= 3000

    time.sleep(int(refused.headers["retry-after-ms"]) / 1000)  # the 3 s window slides on
    assert ask(api, token).status_code == 200
    records = usage_settled(owner, 5)
    outcomes = [r.outcome for r in records]
    assert outcomes.count(UsageRecord.Outcome.REJECTED) == 1
    rejected = next(r for r in records if r.outcome == UsageRecord.Outcome.REJECTED)
    assert (rejected.api_key_id, rejected.model, rejected.prompt_tokens) == (key.pk, FAST, 0)


def test_the_users_limit_spans_their_keys_and_tokens_are_reported(api, owner):
    Policy.objects.create(user=owner, requests_per_minute=2, tokens_per_minute=100_000)
    laptop, server = key_for(owner, name="laptop"), key_for(owner, name="server")
    assert ask(api, laptop).status_code == 200
    second = ask(api, server)
    assert second.status_code == 200
    assert second.headers["x-ratelimit-remaining-requests"] == "0"
    assert second.headers["x-ratelimit-limit-tokens"] == "100000"
    remaining = int(second.headers["x-ratelimit-remaining-tokens"])
    assert 100_000 - 200 < remaining < 100_000
    refused = ask(api, laptop)
    assert refused.status_code == 429
    assert refused.json()["error"]["message"].startswith("You may use 2 requests per minute")
    usage_settled(owner, 3)


def test_the_openai_sdk_reads_the_headers_and_retries_after_a_429(api, owner):
    token = key_for(owner)
    key = ApiKey.objects.get(user=owner)
    key.requests_per_minute = 1
    key.save()
    client = OpenAI(base_url=api.v1, api_key=token, max_retries=2, timeout=20)
    raw = client.chat.completions.with_raw_response.create(
        model=FAST, messages=[{"role": "user", "content": "Hi"}], max_tokens=3
    )
    assert raw.headers["x-ratelimit-limit-requests"] == "1"
    assert raw.headers["x-ratelimit-remaining-requests"] == "0"
    assert raw.parse().choices[0].message.content
    started = time.monotonic()
    # Refused at once, then the SDK waits as retry-after-ms says and the retry is answered.
    again = client.chat.completions.create(
        model=FAST, messages=[{"role": "user", "content": "Hi"}], max_tokens=3
    )
    assert again.choices[0].message.content
    assert time.monotonic() - started < 8
    outcomes = sorted(r.outcome for r in usage_settled(owner, 3))
    assert outcomes == sorted(["complete", "complete", "rejected"])
