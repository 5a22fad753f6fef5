"""Requests and tokens per minute, per API key and per user, next to the daily budgets.

Counted in Redis by the ``limits`` library's **sliding window counter**, through the
library's own Redis storage over the gateway's connection pool (gateway/redis.py): the real
Redis, or the embedded fakeredis server, which runs the library's Lua scripts too. Why not
the moving window that sign-in guesses use (accounts/signin/guessing.py): a moving window
keeps one entry per unit counted, so a limit of 100,000 tokens a minute would keep up to
100,000 entries per user; the sliding window counter keeps two counters per limit whatever
the cost, and weighs the previous window's count by how much of it still overlaps the
sliding minute. It assumes that count was spread evenly, so it is approximate at the edge of
a window: fine for a limit meant to stop a runaway client, not to bill.

Four limits may apply to one request, each counted on its own: the key's requests and
tokens (``ApiKey.requests_per_minute``/``tokens_per_minute``; none for the chat) and the
user's (their policies, gateway/callers.py). A user's two keys share the user's limits and
each has its own.

Tokens are known only when the answer ends. Admission (``rate_admit``) takes the prompt's
estimate (``prompt_tokens_estimate``: characters / 4) from the token windows at once, so a
burst of concurrent requests cannot all pass on an empty window; the request is refused when
the estimate does not fit. After the answer, ``rate_settle`` adds the real usage (prompt +
completion, as the usage record has it) beyond the estimate. Past the limit the library adds
nothing, so settling then fills the window to its limit: the next request waits for the
window to slide, and the overshoot of one request is forgiven, as a daily budget lets the
last request of the day overshoot. An estimate above the real usage is not given back
(the library has no decrement); counting characters / 4 keeps it below the prompt's tokens
for most text.

The library's keys name the limit's amount, so a limit changed in the admin counts afresh
from the change. When Redis cannot be reached the limits go unchecked (logged), as budgets
do: failing every request would protect nothing.

State: ``_limiters``, one limiter per Redis client (per event loop), kept for the loop's
life; never reset (it holds no counts).
"""

from __future__ import annotations

import logging
import math
import time
import weakref
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio.storage import RedisStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from redis.exceptions import RedisError

from gateway.callers import Caller, Limits, RateReport, RateWindow
from gateway.errors import OverRateLimit
from gateway.redis import redis_client

logger = logging.getLogger(__name__)

CHARS_PER_TOKEN = 4
INTERNAL_SOURCES = frozenset({"title", "embed"})  # UsageRecord.Source values

_limiters: weakref.WeakKeyDictionary[Any, SlidingWindowCounterRateLimiter] = (
    weakref.WeakKeyDictionary()
)


@dataclass(frozen=True, slots=True)
class RateLimit:
    kind: str  # "requests" or "tokens"
    scope: str  # "key" or "user"
    owner: int  # the key's or the user's id
    amount: int

    @property
    def item(self) -> RateLimitItem:
        return RateLimitItemPerSecond(self.amount, settings.AIPORTAL_RATE_LIMIT_WINDOW)

    @property
    def identifiers(self) -> tuple[str, str, str]:
        return (self.kind, self.scope, str(self.owner))


def _limiter() -> SlidingWindowCounterRateLimiter:
    client = redis_client()
    limiter = _limiters.get(client)
    if limiter is None:
        # The URI only satisfies the constructor: the connections come from the gateway's
        # own pool (real Redis or the embedded server) for this event loop.
        storage = RedisStorage(
            "async+redis://localhost:6379",
            implementation="redispy",
            key_prefix=f"{settings.REDIS_PREFIX}:rate",
            # The library types its options as scalars; redis-py's pool is what it passes on.
            connection_pool=client.connection_pool,  # type: ignore[arg-type]
        )
        limiter = _limiters[client] = SlidingWindowCounterRateLimiter(storage)
    return limiter


def rate_limits_for(caller: Caller, limits: Limits) -> list[RateLimit]:
    """The per-minute limits that apply to this caller, requests before tokens. None for
    the project's own requests made for the user (a chat's title, a dataset query's
    embedding): they are not the person's requests, and a title refused would be lost."""
    if caller.usage_source in INTERNAL_SOURCES:
        return []
    found = []
    for kind, key_amount, user_amount in (
        ("requests", caller.key_requests_per_minute, limits.requests_per_minute),
        ("tokens", caller.key_tokens_per_minute, limits.tokens_per_minute),
    ):
        if caller.api_key_id is not None and key_amount:
            found.append(RateLimit(kind, "key", caller.api_key_id, key_amount))
        if caller.user_id is not None and user_amount:
            found.append(RateLimit(kind, "user", caller.user_id, user_amount))
    return found


