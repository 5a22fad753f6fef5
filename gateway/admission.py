"""May this caller start one more stream now.

- ``budget_check`` / ``budget_add``: per-user and per-group daily token budgets, counted in
  Redis by UTC day (``budget:user:<id>:<YYYYMMDD>``), checked before a request and added to
  after it, so one request may overshoot by its own size.
- ``stream_slot``: the per-user concurrent-stream limit, a lease set in Redis: a crashed web
  process stops renewing its leases and their slots free themselves within the lease time.
  It also confirms, in the same Redis round trip, the policies version a ``/v1`` caller was
  resolved under (gateway/callers.py says why).
- The fair queue that orders waiting requests is gateway/admission_queue.py.

Who the caller is and what their limits are comes from gateway/callers.py. When Redis
cannot be reached, admission fails open (logged): limits and budgets go unchecked, and
requests are still served.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from channels.db import database_sync_to_async
from django.conf import settings
from redis.exceptions import RedisError

from gateway.callers import (
    Caller,
    Limits,
    PolicyChanged,
    policies_version_key,
    policies_version_seen,
    version_unknown,
)
from gateway.errors import OverBudget, RateLimited
from gateway.redis import (
    lease_acquire,
    lease_acquire_guarded,
    lease_count,
    lease_kept,
    redis_client,
    redis_key,
)

logger = logging.getLogger(__name__)

# Seconds a client refused for too many streams is told to wait: the gateway cannot know
# when one of its streams ends, and most end within seconds.
STREAMS_RETRY_AFTER = 1.0
BUDGET_KEY_TTL = 2 * 86400  # a day's counter outlives its day, then goes


# --- Daily token budgets --------------------------------------------------------------------


def budget_resets_at(now: datetime | None = None) -> datetime:
    """The next midnight UTC, when every day's budget starts afresh."""
    now = now or datetime.now(UTC)
    return datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=1)


def _day(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).strftime("%Y%m%d")


def _user_key(user_id: int, day: str) -> str:
    return redis_key("budget", "user", user_id, day)


def _group_key(group_id: int, day: str) -> str:
    return redis_key("budget", "group", group_id, day)


async def budget_used(*, user_id: int | None = None, group_id: int | None = None) -> int:
    """Tokens counted today for a user or a group (admin pages, tests)."""
    key = _user_key(user_id, _day()) if user_id is not None else _group_key(group_id, _day())
    return int(await redis_client().get(key) or 0)


async def budget_check(caller: Caller, limits: Limits) -> None:
    """Raise OverBudget when the user's, or one of their groups', budget for today is spent."""
    if caller.user_id is None or not (limits.daily_tokens or limits.group_daily_tokens):
        return
    day = _day()
    groups = [group_id for group_id, _ in limits.group_daily_tokens]
    keys = [_user_key(caller.user_id, day)] + [_group_key(group_id, day) for group_id in groups]
    try:
        used = await _counters_read(keys, user_id=caller.user_id, group_ids=groups)
    except RedisError:
        logger.warning("budgets not checked: Redis unavailable", exc_info=True)
        return
    if limits.daily_tokens and used[0] >= limits.daily_tokens:
        raise OverBudget(budget_resets_at())
    for (_, budget), spent in zip(limits.group_daily_tokens, used[1:], strict=True):
        if spent >= budget:
            resets = budget_resets_at()
            raise OverBudget(
                resets,
                f"Your group's daily token budget is used up. It resets at "
                f"{resets:%Y-%m-%d %H:%M} UTC.",
            )


# Adds ARGV[1] to each counter in KEYS that exists (and renews its expiry to ARGV[2]); answers
# the 1-based positions of those that do not, which budget_add seeds first.
_ADD_WHERE_COUNTED = """
local missing = {}
for i, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then
    redis.call('INCRBY', key, ARGV[1])
    redis.call('EXPIRE', key, ARGV[2])
  else
    missing[#missing + 1] = i
  end
end
return missing
"""


async def budget_add(caller: Caller, tokens: int) -> None:
    """Count a finished request's tokens for the user and every group of theirs (a group's
    budget set later in the day then already knows what its members used)."""
    if caller.user_id is None or tokens <= 0:
        return
    day = _day()
    keys = [_user_key(caller.user_id, day)]
    group_ids = sorted(caller.group_ids)
    keys += [_group_key(group_id, day) for group_id in group_ids]
    owners: list[int | None] = [None, *group_ids]
    client = redis_client()
    # One round trip for every request: counters that exist are counted at once (a read and
    # then a write were two, and showed in the gateway benchmark).
    missing = await client.eval(_ADD_WHERE_COUNTED, len(keys), *keys, tokens, BUDGET_KEY_TTL)
    if not missing:
        return
    keys = [keys[int(position) - 1] for position in missing]
    owners = [owners[int(position) - 1] for position in missing]
    # Counted onto what the day already had: a counter missing (Redis restarted since the
    # check) is seeded first, or INCRBY would start it from this request alone.
    await _counters_read_of(keys, owners, user_id=caller.user_id)
    async with client.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.incrby(key, tokens)
            pipe.expire(key, BUDGET_KEY_TTL)
        await pipe.execute()


