"""Streams the gateway has open to each worker, counted across every web process.

Each open stream holds a lease: a member (its own random id) of the worker's Redis sorted
set, scored by the lease's expiry, renewed while the stream runs and removed when it ends.
The count is the members whose expiry is still ahead. A web process that crashes renews
nothing, so its streams drop out of the count after ``AIPORTAL_INFLIGHT_LEASE`` at most:
nothing leaks. Expiry comes from Redis's clock (gateway/redis.py), so hosts with skewed
clocks agree. Without Redis, gateway/redis.py's embedded server holds the sets.

State: ``_local``, the leases this process holds now, per worker; it follows the streams
themselves, so it is never reset.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections import Counter
from collections.abc import AsyncIterator, Iterable

from django.conf import settings

from gateway.redis import BackgroundLease, redis_client, redis_key, redis_sync

logger = logging.getLogger(__name__)

# Prunes the expired members of every set named in KEYS and answers their live counts.
_COUNTS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local counts = {}
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  counts[i] = redis.call('ZCARD', key)
end
return counts
"""

# Leases this process holds now, per worker: lets the snapshot correct a count read up to
# 100 ms ago by what this process has opened and closed since.
_local: Counter[str] = Counter()


def inflight_key(worker_url: str) -> str:
    return redis_key("gw", "inflight", worker_url)


def inflight_local() -> dict[str, int]:
    return {url: n for url, n in _local.items() if n}


@contextlib.asynccontextmanager
async def inflight_lease(worker_url: str) -> AsyncIterator[None]:
    """Count one stream to ``worker_url`` while the block runs.

    The Redis lease is taken in the background (``BackgroundLease``) instead of before the
    upstream request: the count is advice to routing, this process counts the stream at once
    (``inflight_local``, which the snapshot adds in), and the other processes see it one
    round trip later. That is one Redis round trip less before every first token. The lease
    is released when the block ends (cancellation included); a Redis hiccup leaves the stream
    uncounted elsewhere, never failed."""
    lease = BackgroundLease(
        inflight_key(worker_url), secrets.token_hex(8), ttl=settings.AIPORTAL_INFLIGHT_LEASE
    )
    _local[worker_url] += 1
    try:
        yield
    finally:
        _local[worker_url] -= 1
        await lease.release()


async def inflight_counts(urls: Iterable[str]) -> dict[str, int]:
    """Live streams per worker URL, across processes (the snapshot passes the pool's). One
    Redis round trip whatever the number of workers."""
    urls = list(urls)
    if not urls:
        return {}
    counts = await redis_client().eval(_COUNTS, len(urls), *(inflight_key(url) for url in urls))
    return {url: int(n) for url, n in zip(urls, counts, strict=True)}


def inflight_counts_sync(urls: Iterable[str]) -> dict[str, int]:
    """The same for sync code (admin views)."""
    urls = list(urls)
    if not urls:
        return {}
    counts = redis_sync().eval(_COUNTS, len(urls), *(inflight_key(url) for url in urls))
    return {url: int(n) for url, n in zip(urls, counts, strict=True)}
