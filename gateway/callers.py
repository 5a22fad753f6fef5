"""Who is asking: a user's policies resolved into a ``Caller``, cached under a version.

- ``caller_for_user`` reads the user's and their groups' ``Policy`` rows into a ``Caller``:
  residency (allowed regions, home region) and its ``Limits``, which gateway/admission.py
  enforces (budgets, stream slots).
- ``policy_cached``: what policies (and, in gateway/access.py, model access rules) resolve
  to, cached in this process under the policies version.

How policies combine (docs/gateway/proxy.md says the same for operators):
- limits (``max_concurrent_streams``, ``daily_token_budget``, ``requests_per_minute``,
  ``tokens_per_minute``): the user's own policy when it
  sets the field; otherwise the most generous of their groups' policies that set it (0 =
  unlimited beats any number); otherwise the setting (AIPORTAL_USER_MAX_STREAMS,
  AIPORTAL_DAILY_TOKEN_BUDGET, AIPORTAL_REQUESTS_PER_MINUTE, AIPORTAL_TOKENS_PER_MINUTE).
  0 means unlimited everywhere. An API key's own per-minute limits apply on top of its
  user's (gateway/rate_limits.py).
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
someone's groups, bumps it when the transaction commits (receivers in gateway/signals.py),
so every process recomputes on its next request; reading the version is one Redis GET. A
change that bypasses model signals (a raw UPDATE) shows within ``POLICY_CACHE_TTL``.

``/v1`` does not even wait for that GET before its key check: it resolves the key and the
caller under the version this process last read (``policies_version_known``) and carries a
``PolicyCheck``. ``stream_slot`` (gateway/admission.py) then confirms that version in the
same Redis round trip as the stream slot, before anything goes upstream; a changed version
raises ``PolicyChanged`` and the request is authenticated and resolved again under the new
one (gateway/api/auth.py, which also confirms any answer made without admission). One round
trip before the first token instead of two.

When Redis cannot be reached, policies are read from the database every time (logged).

State: ``_state`` (a ``PolicyCache``: the cached resolutions and the last version read), per
process; ``policies_cache_clear()`` (and gateway/state.py's ``gateway_state_reset()``)
resets it.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar, cast

from channels.db import database_sync_to_async
from django.conf import settings
from redis.exceptions import RedisError

from gateway.redis import redis_client, redis_key, redis_sync

logger = logging.getLogger(__name__)

POLICY_CACHE_TTL = 60.0  # seconds, for changes no signal reports
_POLICY_CACHE_SIZE = 10_000

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Limits:
    max_streams: int = 0  # concurrent streams of the user; 0 = unlimited
    daily_tokens: int = 0  # the user's tokens per UTC day; 0 = unlimited
    group_daily_tokens: tuple[tuple[int, int], ...] = ()  # (group id, shared budget > 0)
    requests_per_minute: int = 0  # the user's requests per window; 0 = unlimited
    tokens_per_minute: int = 0  # the user's tokens per window; 0 = unlimited


@dataclass(frozen=True, slots=True)
class RateWindow:
    """Where one per-minute limit stands, for the ``x-ratelimit-*`` headers."""

    limit: int
    remaining: int
    reset_seconds: float  # until the window has room for one more unit


@dataclass(slots=True)
class RateReport:
    """Filled by admission (gateway/rate_limits.py) for a caller that asks for it (``/v1``,
    to send the ``x-ratelimit-*`` headers): per kind ("requests", "tokens"), the window of
    the limit with the least room left, key's or user's; nothing when no limit applies."""

    windows: dict[str, RateWindow] = field(default_factory=dict)


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
    # What the usage record calls the request (UsageRecord.Source); None: "api" with a key,
    # else "chat". The chat's title generation says "title", so answers and titles differ.
    usage_source: str | None = None
    # Resolved with the policies, so a request reads them once; None = resolve when needed.
    limits: Limits | None = field(default=None, compare=False, repr=False)
    # The user object, when the caller had it, for the model access check.
    user: Any = field(default=None, compare=False, repr=False)
    # The policy version the caller was resolved under (see the module docstring).
    policy_version: str | None = field(default=None, compare=False, repr=False)
    # Set when that version is still to be confirmed by admission (``/v1``).
    policy_check: PolicyCheck | None = field(default=None, compare=False, repr=False)
    # The API key's own per-minute limits (0 = none), on top of the user's (``/v1``).
    key_requests_per_minute: int = field(default=0, compare=False)
    key_tokens_per_minute: int = field(default=0, compare=False)
    # Where the per-minute limits stand after admission, when the caller wants to know.
    rate_report: RateReport | None = field(default=None, compare=False, repr=False)


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
    user_id = caller.user_id
    version = caller.policy_version or await policies_version()
    resolved = await policy_cached(("caller", user_id), version, lambda: _resolve(user_id))
    return cast(Limits, resolved.limits)  # _resolve always sets them


# --- The policy cache -----------------------------------------------------------------------


class PolicyCache:
    """This process's cached resolutions and the policies version it last read."""

    def __init__(self) -> None:
        self.entries: dict[tuple[Any, ...], tuple[str, float, Any]] = {}
        self.version_known: str | None = None  # the last version read from Redis

    def clear(self) -> None:
        self.entries.clear()
        self.version_known = None


