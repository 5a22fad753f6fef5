"""One prober per deployment: a lease in Redis (``SET key token NX PX ttl``).

The holder renews it every third of its lifetime; only the holder's token may renew or
delete it (checked inside a Lua script, so a holder that stalled past its lease cannot
take the lock back from the process that took over). A holder that dies stops renewing and
another process acquires the key once it expires; one that shuts down cleanly deletes it
so the next one takes over at its next attempt.

State: the leader locks this process holds (``_held``), so a shutdown can release them.
"""

from __future__ import annotations

import atexit
import logging
import os
import secrets
import socket

from gateway.redis import redis_client, redis_shared, redis_sync

logger = logging.getLogger(__name__)

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
# Writes KEYS[2] only while KEYS[1] still holds our token: a deposed prober never
# overwrites its successor's snapshot.
_PUBLISH = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
"""


def identity_new() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class LeaderLock:
    def __init__(self, key: str, *, ttl: float, token: str | None = None) -> None:
        self.key = key
        self.ttl_ms = max(1, int(ttl * 1000))
        self.token = token or identity_new()
        self.held = False

    async def acquire(self) -> bool:
        """Take the lock if free, renew it if ours; True while we hold it."""
        if self.held and await self.renew():
            return True
        client = redis_client()
        self.held = bool(await client.set(self.key, self.token, nx=True, px=self.ttl_ms))
        if self.held:
            _held.add(self)
        return self.held

    async def renew(self) -> bool:
        ok = bool(await redis_client().eval(_RENEW, 1, self.key, self.token, self.ttl_ms))
        if not ok and self.held:
            logger.warning("prober lock %s lost (another process holds it now)", self.key)
        self.held = ok
        return ok

    async def publish(self, key: str, value: str, *, ttl_ms: int) -> bool:
        """Set ``key`` to ``value`` (for ``ttl_ms``) if we still hold the lock."""
        client = redis_client()
        return bool(await client.eval(_PUBLISH, 2, self.key, key, self.token, value, ttl_ms))

    async def release(self) -> None:
        _held.discard(self)
        if not self.held:
            return
        self.held = False
        await redis_client().eval(_RELEASE, 1, self.key, self.token)

    def release_sync(self) -> None:
        """At interpreter exit, when no loop is left to await in."""
        # The embedded server ends with this process: nobody is left to hand over to.
        if self.held and redis_shared():
            redis_sync().eval(_RELEASE, 1, self.key, self.token)
            self.held = False


_held: set[LeaderLock] = set()


@atexit.register
def _release_at_exit() -> None:
    # Daphne stops on SIGTERM without cancelling tasks: hand the lock over now rather than
    # leave the deployment without a prober until the lease runs out.
    for lock in list(_held):
        try:
            lock.release_sync()
        except Exception:  # exiting anyway; the lease expires on its own
            logger.debug("releasing %s at exit failed", lock.key, exc_info=True)
