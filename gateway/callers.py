"""Who is asking, and may they start one more stream now.

- ``caller_for_user`` reads the user's and their groups' ``Policy`` rows (live, on every
  request, so an admin's change applies to the next one) into a ``Caller``: residency
  (allowed regions, home region) and the limits below.
- ``budget_check`` / ``budget_add``: per-user and per-group daily token budgets, counted in
  Redis by UTC day (``budget:user:<id>:<YYYYMMDD>``), checked before a request and added to
  after it, so one request may overshoot by its own size.
- ``stream_slot``: the per-user concurrent-stream limit, a lease set in Redis: a crashed web
  process stops renewing its leases and their slots free themselves within the lease time.

When Redis cannot be reached, admission fails open (logged): limits and budgets go
unchecked, policies are read from the database every time, and requests are still served.

How policies combine (docs/gateway/proxy.md says the same for operators):
- limits (``max_concurrent_streams``, ``daily_token_budget``): the user's own policy when it
  sets the field; otherwise the most generous of their groups' policies that set it (0 =
  unlimited beats any number); otherwise the setting (AIPORTAL_USER_MAX_STREAMS,
  AIPORTAL_DAILY_TOKEN_BUDGET). 0 means unlimited everywhere.
- shared group budgets (``group_daily_token_budget``): every group of the user that has one
  must have room; they never combine.
- allowed regions: the union of the regions of the user's group policies that list any (a
  group policy that lists none has no say, so joining an unrestricted group never lifts a
  residency rule); a user policy that lists regions narrows that to the intersection, or
  stands alone when no group restricts. Neither: any region. An empty intersection means
  no region at all: such a user is refused, never routed somewhere else.
- home region: the user's, else the first (by group id) group policy's that is allowed.

Read live, without a database round trip per request: what a user's policies resolve to (and
whether they may use a model) is cached in the process under a version number kept in Redis
(``gw:policies:version``). Saving or deleting a Policy or a ModelAccess rule, or changing
someone's groups, bumps it when the transaction commits (receivers in
gateway/models/policies.py), so every process recomputes on its next request; reading the
version is one Redis GET. A change that bypasses model signals (a raw UPDATE) shows within
``POLICY_CACHE_TTL``.

``/v1`` does not even wait for that GET before its key check: it resolves the key and the
caller under the version this process last read (``policies_version_known``) and carries a
``PolicyCheck``. ``stream_slot`` then confirms that version in the same Redis round trip as
the stream slot (a Lua script: the slot is taken only while the version is current), before
anything goes upstream; a changed version raises ``PolicyChanged`` and the request is
authenticated and resolved again under the new one (gateway/api/auth.py, which also confirms
any answer made without admission). One round trip before the first token instead of two.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from redis.exceptions import RedisError

from gateway.errors import OverBudget, RateLimited
from gateway.redis import (
    MemoryRedis,
    lease_acquire,
    lease_acquire_guarded,
    lease_count,
    lease_kept,
    redis_client,
    redis_key,
    redis_set_now,
)

logger = logging.getLogger(__name__)

# Seconds a client refused for too many streams is told to wait: the gateway cannot know
# when one of its streams ends, and most end within seconds.
STREAMS_RETRY_AFTER = 1.0
BUDGET_KEY_TTL = 2 * 86400  # a day's counter outlives its day, then goes
POLICY_CACHE_TTL = 60.0  # seconds, for changes no signal reports
_POLICY_CACHE_SIZE = 10_000


@dataclass(frozen=True, slots=True)
class Limits:
    max_streams: int = 0  # concurrent streams of the user; 0 = unlimited
    daily_tokens: int = 0  # the user's tokens per UTC day; 0 = unlimited
    group_daily_tokens: tuple[tuple[int, int], ...] = ()  # (group id, shared budget > 0)


# Tries under successive access versions before a request gives up (they would have to
# change between every two round trips).
POLICY_ATTEMPTS = 3


class PolicyChanged(Exception):
    """The access version a request was resolved under is no longer current: nothing was
    taken, and the request must be authenticated and resolved again under ``version``."""

    def __init__(self, version: str) -> None:
        super().__init__(f"the access rules changed (now {version})")
        self.version = version


@dataclass(slots=True)
class PolicyCheck:
    """A request resolved under an access version it has not confirmed yet; ``stream_slot``
    confirms it (``confirmed``) or raises ``PolicyChanged``."""

    version: str
    confirmed: bool = False


def version_unknown(version: str) -> bool:
    """A version made up because Redis could not be asked: everything was read from the
    database under it, and no cache entry has it."""
    return version.startswith("unknown-")


async def policies_version_moved(version: str) -> str | None:
    """The current version if it is no longer ``version``, else None: for an outcome reached
    under ``version`` without admission confirming it (a refusal, a model list), which
    stands only while ``version`` does. Two made-up versions (Redis away both times) count
    as the same: both were read from the database."""
    current = await policies_version()
    if current == version or (version_unknown(current) and version_unknown(version)):
        return None
    return current


@dataclass(frozen=True, slots=True)
class Caller:
    user_id: int | None = None
    group_ids: frozenset[int] = frozenset()
    api_key_id: int | None = None
    allowed_regions: frozenset[str] | None = None
    home_region: str | None = None
    conversation_key: str | None = None
    # Resolved with the policies, so a request reads them once; None = resolve when needed.
    limits: Limits | None = field(default=None, compare=False, repr=False)
    # The user object, when the caller had it, for the model access check.
    user: Any = field(default=None, compare=False, repr=False)
    # The policy version the caller was resolved under (see the module docstring).
    policy_version: str | None = field(default=None, compare=False, repr=False)
    # Set when that version is still to be confirmed by admission (``/v1``).
    policy_check: PolicyCheck | None = field(default=None, compare=False, repr=False)


def caller_restrict(caller: Caller, regions: Iterable[str] | None) -> Caller:
    """Narrow a caller's regions further (a dataset's residency, say); never widens."""
    if regions is None:
        return caller
    regions = frozenset(regions)
    allowed = regions if caller.allowed_regions is None else caller.allowed_regions & regions
    home = caller.home_region if caller.home_region in allowed else None
    return replace(caller, allowed_regions=allowed, home_region=home)


async def caller_for_user(
    user: Any,
    *,
    api_key_id: int | None = None,
    conversation_key: str | None = None,
    policy_check: PolicyCheck | None = None,
) -> Caller:
    """The caller for an authenticated user; an anonymous or missing user gets a caller
    without limits (internal use only: every public entry point authenticates first).
    ``policy_check``: resolve under its version, which admission will confirm; without it,
    under the current version (one GET)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return Caller(api_key_id=api_key_id, conversation_key=conversation_key)
    version = policy_check.version if policy_check else await policies_version()
    resolved = await policy_cached(("caller", user.pk), version, lambda: _resolve(user.pk))
    return replace(
        resolved,
        api_key_id=api_key_id,
        conversation_key=conversation_key,
        user=user,
        policy_version=version,
        policy_check=policy_check,
    )


