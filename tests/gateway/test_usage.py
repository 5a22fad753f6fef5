"""Usage records: one per request, written without ever failing the request."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from gateway import usage
from gateway.keys import apikey_create
from gateway.models import UsageRecord
from tests.gateway.api_support import fast_passwords

pytestmark = pytest.mark.django_db(
    transaction=True, available_apps=["accounts", "gateway", "django.contrib.sessions"]
)

FIELDS = {
    "model": "m",
    "worker": "gpu1:8000",
    "region": "eu",
    "prompt_tokens": 12,
    "completion_tokens": 30,
    "ttft_ms": 41,
    "duration_ms": 900,
    "outcome": "complete",
    "failovers": 1,
    "continued": True,
}


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    fast_passwords(settings)


@pytest.fixture(autouse=True)
async def _close_thread_connections():
    yield
    # The async ORM ran in asgiref's shared thread: close its connection, or the test
    # database cannot be dropped at the end of the session.
    await sync_to_async(connections.close_all)()


async def test_a_record_holds_what_the_proxy_measured(owner):
    key, _ = await sync_to_async(apikey_create)(user=owner, name="k")
    row = await usage.usage_record(user_id=owner.pk, api_key_id=key.pk, **FIELDS)
    stored = await UsageRecord.objects.aget(pk=row.pk)
    assert stored.user_id == owner.pk and stored.api_key_id == key.pk
    assert stored.source == UsageRecord.Source.API  # it came with a key
    assert (stored.prompt_tokens, stored.completion_tokens, stored.total_tokens) == (12, 30, 42)
    assert (stored.ttft_ms, stored.duration_ms) == (41, 900)
    assert (stored.failovers, stored.continued) == (1, 1)
    assert (stored.model, stored.worker, stored.region) == ("m", "gpu1:8000", "eu")
    assert stored.outcome == UsageRecord.Outcome.COMPLETE


async def test_cached_tokens_are_kept_and_unknown_stays_unknown(owner):
    cached = await usage.usage_record(user_id=owner.pk, cached_tokens=8, **FIELDS)
    unknown = await usage.usage_record(user_id=owner.pk, cached_tokens=None, **FIELDS)
    odd = await usage.usage_record(user_id=owner.pk, cached_tokens=-5, **FIELDS)
    stored = {r.pk: r.cached_tokens async for r in UsageRecord.objects.filter(user=owner)}
    # None is "the worker did not say", not zero tokens from the cache.
    assert stored == {cached.pk: 8, unknown.pk: None, odd.pk: 0}


async def test_a_record_without_a_key_is_the_chats(owner):
    row = await usage.usage_record(user_id=owner.pk, api_key_id=None, **FIELDS)
    assert row.source == UsageRecord.Source.CHAT


async def test_odd_values_are_stored_sanely(owner):
    row = await usage.usage_record(
        user_id=owner.pk,
        model="x" * 500,
        prompt_tokens=None,
        completion_tokens=-3,
        ttft_ms=None,
        duration_ms="oops",
        outcome=None,
    )
    stored = await UsageRecord.objects.aget(pk=row.pk)
    assert len(stored.model) == 200
    assert (stored.prompt_tokens, stored.completion_tokens, stored.duration_ms) == (0, 0, 0)
    assert stored.ttft_ms is None
    assert stored.outcome == UsageRecord.Outcome.ERROR


async def test_it_never_raises_into_the_caller(owner, caplog):
    caplog.set_level(logging.WARNING, logger="gateway.usage")
    # A user that does not exist: the database refuses the row; the caller hears nothing.
    assert await usage.usage_record(user_id=10**9, **FIELDS) is None
    assert "could not write a usage record" in caplog.text
    # Fields nobody knows are left out, with a warning.
    row = await usage.usage_record(user_id=owner.pk, colour="red", **FIELDS)
    assert row is not None and "colour" in caplog.text
    assert await UsageRecord.objects.acount() == 1


async def test_a_record_scheduled_later_outlives_a_cancelled_caller(owner):
    async def stream_cleanup() -> None:
        try:
            await asyncio.sleep(10)
        finally:
            usage.usage_record_later(user_id=owner.pk, **{**FIELDS, "outcome": "stopped"})

    task = asyncio.create_task(stream_cleanup())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await usage.usage_flush()
    stored = await UsageRecord.objects.aget(user_id=owner.pk)
    assert stored.outcome == UsageRecord.Outcome.STOPPED


def test_todays_tokens_sum_one_users_records_since_midnight_utc(owner, member):
    now = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)
    for user, when, tokens in (
        (owner, now - timedelta(hours=1), 10),
        (owner, now.replace(hour=0, minute=0), 5),
        (owner, now.replace(hour=0) - timedelta(seconds=1), 1000),  # yesterday
        (member, now, 2000),
    ):
        usage.usage_record_sync(
            user_id=user.pk, prompt_tokens=tokens, completion_tokens=tokens, created_at=when
        )
    assert usage.usage_tokens_today(user_id=owner.pk, now=now) == 30
    assert usage.usage_tokens_today(user_id=member.pk, now=now) == 4000


async def test_records_queued_together_are_written_in_one_insert(owner, monkeypatch):
    calls = []
    original = UsageRecord.objects.bulk_create

    def spy(rows, *args, **kwargs):
        calls.append(len(rows))
        return original(rows, *args, **kwargs)

    monkeypatch.setattr(UsageRecord.objects, "bulk_create", spy)
    for _ in range(5):
        usage.usage_record_later(user_id=owner.pk, **FIELDS)
    await usage.usage_flush()
    assert calls == [5]
    assert await UsageRecord.objects.filter(user_id=owner.pk).acount() == 5


async def test_a_refused_record_does_not_lose_the_rest_of_its_batch(owner, caplog):
    caplog.set_level(logging.WARNING, logger="gateway.usage")
    usage.usage_record_later(user_id=owner.pk, **FIELDS)
    usage.usage_record_later(user_id=10**9, **FIELDS)  # no such user: the batch is refused
    usage.usage_record_later(user_id=owner.pk, **{**FIELDS, "outcome": "stopped"})
    await usage.usage_flush()
    outcomes = [row.outcome async for row in UsageRecord.objects.order_by("outcome")]
    assert outcomes == ["complete", "stopped"]
    assert "refused" in caplog.text and "could not write a usage record" in caplog.text
