"""Every Lua script of the gateway gives the same answers on real Redis and on the embedded
default's server (fakeredis running the same Lua): each test runs once per backend with the
same expectations. The scripts: lease sets (acquire, renew, count; the guarded acquire is in
test_lease_guarded.py), in-flight counts, the prober's lock (renew, publish, release) and
the budget counters."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from gateway.admission import budget_add, budget_used
from gateway.callers import Caller
from gateway.inflight import inflight_counts, inflight_counts_sync, inflight_key
from gateway.redis import (
    lease_acquire,
    lease_count,
    lease_held,
    lease_release,
    lease_renew,
    redis_client,
    redis_key,
    redis_memory_reset,
    redis_sync,
)
from gateway.telemetry.election import LeaderLock

A, B = "http://127.0.0.1:7101", "http://127.0.0.1:7102"


@pytest.fixture(params=["redis", "embedded"])
def backend(request: pytest.FixtureRequest, settings: Any) -> Iterator[str]:
    """Real Redis (the suite's REDIS_URL) or the embedded server, under a prefix of the
    test's own; Redis keys are deleted after it, the embedded server emptied before it."""
    if request.param == "embedded":
        settings.REDIS_URL = ""
        redis_memory_reset()
    else:
        assert settings.REDIS_URL, "the suite runs with Redis (./dev test provides it)"
    settings.REDIS_PREFIX = f"{settings.REDIS_PREFIX}-scripts-{uuid.uuid4().hex[:8]}"
    yield request.param
    client = redis_sync()
    doomed = list(client.scan_iter(match=f"{settings.REDIS_PREFIX}:*", count=500))
    if doomed:
        client.delete(*doomed)


async def test_a_lease_set_holds_up_to_its_limit_and_frees_what_expires(backend: str) -> None:
    key = redis_key("test", "lease")
    assert await lease_acquire(key, "a", ttl=0.3, limit=2)
    assert await lease_acquire(key, "b", ttl=5, limit=2)
    # The set outlives the lease just taken by a second, and no more.
    assert 5_000 < await redis_client().pttl(key) <= 6_000
    assert not await lease_acquire(key, "c", ttl=5, limit=2)
    assert await lease_acquire(key, "a", ttl=0.3, limit=2)  # a member already in keeps its slot
    assert await lease_count(key) == 2

    await asyncio.sleep(0.4)
    assert await lease_count(key) == 1
    assert not await lease_renew(key, "a", ttl=5)  # expired: its slot went to whoever asks
    assert await lease_renew(key, "b", ttl=5)
    assert await lease_acquire(key, "c", ttl=5, limit=2)
    assert not await lease_acquire(key, "d", ttl=5, limit=2)
    assert await lease_acquire(key, "d", ttl=5)  # no limit
    await lease_release(key, "b")
    assert await lease_count(key) == 2


async def test_a_held_lease_is_renewed_in_the_background_until_the_block_ends(backend: str) -> None:
    key = redis_key("test", "held")
    async with lease_held(key, "a", ttl=0.3, limit=1) as held:
        assert held
        await asyncio.sleep(0.5)  # past its first lifetime: the keeper renewed it
        assert await lease_count(key) == 1
        async with lease_held(key, "b", ttl=0.3, limit=1) as second:
            assert not second
    assert await lease_count(key) == 0


async def test_in_flight_counts_prune_expired_leases_for_async_and_sync_readers(
    backend: str,
) -> None:
    assert await lease_acquire(inflight_key(A), "one", ttl=5)
    assert await lease_acquire(inflight_key(A), "two", ttl=0.2)
    assert await lease_acquire(inflight_key(B), "three", ttl=0.2)
    # The sync client (admin views) sees what the async one wrote: one server per process.
    assert await inflight_counts([A, B]) == inflight_counts_sync([A, B]) == {A: 2, B: 1}

    await asyncio.sleep(0.3)
    assert await inflight_counts([A, B]) == {A: 1, B: 0}
    assert inflight_counts_sync([B, A]) == {A: 1, B: 0}
    assert await redis_client().zcard(inflight_key(A)) == 1  # pruned, not only skipped


async def test_the_prober_lock_answers_only_its_holder(backend: str) -> None:
    key, snapshot = redis_key("test", "prober"), redis_key("test", "snapshot")
    old = LeaderLock(key, ttl=0.2, token="old")
    assert await old.acquire()
    assert await old.renew()
    assert await old.publish(snapshot, "first", ttl_ms=10_000)
    assert await redis_client().get(snapshot) == "first"
    assert 9_000 < await redis_client().pttl(snapshot) <= 10_000

    await asyncio.sleep(0.3)  # its lease runs out
    new = LeaderLock(key, ttl=5, token="new")
    assert await new.acquire()
    assert not await old.renew()
    assert not await old.publish(snapshot, "stale", ttl_ms=10_000)
    assert await redis_client().get(snapshot) == "first"
    await old.release()  # must not delete the new holder's lock
    assert await redis_client().get(key) == "new"
    assert 4_000 < await redis_client().pttl(key) <= 5_000
    await new.release()
    assert await redis_client().get(key) is None


async def test_budget_counters_that_exist_are_counted_and_missing_ones_seeded(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gateway import admission

    # The day's usage records, without a database: 3 tokens for whoever is asked about.
    monkeypatch.setattr(admission, "_usage_since", lambda **_: 3)
    caller = Caller(user_id=424243, group_ids=frozenset({91, 92}))
    await budget_add(caller, 5)  # none exists: each is seeded from the records first
    assert await _counters(caller) == [8, 8, 8]

    await redis_client().delete(redis_key("budget", "group", 92, _today()))
    await budget_add(caller, 7)  # two counted at once, one seeded
    assert await _counters(caller) == [15, 15, 10]
    assert caller.user_id is not None
    ttl = await redis_client().ttl(redis_key("budget", "user", caller.user_id, _today()))
    assert 2 * 86400 - 5 < ttl <= 2 * 86400


async def _counters(caller: Caller) -> list[int]:
    """Today's counters of the caller and of its groups 91 and 92."""
    return [
        await budget_used(user_id=caller.user_id),
        await budget_used(group_id=91),
        await budget_used(group_id=92),
    ]


def _today() -> str:
    return datetime.now(UTC).strftime("%Y%m%d")
