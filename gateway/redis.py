"""The gateway's shared state, and the one place its Redis clients are made.

``redis_client()`` is a ``redis.asyncio`` client for the running loop, ``redis_sync()`` a
synchronous one for code with no loop to await in (signal receivers, admin views, exit
handlers); both with ``decode_responses=True`` (strings back, never bytes). With
``REDIS_URL`` set they talk to that Redis. Unset (the embedded default, one process), they
talk to one in-process ``fakeredis`` server shared by every client of the process, which runs
the same commands and the same Lua scripts (through lupa) as Redis: one implementation of
each script, whatever the deployment.

Keys are always built with ``redis_key(...)`` so every deployment (and every test run) stays
inside its own ``REDIS_PREFIX``.

Lease sets (``lease_held``, or ``lease_acquire``/``lease_renew``/``lease_release``/
``lease_count``) are the one pattern several parts need — in-flight streams per worker,
concurrent streams per user: a sorted set of request ids scored by their expiry, so an
entry whose process crashed simply expires and frees its slot. The check-and-add runs as one
Lua script (atomic across processes). Expiry times come from Redis's own clock (``TIME``),
so web hosts with skewed clocks agree.

State: the clients, per event loop and URL (``_clients``) and per URL for sync code
(``_sync_clients``), the lease keepers running in this process (``_keepers``) and the
embedded server when there is no Redis (``_embedded``, emptied by ``redis_memory_reset``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import redis
from django.conf import settings
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.retry import Retry as SyncRetry

if TYPE_CHECKING:
    from fakeredis import FakeServer

logger = logging.getLogger(__name__)

MAX_CONNECTIONS = 128  # per process and event loop
# A command that meets a dead connection (Redis restarted: every pooled connection is dead at
# once) is retried this many times on a new one, 100 ms then 200 ms apart. redis-py's pool
# built from a URL retries nothing, so each stale connection would fail one command (a
# lease, a budget check failing open) before it is replaced. A command retried after Redis
# ran it but before the answer arrived runs twice: for INCRBY (budgets) that counts a
# request twice, once in a great while, which is the safe direction.
RETRIES = 2

# Clients by URL ("" for the embedded server): tests switch REDIS_URL between the two.
_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Redis]] = (
    weakref.WeakKeyDictionary()
)
_sync_clients: dict[str, redis.Redis] = {}
_embedded: FakeServer | None = None
_embedded_lock = threading.Lock()


def redis_key(*parts: str | int) -> str:
    return ":".join([settings.REDIS_PREFIX, *(str(part) for part in parts)])


def redis_shared() -> bool:
    """True when state is shared across processes (Redis), False for the embedded server."""
    return bool(settings.REDIS_URL)


def redis_client() -> Redis:
    """The async client for the running loop. A client's connections are bound to one loop
    (the embedded server's too), so each loop (each test, Daphne's one loop) gets its own."""
    url = settings.REDIS_URL
    clients = _clients.setdefault(asyncio.get_running_loop(), {})
    client = clients.get(url)
    if client is None:
        client = clients[url] = _async_client_new(url)
    return client


def redis_sync() -> redis.Redis:
    """The synchronous client, shared by every thread of the process."""
    return _sync_client(settings.REDIS_URL)


def redis_memory_reset() -> None:
    """Empty the embedded server (tests of the embedded default), whatever REDIS_URL is."""
    _sync_client("").flushall()


def _sync_client(url: str) -> redis.Redis:
    client = _sync_clients.get(url)
    if client is None:
        client = _sync_clients[url] = _sync_client_new(url)
    return client


def _async_client_new(url: str) -> Redis:
    if not url:
        import fakeredis

        return fakeredis.FakeAsyncRedis(server=_embedded_server(), decode_responses=True)
    # A blocking pool: past MAX_CONNECTIONS commands wait (up to 5 s) for a connection
    # instead of failing, as redis-py's default pool does at 100 (seen at 256 streams).
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=MAX_CONNECTIONS,
        timeout=5,
        decode_responses=True,
        socket_connect_timeout=2,
        socket_timeout=5,
        health_check_interval=30,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), RETRIES),
    )
    return Redis(connection_pool=pool)


def _sync_client_new(url: str) -> redis.Redis:
    if not url:
        import fakeredis

        return fakeredis.FakeRedis(server=_embedded_server(), decode_responses=True)
    return redis.Redis.from_url(
        url,
        decode_responses=True,
        socket_connect_timeout=2,
        socket_timeout=2,
        retry=SyncRetry(ExponentialBackoff(cap=0.5, base=0.05), RETRIES),
    )


def _embedded_server() -> FakeServer:
    """The process's one embedded server, made on first use: with REDIS_URL set, fakeredis
    and its Lua runtime are never loaded. Locked: a sync client made in a thread and the
    loop's async client must not each make a server of their own."""
    global _embedded
    with _embedded_lock:
        if _embedded is None:
            import fakeredis

            _embedded = fakeredis.FakeServer()
        return _embedded


# --- Lease sets -----------------------------------------------------------------------------

# KEYS[1] the set; ARGV: member, ttl seconds, limit (0 = none). Returns 1 when held, 0 when full.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local limit = tonumber(ARGV[3])
if limit > 0 and not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  if redis.call('ZCARD', KEYS[1]) >= limit then return 0 end
end
local ttl = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
redis.call('PEXPIRE', KEYS[1], math.ceil(ttl * 1000) + 1000)
return 1
"""
# Renews only a member still present: one that expired has lost its slot to someone else.
_RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) <= now then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return 0
end
local ttl = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
redis.call('PEXPIRE', KEYS[1], math.ceil(ttl * 1000) + 1000)
return 1
"""
_COUNT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
"""


# KEYS[1] a guard key, KEYS[2] the lease set (optional); ARGV: the guard's expected value,
# member, ttl, limit. Returns {the guard's value ('0' when unset), 1 held / 0 full / -1 the
# guard differs, nothing changed}.
_ACQUIRE_GUARDED = """
local guard = redis.call('GET', KEYS[1]) or '0'
if guard ~= ARGV[1] then return {guard, -1} end
if #KEYS < 2 then return {guard, 1} end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local limit = tonumber(ARGV[4])
if limit > 0 and not redis.call('ZSCORE', KEYS[2], ARGV[2]) then
  if redis.call('ZCARD', KEYS[2]) >= limit then return {guard, 0} end