async def _counters_read(keys: list[str], *, user_id: int, group_ids: list[int]) -> list[int]:
    """Today's counters of a user (``keys[0]``) and their groups (the rest, in the order of
    ``group_ids``). One missing from Redis (the first request of the day, or Redis restarted
    and lost it) starts from today's usage records, so that a restart does not give everyone
    their budget back. SET NX: a counter another process seeded or counted meanwhile is
    kept. Usage records are written in batches, so the last second or so may be missed."""
    return await _counters_read_of(keys, [None, *group_ids], user_id=user_id)


async def _counters_read_of(
    keys: list[str], owners: list[int | None], *, user_id: int
) -> list[int]:
    """``_counters_read`` for counters named one by one: ``owners`` gives each key's group
    id, None for the user's own."""
    client = redis_client()
    values = await client.mget(keys)
    if None in values:
        since = budget_resets_at() - timedelta(days=1)
        for index, value in enumerate(values):
            if value is not None:
                continue
            used = await database_sync_to_async(_usage_since, thread_sensitive=False)(
                user_id=user_id, group_id=owners[index], since=since
            )
            await client.set(keys[index], used, nx=True, ex=BUDGET_KEY_TTL)
            values[index] = await client.get(keys[index])
    return [int(value or 0) for value in values]


def _usage_since(*, user_id: int | None, group_id: int | None, since: datetime) -> int:
    """Tokens in the usage records of a user, or (``group_id`` given) of a group's members,
    since ``since``."""
    from django.contrib.auth import get_user_model
    from django.db.models import F, Sum

    from gateway.models import UsageRecord

    records = UsageRecord.objects.filter(created_at__gte=since)
    if group_id is not None:
        members = get_user_model().groups.through.objects.filter(group_id=group_id)
        records = records.filter(user_id__in=members.values("user_id"))
    else:
        records = records.filter(user_id=user_id)
    total = records.aggregate(total=Sum(F("prompt_tokens") + F("completion_tokens")))["total"]
    return int(total or 0)


# --- Concurrent streams ---------------------------------------------------------------------


def _streams_key(user_id: int) -> str:
    return redis_key("streams", "user", user_id)


async def streams_open(user_id: int) -> int:
    """The user's streams open now, across every web process."""
    return await lease_count(_streams_key(user_id))


@asynccontextmanager
async def stream_slot(caller: Caller, limits: Limits) -> AsyncIterator[None]:
    """Hold one of the user's concurrent-stream slots for the body; RateLimited when all
    are taken. A caller with an unconfirmed ``policy_check`` has its version confirmed in
    the same round trip (``PolicyChanged`` when it is not current: nothing is held). Without
    Redis to ask, the stream goes ahead uncounted (logged): the limit protects capacity, and
    failing every request would protect nothing."""
    check = caller.policy_check
    confirming = check is not None and not check.confirmed
    if confirming and version_unknown(check.version):
        check.confirmed, confirming = True, False  # read from the database throughout
    limited = caller.user_id is not None and bool(limits.max_streams)
    if not (limited or confirming):
        yield
        return
    ttl = settings.AIPORTAL_INFLIGHT_LEASE
    key = _streams_key(caller.user_id) if limited else None
    member = uuid.uuid4().hex
    try:
        if confirming:
            current, held = await lease_acquire_guarded(
                policies_version_key(),
                check.version,
                key,
                member,
                ttl=ttl,
                limit=limits.max_streams,
            )
            policies_version_seen(current)
        else:
            held = await lease_acquire(key, member, ttl=ttl, limit=limits.max_streams)
    except RedisError:
        if confirming:  # resolve again from the database, as with no Redis from the start
            raise PolicyChanged(f"unknown-{uuid.uuid4().hex}") from None
        logger.warning("stream limit not checked: Redis unavailable", exc_info=True)
        held, key = True, None
    if held is None:
        raise PolicyChanged(current)
    if confirming:
        check.confirmed = True
    if not held:
        raise RateLimited(
            STREAMS_RETRY_AFTER,
            f"You have {limits.max_streams} answers streaming already; wait for one to finish.",
        )
    if key is None:
        yield
        return
    async with lease_kept(key, member, ttl=ttl):
        yield