_state = PolicyCache()


def policies_version_key() -> str:
    return redis_key("gw", "policies", "version")


def policies_version_seen(version: str) -> None:
    """Note a version read from Redis elsewhere (admission reads it with the stream slot)."""
    _state.version_known = version


def policies_version_known() -> str | None:
    """The version this process last read (``policies_version`` or admission), without a
    round trip: for resolving a request that admission will confirm. None before the first."""
    return _state.version_known


async def policies_version() -> str:
    try:
        version = str(await redis_client().get(policies_version_key()) or "0")
        _state.version_known = version
        return version
    except RedisError:
        # Without the version nothing cached can be trusted: a token no entry has.
        logger.warning("policy version unknown: Redis unavailable", exc_info=True)
        return f"unknown-{uuid.uuid4().hex}"


def policies_version_bump() -> None:
    """Make every process re-read policies and model access on its next request. Called on
    commit by the receivers in gateway/signals.py; a failure is logged, and the
    cache's TTL bounds how long the old answer lasts."""
    try:
        # A fresh random token, not a counter: a Redis that lost its data and counts again
        # from zero could otherwise hand out a version some process still has cached.
        redis_sync().set(policies_version_key(), uuid.uuid4().hex)
    except Exception:
        logger.warning("could not announce a policy change", exc_info=True)


def policies_cache_clear() -> None:
    _state.clear()


async def policy_cached(
    key: tuple[Any, ...], version: str, compute: Callable[[], Awaitable[T]]
) -> T:
    """``compute()``, cached in this process under ``version`` for ``POLICY_CACHE_TTL``."""
    now = time.monotonic()
    entries = _state.entries
    hit = entries.get(key)
    if hit is not None and hit[0] == version and hit[1] > now:
        return cast(T, hit[2])
    value = await compute()
    if len(entries) >= _POLICY_CACHE_SIZE:
        entries.clear()  # crude, and rare: a cold start for everyone is cheap
    entries[key] = (version, now + POLICY_CACHE_TTL, value)
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


def limits_for_user(user_id: int) -> Limits:
    """The user's limits read from the database now (pages that show them, not requests)."""
    _, user_policy, group_policies = _policies_read_sync(user_id)
    return _limits(user_policy, group_policies)


# database_sync_to_async closes the thread's connection when it is too old or broken; not
# thread-sensitive, so misses of many requests do not queue for one thread.
_policies_read = database_sync_to_async(_policies_read_sync, thread_sensitive=False)


def _most_generous(values: list[int]) -> int:
    return 0 if 0 in values else max(values)


def _limit(user_policy: Any, group_policies: list[Any], name: str, default: int) -> int:
    if user_policy is not None and getattr(user_policy, name) is not None:
        return cast(int, getattr(user_policy, name))
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
        requests_per_minute=_limit(
            user_policy,
            group_policies,
            "requests_per_minute",
            settings.AIPORTAL_REQUESTS_PER_MINUTE,
        ),
        tokens_per_minute=_limit(
            user_policy,
            group_policies,
            "tokens_per_minute",
            settings.AIPORTAL_TOKENS_PER_MINUTE,
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