end
local ttl = tonumber(ARGV[3])
redis.call('ZADD', KEYS[2], now + ttl, ARGV[2])
redis.call('PEXPIRE', KEYS[2], math.ceil(ttl * 1000) + 1000)
return {guard, 1}
"""


async def lease_acquire_guarded(
    guard_key: str,
    expected: str,
    key: str | None,
    member: str,
    *,
    ttl: float,
    limit: int | None = None,
) -> tuple[str, bool | None]:
    """``lease_acquire``, done only while ``guard_key`` holds ``expected``, in one round
    trip: ``(the guard's value, held)``, ``held`` None (nothing taken) when the guard
    differs. Without ``key`` only the guard is checked (``held`` True when it matches)."""
    keys = [guard_key] if key is None else [guard_key, key]
    guard, held = await redis_client().eval(
        _ACQUIRE_GUARDED, len(keys), *keys, expected, member, ttl, limit or 0
    )
    return str(guard), None if int(held) < 0 else bool(int(held))


async def lease_acquire(key: str, member: str, *, ttl: float, limit: int | None = None) -> bool:
    """Hold ``member`` in the lease set ``key`` for ``ttl`` seconds; False (nothing changed)
    when ``limit`` live members are already there."""
    return bool(await redis_client().eval(_ACQUIRE, 1, key, member, ttl, limit or 0))


async def lease_renew(key: str, member: str, *, ttl: float) -> bool:
    """Extend a held lease; False when it had already expired (the slot may be someone's)."""
    return bool(await redis_client().eval(_RENEW, 1, key, member, ttl))


async def lease_release(key: str, member: str) -> None:
    await redis_client().zrem(key, member)


async def lease_count(key: str) -> int:
    """Live (unexpired) members of the lease set."""
    return int(await redis_client().eval(_COUNT, 1, key))


@asynccontextmanager
async def lease_held(
    key: str, member: str, *, ttl: float, limit: int | None = None
) -> AsyncIterator[bool]:
    """Hold a lease for the body of the ``with``, renewed in the background every ``ttl / 3``
    and released at the end (cancellation included). Yields False, holding nothing, when
    the set was full. A process that dies stops renewing, and its lease expires."""
    if not await lease_acquire(key, member, ttl=ttl, limit=limit):
        yield False
        return
    async with lease_kept(key, member, ttl=ttl):
        yield True


@asynccontextmanager
async def lease_kept(key: str, member: str, *, ttl: float) -> AsyncIterator[None]:
    """Renew an acquired lease in the background while the body runs, then release it."""
    keeper = _keeper()
    keeper.held[(key, member)] = ttl
    keeper.start()
    try:
        yield
    finally:
        keeper.held.pop((key, member), None)
        try:
            await lease_release(key, member)
        except Exception:  # Redis away: the lease expires on its own.
            logger.warning("could not release lease %s in %s", member, key, exc_info=True)


class BackgroundLease:
    """A lease taken without making its holder wait: acquired (and then renewed) by a task
    of its own while the holder goes on. ``release`` waits for the acquisition, then gives
    the lease back; it never raises (Redis away: the lease expires by itself)."""

    def __init__(self, key: str, member: str, *, ttl: float) -> None:
        self.key, self.member, self.ttl = key, member, ttl
        self._acquired = asyncio.get_running_loop().create_task(self._acquire())

    async def _acquire(self) -> bool:
        try:
            held = await lease_acquire(self.key, self.member, ttl=self.ttl)
        except Exception:
            logger.warning("taking lease %s failed; it goes uncounted", self.key, exc_info=True)
            return False
        if held:
            keeper = _keeper()
            keeper.held[(self.key, self.member)] = self.ttl
            keeper.start()
        return held

    async def release(self) -> None:
        # Shielded: a holder cancelled while it waits must not leave a lease taken later.
        held = await asyncio.shield(self._acquired)
        if not held:
            return
        _keeper().held.pop((self.key, self.member), None)
        try:
            await lease_release(self.key, self.member)
        except Exception:
            logger.warning("could not release lease %s in %s", self.member, self.key, exc_info=True)


class _LeaseKeeper:
    """Renews every lease this loop holds, in one round trip per beat, from one task."""

    def __init__(self) -> None:
        self.held: dict[tuple[str, str], float] = {}
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while self.held:
            await asyncio.sleep(min(self.held.values()) / 3)
            try:
                await self._renew(dict(self.held))
            except Exception:
                logger.warning("renewing leases failed", exc_info=True)

    async def _renew(self, held: dict[tuple[str, str], float]) -> None:
        async with redis_client().pipeline(transaction=False) as pipe:
            for (key, member), ttl in held.items():
                pipe.eval(_RENEW, 1, key, member, ttl)
            await pipe.execute()


_keepers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LeaseKeeper] = (
    weakref.WeakKeyDictionary()
)


def _keeper() -> _LeaseKeeper:
    loop = asyncio.get_running_loop()
    keeper = _keepers.get(loop)
    if keeper is None:
        keeper = _keepers[loop] = _LeaseKeeper()
    return keeper