def prompt_tokens_estimate(body: dict[str, Any]) -> int:
    """A cheap estimate of a request's prompt tokens: the characters of its text / 4."""
    return math.ceil(
        _text_length(body.get("messages") or body.get("prompt") or body.get("input"))
        / CHARS_PER_TOKEN
    )


def _text_length(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list):
        return sum(_text_length(item) for item in value)
    if isinstance(value, dict):
        return _text_length(value.get("content")) + _text_length(value.get("text"))
    return 0


async def rate_admit(caller: Caller, limits: Limits, *, prompt_tokens: int) -> int:
    """Count one request and its prompt's estimate against every limit that applies;
    ``OverRateLimit`` when one has no room. Answers the tokens taken (for ``rate_settle``).
    Fills ``caller.rate_report`` when there is one."""
    applying = rate_limits_for(caller, limits)
    if not applying:
        return 0
    estimate = max(1, prompt_tokens)
    try:
        limiter = _limiter()
        for limit in applying:
            cost = 1 if limit.kind == "requests" else min(estimate, limit.amount)
            if not await limiter.hit(limit.item, *limit.identifiers, cost=cost):
                stats = await limiter.get_window_stats(limit.item, *limit.identifiers)
                await _report(caller, limiter, applying)
                raise OverRateLimit(
                    kind=limit.kind,
                    scope=limit.scope,
                    limit=limit.amount,
                    retry_after=stats.reset_time - time.time(),
                )
        await _report(caller, limiter, applying)
    except RedisError:
        logger.warning("per-minute limits not checked: Redis unavailable", exc_info=True)
        return 0
    return estimate if any(limit.kind == "tokens" for limit in applying) else 0


async def rate_settle(caller: Caller, limits: Limits, *, tokens: int, taken: int) -> None:
    """Add the answer's real tokens beyond what admission took to the token windows; past a
    limit, fill it up to the limit (the module docstring says why)."""
    extra = tokens - taken
    applying = [limit for limit in rate_limits_for(caller, limits) if limit.kind == "tokens"]
    if extra <= 0 or not applying:
        return
    limiter = _limiter()
    for limit in applying:
        if await limiter.hit(limit.item, *limit.identifiers, cost=min(extra, limit.amount)):
            continue
        room = (await limiter.get_window_stats(limit.item, *limit.identifiers)).remaining
        if room > 0:
            await limiter.hit(limit.item, *limit.identifiers, cost=room)


async def _report(
    caller: Caller, limiter: SlidingWindowCounterRateLimiter, applying: list[RateLimit]
) -> None:
    """Where each kind of limit stands now: the one with the least room left."""
    report: RateReport | None = caller.rate_report
    if report is None:
        return
    now = time.time()
    for limit in applying:
        stats = await limiter.get_window_stats(limit.item, *limit.identifiers)
        window = RateWindow(
            limit=limit.amount,
            remaining=stats.remaining,
            reset_seconds=max(0.0, stats.reset_time - now),
        )
        known = report.windows.get(limit.kind)
        if known is None or window.remaining < known.remaining:
            report.windows[limit.kind] = window


def rate_headers(report: RateReport | None) -> dict[str, str]:
    """OpenAI's ``x-ratelimit-*`` headers for the limits that applied (none without)."""
    headers: dict[str, str] = {}
    for kind, window in (report.windows if report else {}).items():
        headers[f"x-ratelimit-limit-{kind}"] = str(window.limit)
        headers[f"x-ratelimit-remaining-{kind}"] = str(window.remaining)
        headers[f"x-ratelimit-reset-{kind}"] = duration_text(window.reset_seconds)
    return headers


def duration_text(seconds: float) -> str:
    """A wait as OpenAI writes it in ``x-ratelimit-reset-*``: ``20ms``, ``1.5s``, ``6m0s``."""
    if seconds < 1:
        return f"{math.ceil(seconds * 1000)}ms"
    if seconds < 60:
        return f"{round(seconds, 3):g}s"
    minutes, rest = divmod(math.ceil(seconds), 60)
    return f"{minutes}m{rest}s"