async def caller_limits(caller: Caller) -> Limits:
    if caller.user_id is None:
        return Limits()
    if caller.limits is not None:
        return caller.limits
    version = caller.policy_version or await policies_version()
    resolved = await policy_cached(
        ("caller", caller.user_id), version, lambda: _resolve(caller.user_id)
    )
    return resolved.limits


async def model_allowed_for(caller: Caller, model: str) -> bool:
    """May this caller use ``model`` (gateway.access's rule, cached like the policies)?"""
    from gateway.access import amodel_allowed

    if caller.user_id is None:
        return True  # internal callers (tests, management commands) have no user to check
    version = caller.policy_version or await policies_version()

    async def ask() -> bool:
        if caller.user is not None:
            return await amodel_allowed(user=caller.user, model=model)
        return await amodel_allowed(model=model, group_ids=caller.group_ids)

    return await policy_cached(("model", caller.user_id, model), version, ask)


# --- The policy cache -----------------------------------------------------------------------

_cache: dict[tuple[Any, ...], tuple[str, float, Any]] = {}


_known: dict[str, str] = {}  # "version": the last one this process read from Redis


def _version_key() -> str:
    return redis_key("gw", "policies", "version")


def policies_version_known() -> str | None:
    """The version this process last read (``policies_version`` or admission), without a
    round trip: for resolving a request that admission will confirm. None before the first."""
    return _known.get("version")


async def policies_version() -> str:
    try:
        version = str(await redis_client().get(_version_key()) or "0")
        _known["version"] = version
        return version
    except RedisError:
        # Without the version nothing cached can be trusted: a token no entry has.
        logger.warning("policy version unknown: Redis unavailable", exc_info=True)
        return f"unknown-{uuid.uuid4().hex}"


