"""``lease_acquire_guarded``: a lease taken only while a guard key holds an expected value,
in one round trip (what lets /v1 confirm its access version and take its stream slot at
once). On real Redis and on the embedded default's fakeredis server."""

from __future__ import annotations

import uuid

import pytest

from gateway.redis import lease_acquire_guarded, lease_count, redis_client, redis_key


@pytest.fixture(params=["redis", "embedded"])
def keys(request, settings):
    if request.param == "embedded":
        settings.REDIS_URL = ""
    run = uuid.uuid4().hex[:8]
    return redis_key("test", "guard", run), redis_key("test", "lease", run)


async def test_the_lease_is_taken_while_the_guard_holds_the_expected_value(keys):
    guard, lease = keys
    await redis_client().set(guard, "v1")

    assert await lease_acquire_guarded(guard, "v1", lease, "a", ttl=5, limit=2) == ("v1", True)
    assert await lease_acquire_guarded(guard, "v1", lease, "b", ttl=5, limit=2) == ("v1", True)
    # Full: refused, and the guard's value is still reported.
    assert await lease_acquire_guarded(guard, "v1", lease, "c", ttl=5, limit=2) == ("v1", False)
    assert await lease_count(lease) == 2
    await redis_client().delete(guard, lease)


async def test_a_guard_that_moved_takes_nothing_and_says_what_it_holds_now(keys):
    guard, lease = keys
    await redis_client().set(guard, "v2")

    assert await lease_acquire_guarded(guard, "v1", lease, "a", ttl=5, limit=0) == ("v2", None)
    assert await lease_count(lease) == 0
    await redis_client().delete(guard, lease)


async def test_an_unset_guard_reads_as_zero_and_without_a_lease_only_the_guard_is_checked(keys):
    guard, _ = keys

    assert await lease_acquire_guarded(guard, "0", None, "a", ttl=5) == ("0", True)
    assert await lease_acquire_guarded(guard, "v1", None, "a", ttl=5) == ("0", None)
