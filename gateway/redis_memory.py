"""The in-memory stand-in for Redis that gateway/redis.py hands out when ``REDIS_URL`` is
unset: the embedded default runs one process, so memory *is* shared state there.

It answers the subset of redis-py's async API listed in gateway/redis.py, with
``decode_responses=True`` semantics. Methods are ``async`` like the real client's but never
suspend, so each call is atomic like a Redis command; the lease-set operations have plain
methods here that gateway/redis.py calls instead of its Lua scripts.
"""

from __future__ import annotations

import fnmatch
import math
import time
from typing import Any


class MemoryRedis:
    """Just enough of redis.asyncio.Redis for one process. Methods are ``async`` like the real
    client's, but never yield to the loop, so each call is atomic like a Redis command."""

    def __init__(self) -> None:
        self._data: dict[str, Any] = {}
        self._expires: dict[str, float] = {}

    def reset(self) -> None:
        self._data.clear()
        self._expires.clear()

    # -- bookkeeping
    def _alive(self, key: str) -> bool:
        deadline = self._expires.get(key)
        if deadline is not None and deadline <= time.monotonic():
            self._data.pop(key, None)
            self._expires.pop(key, None)
        return key in self._data

    def _typed(self, key: str, kind: type) -> Any:
        if not self._alive(key):
            self._data[key] = kind()
        value = self._data[key]
        if not isinstance(value, kind):
            raise TypeError("WRONGTYPE Operation against a key holding the wrong kind of value")
        return value

    def _drop_empty(self, key: str) -> None:
        if key in self._data and not self._data[key]:
            self._data.pop(key, None)
            self._expires.pop(key, None)

    # -- keys and strings
    async def get(self, key: str) -> str | None:
        return self._data[key] if self._alive(key) else None

    async def set(
        self,
        key: str,
        value: Any,
        *,
        ex: float | None = None,
        px: float | None = None,
        nx: bool = False,
        xx: bool = False,
    ) -> bool | None:
        exists = self._alive(key)
        if (nx and exists) or (xx and not exists):
            return None
        self._data[key] = str(value)
        self._expires.pop(key, None)
        ttl = ex if ex is not None else (px / 1000 if px is not None else None)
        if ttl is not None:
            self._expires[key] = time.monotonic() + ttl
        return True

    async def mget(self, keys: list[str], *more: str) -> list[str | None]:
        names = [keys] if isinstance(keys, str) else list(keys)
        return [await self.get(key) for key in [*names, *more]]

    async def delete(self, *keys: str) -> int:
        removed = sum(1 for key in keys if self._alive(key))
        for key in keys:
            self._data.pop(key, None)
            self._expires.pop(key, None)
        return removed

    async def exists(self, *keys: str) -> int:
        return sum(1 for key in keys if self._alive(key))

    async def keys(self, pattern: str = "*") -> list[str]:
        return [k for k in list(self._data) if self._alive(k) and fnmatch.fnmatch(k, pattern)]

    def set_now(self, key: str, value: str) -> None:
        self._data[key] = str(value)
        self._expires.pop(key, None)

    async def incrby(self, key: str, amount: int = 1) -> int:
        value = int(self._data[key]) if self._alive(key) else 0
        value += int(amount)
        self._data[key] = str(value)
        return value

    async def incr(self, key: str, amount: int = 1) -> int:
        return await self.incrby(key, amount)

    async def decrby(self, key: str, amount: int = 1) -> int:
        return await self.incrby(key, -amount)

    async def expire(self, key: str, seconds: float) -> bool:
        if not self._alive(key):
            return False
        self._expires[key] = time.monotonic() + seconds
        return True

    async def pexpire(self, key: str, milliseconds: float) -> bool:
        return await self.expire(key, milliseconds / 1000)

    async def pttl(self, key: str) -> int:
        if not self._alive(key):
            return -2
        deadline = self._expires.get(key)
        return -1 if deadline is None else math.ceil((deadline - time.monotonic()) * 1000)

    async def ttl(self, key: str) -> int:
        ms = await self.pttl(key)
        return ms if ms < 0 else math.ceil(ms / 1000)

    # -- sorted sets
    async def zadd(self, key: str, mapping: dict[str, float], *, nx=False, xx=False) -> int:
        zset = self._typed(key, dict)
        added = 0
        for member, score in mapping.items():
            present = member in zset
            if (nx and present) or (xx and not present):
                continue
            added += not present
            zset[member] = float(score)
        self._drop_empty(key)
        return added

    async def zrem(self, key: str, *members: str) -> int:
        if not self._alive(key):
            return 0
        zset = self._typed(key, dict)
        removed = sum(1 for member in members if zset.pop(member, None) is not None)
        self._drop_empty(key)
        return removed

    async def zscore(self, key: str, member: str) -> float | None:
        return self._typed(key, dict).get(member) if self._alive(key) else None

    async def zcard(self, key: str) -> int:
        return len(self._typed(key, dict)) if self._alive(key) else 0

    async def zcount(self, key: str, low: float | str, high: float | str) -> int:
        if not self._alive(key):
            return 0
        return sum(1 for s in self._typed(key, dict).values() if _in_range(s, low, high))

    async def zremrangebyscore(self, key: str, low: float | str, high: float | str) -> int:
        if not self._alive(key):
            return 0
        zset = self._typed(key, dict)
        doomed = [m for m, s in zset.items() if _in_range(s, low, high)]
        for member in doomed:
            del zset[member]
        self._drop_empty(key)
        return len(doomed)

    async def zrangebyscore(
        self, key: str, low: float | str, high: float | str, *, withscores: bool = False
    ) -> list[Any]:
        if not self._alive(key):
            return []
        items = sorted(
            ((m, s) for m, s in self._typed(key, dict).items() if _in_range(s, low, high)),
            key=lambda item: (item[1], item[0]),
        )
        return items if withscores else [member for member, _ in items]

    # -- hashes
    async def hset(self, key: str, field: str | None = None, value: Any = None, *, mapping=None):
        hashed = self._typed(key, _Hash)
        updates = dict(mapping or {})
        if field is not None:
            updates[field] = value
        added = sum(1 for name in updates if name not in hashed)
        hashed.update({name: str(v) for name, v in updates.items()})
        return added

    async def hget(self, key: str, field: str) -> str | None:
        return self._typed(key, _Hash).get(field) if self._alive(key) else None

    async def hgetall(self, key: str) -> dict[str, str]:
        return dict(self._typed(key, _Hash)) if self._alive(key) else {}

    async def hdel(self, key: str, *fields: str) -> int:
        if not self._alive(key):
            return 0
        hashed = self._typed(key, _Hash)
        removed = sum(1 for name in fields if hashed.pop(name, None) is not None)
        self._drop_empty(key)
        return removed

    def pipeline(self, transaction: bool = True) -> _MemoryPipeline:
        return _MemoryPipeline(self)

    # -- lease sets (see the module docstring); wall-clock scores, like Redis TIME
    def _lease_prune(self, key: str) -> dict[str, float]:
        zset = self._typed(key, dict)
        now = time.time()
        for member in [m for m, expiry in zset.items() if expiry <= now]:
            del zset[member]
        return zset

    def lease_acquire(self, key: str, member: str, *, ttl: float, limit: int) -> bool:
        zset = self._lease_prune(key)
        if limit > 0 and member not in zset and len(zset) >= limit:
            self._drop_empty(key)
            return False
        zset[member] = time.time() + ttl
        return True

    def lease_renew(self, key: str, member: str, *, ttl: float) -> bool:
        zset = self._lease_prune(key)
        held = member in zset
        if held:
            zset[member] = time.time() + ttl
        self._drop_empty(key)
        return held

    def lease_count(self, key: str) -> int:
        count = len(self._lease_prune(key))
        self._drop_empty(key)
        return count


class _Hash(dict):
    """A hash value, told apart from a sorted set (also a dict) for WRONGTYPE checks."""


class _MemoryPipeline:
    def __init__(self, store: MemoryRedis) -> None:
        self._store = store
        self._calls: list[tuple[str, tuple, dict]] = []

    def __getattr__(self, name: str):
        if not hasattr(MemoryRedis, name) or name.startswith("_"):
            raise AttributeError(name)

        def queue(*args: Any, **kwargs: Any) -> _MemoryPipeline:
            self._calls.append((name, args, kwargs))
            return self

        return queue

    async def execute(self) -> list[Any]:
        calls, self._calls = self._calls, []
        return [await getattr(self._store, name)(*a, **kw) for name, a, kw in calls]

    async def __aenter__(self) -> _MemoryPipeline:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._calls = []


def _in_range(score: float, low: float | str, high: float | str) -> bool:
    return _bound(low, score, lower=True) and _bound(high, score, lower=False)


def _bound(bound: float | str, score: float, *, lower: bool) -> bool:
    text = str(bound)
    exclusive = text.startswith("(")
    value = float(text.lstrip("("))
    if lower:
        return score > value if exclusive else score >= value
    return score < value if exclusive else score <= value
