"""Requests and tokens per minute, per API key and per user (gateway/rate_limits.py): the
limiter on real Redis and on the embedded server, tokens settled from a real answer."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async

from gateway.callers import Caller, Limits, RateReport
from gateway.errors import OverRateLimit
from gateway.models import Policy
from gateway.rate_limits import (
    duration_text,
    prompt_tokens_estimate,
    rate_admit,
    rate_headers,
    rate_settle,
)
from tests.gateway.proxy_support import (  # noqa: F401
    QUESTION,
    chat_collect,
    emulators_fixture,
    gateway_isolated_fixture,
)


@pytest.fixture(params=["redis", "embedded"])
def store(request, settings):
    """Each test on the project's Redis and on the embedded default's fakeredis server."""
    if request.param == "embedded":
        settings.REDIS_URL = ""
    return request.param


async def test_two_keys_of_one_user_have_their_own_limits_and_share_the_users(store):
    user_limits = Limits(requests_per_minute=3)
    key_a = Caller(user_id=7, api_key_id=1, key_requests_per_minute=1)
    key_b = Caller(user_id=7, api_key_id=2, key_requests_per_minute=5)
    await rate_admit(key_a, user_limits, prompt_tokens=1)
    with pytest.raises(OverRateLimit) as caught:
        await rate_admit(key_a, user_limits, prompt_tokens=1)
    assert (caught.value.scope, caught.value.kind, caught.value.status) == ("key", "requests", 429)
    assert caught.value.code == "rate_limit_exceeded"
    assert caught.value.detail.startswith("This API key may use 1 requests per minute")
    # Key B has room of its own; together the two keys reach the user's three.
    await rate_admit(key_b, user_limits, prompt_tokens=1)
    await rate_admit(key_b, user_limits, prompt_tokens=1)
    with pytest.raises(OverRateLimit) as caught:
        await rate_admit(key_b, user_limits, prompt_tokens=1)
    assert caught.value.scope == "user"
    assert 1 <= caught.value.retry_after <= 60
    # Another user, and the first user's limits on a user of their own, are untouched.
    await rate_admit(Caller(user_id=8, api_key_id=3), user_limits, prompt_tokens=1)


async def test_tokens_take_the_estimate_at_admission_and_the_real_usage_after(store):
    limits = Limits(tokens_per_minute=100)

    async def room() -> int:
        caller = Caller(user_id=7, rate_report=RateReport())
        await rate_admit(caller, limits, prompt_tokens=1)  # costs 1 token itself
        return caller.rate_report.windows["tokens"].remaining + 1

    caller = Caller(user_id=7, rate_report=RateReport())
    taken = await rate_admit(caller, limits, prompt_tokens=10)
    assert taken == 10
    assert caller.rate_report.windows["tokens"].remaining == 90
    await rate_settle(caller, limits, tokens=70, taken=taken)  # 60 more than the estimate
    assert await room() == 30 - 1 + 1
    with pytest.raises(OverRateLimit) as caught:
        await rate_admit(Caller(user_id=7), limits, prompt_tokens=40)  # does not fit
    assert caught.value.kind == "tokens"
    # An answer far beyond the limit fills the window, and the next request waits.
    await rate_settle(Caller(user_id=7), limits, tokens=500, taken=0)
    with pytest.raises(OverRateLimit):
        await rate_admit(Caller(user_id=7), limits, prompt_tokens=1)


async def test_a_window_that_has_passed_admits_again(settings):
    settings.AIPORTAL_RATE_LIMIT_WINDOW = 1
    limits = Limits(requests_per_minute=1)
    await rate_admit(Caller(user_id=7), limits, prompt_tokens=1)
    with pytest.raises(OverRateLimit) as caught:
        await rate_admit(Caller(user_id=7), limits, prompt_tokens=1)
    await asyncio.sleep(caught.value.retry_after)  # a second: the shortest window there is
    await rate_admit(Caller(user_id=7), limits, prompt_tokens=1)


@pytest.mark.django_db(transaction=True)
async def test_a_chat_answers_real_tokens_count_against_the_users_minute(emulators, pool, owner):
    pool(f"{emulators()}@test-a")
    await sync_to_async(Policy.objects.create)(user=owner, tokens_per_minute=10_000)
    _, finished = await chat_collect(messages=QUESTION, max_tokens=30, user=owner)
    used = finished.usage["prompt_tokens"] + finished.usage["completion_tokens"]
    assert finished.usage["completion_tokens"] == 30
    probe = Caller(user_id=owner.pk, rate_report=RateReport())
    await rate_admit(probe, Limits(tokens_per_minute=10_000), prompt_tokens=1)
    # The estimate taken at admission was settled to the answer's real usage.
    assert probe.rate_report.windows["tokens"].remaining == 10_000 - used - 1


async def test_titles_and_embeddings_made_for_the_user_are_not_counted(store):
    limits = Limits(requests_per_minute=1, tokens_per_minute=1)
    for source in ("title", "embed", "title"):
        await rate_admit(Caller(user_id=7, usage_source=source), limits, prompt_tokens=50)
    await rate_admit(Caller(user_id=7), limits, prompt_tokens=1)


def test_the_headers_say_the_tightest_limit_as_openai_writes_them():
    report = RateReport()
    assert rate_headers(report) == {} and rate_headers(None) == {}
    from gateway.callers import RateWindow

    report.windows["requests"] = RateWindow(limit=60, remaining=59, reset_seconds=0.25)
    report.windows["tokens"] = RateWindow(limit=1000, remaining=0, reset_seconds=360)
    assert rate_headers(report) == {
        "x-ratelimit-limit-requests": "60",
        "x-ratelimit-remaining-requests": "59",
        "x-ratelimit-reset-requests": "250ms",
        "x-ratelimit-limit-tokens": "1000",
        "x-ratelimit-remaining-tokens": "0",
        "x-ratelimit-reset-tokens": "6m0s",
    }
    assert duration_text(1.5) == "1.5s"
    body = {
        "messages": [
            {"role": "user", "content": "x" * 40},
            {"role": "user", "content": [{"type": "text", "text": "y" * 8}]},
        ]
    }
    assert prompt_tokens_estimate(body) == 12
    assert prompt_tokens_estimate({"input": "abcd" * 5}) == 5