def policies_version_bump() -> None:
    """Make every process re-read policies and model access on its next request. Called on
    commit by the receivers in gateway/models/policies.py; a failure is logged, and the
    cache's TTL bounds how long the old answer lasts."""
    try:
        # A fresh random token, not a counter: a Redis that lost its data and counts again
        # from zero could otherwise hand out a version some process still has cached.
        redis_set_now(_version_key(), uuid.uuid4().hex)
    except Exception:
        logger.warning("could not announce a policy change", exc_info=True)


def policies_cache_clear() -> None:
    _cache.clear()
    _known.clear()


async def policy_cached(
    key: tuple[Any, ...], version: str, compute: Callable[[], Awaitable[Any]]
) -> Any:
    """``compute()``, cached in this process under ``version`` for ``POLICY_CACHE_TTL``."""
    now = time.monotonic()
    hit = _cache.get(key)
    if hit is not None and hit[0] == version and hit[1] > now:
        return hit[2]
    value = await compute()
    if len(_cache) >= _POLICY_CACHE_SIZE:
        _cache.clear()  # crude, and rare: a cold start for everyone is cheap
    _cache[key] = (version, now + POLICY_CACHE_TTL, value)
    return value


async def _resolve(user_id: int) -> Caller:
    group_ids, user_policy, group_policies = await _policies_read(user_id)
    regions, home = _residency(user_policy, group_policies)
    return Caller(
        user_id=user_id,
        group_ids=frozenset(group_ids),
        allowed_regions=regions,
        home_region=home,
        limits=_limits(user_policy, group_policies),
    )


def _policies_read_sync(user_id: int) -> tuple[list[int], Any, list[Any]]:
    from django.contrib.auth import get_user_model

    from gateway.models import Policy

    memberships = get_user_model().groups.through.objects.filter(user_id=user_id)
    group_ids = sorted(memberships.values_list("group_id", flat=True))
    user_policy, group_policies = None, []
    for policy in Policy.objects.filter(user_id=user_id) | Policy.objects.filter(
        group_id__in=group_ids
    ):
        if policy.user_id is not None:
            user_policy = policy
        else:
            group_policies.append(policy)
    group_policies.sort(key=lambda policy: policy.group_id)
    return group_ids, user_policy, group_policies


# database_sync_to_async closes the thread's connection when it is too old or broken; not
# thread-sensitive, so misses of many requests do not queue for one thread.
_policies_read = database_sync_to_async(_policies_read_sync, thread_sensitive=False)


def _most_generous(values: list[int]) -> int:
    return 0 if 0 in values else max(values)


def _limit(user_policy: Any, group_policies: list[Any], name: str, default: int) -> int:
    if user_policy is not None and getattr(user_policy, name) is not None:
        return getattr(user_policy, name)
    values = [getattr(p, name) for p in group_policies if getattr(p, name) is not None]
    return _most_generous(values) if values else default


def _limits(user_policy: Any, group_policies: list[Any]) -> Limits:
    return Limits(
        max_streams=_limit(
            user_policy,
            group_policies,
            "max_concurrent_streams",
            settings.AIPORTAL_USER_MAX_STREAMS,
        ),
        daily_tokens=_limit(
            user_policy,
            group_policies,
            "daily_token_budget",
            settings.AIPORTAL_DAILY_TOKEN_BUDGET,
        ),
        group_daily_tokens=tuple(
            (p.group_id, p.group_daily_token_budget)
            for p in group_policies
            if p.group_daily_token_budget
        ),
    )


def _residency(
    user_policy: Any, group_policies: list[Any]
) -> tuple[frozenset[str] | None, str | None]:
    group_sets = [p.regions for p in group_policies if p.regions is not None]
    regions = frozenset().union(*group_sets) if group_sets else None
    own = user_policy.regions if user_policy is not None else None
    if own is not None:
        regions = own if regions is None else regions & own
    homes = [user_policy.home_region] if user_policy is not None else []
    homes += [p.home_region for p in group_policies]
    home = next((h for h in homes if h and (regions is None or h in regions)), None)
    return regions, home


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
    if not isinstance(client, MemoryRedis):
        # One round trip for every request: counters that exist are counted at once (a
        # read and then a write were two, and showed in the gateway benchmark).
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
                _version_key(), check.version, key, member, ttl=ttl, limit=limits.max_streams
            )
            _known["version"] = current
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
