"""Authenticating ``/v1`` keys without a database query per request.

Each web process keeps the key rows it has looked up (with their users), by lookup prefix,
under the access version kept in Redis (``gateway.callers.policies_version``: one GET,
which the request needs for its policies anyway). Revoking a key, saving or deleting a key
in the admin, and changing or deleting a user bump that version once committed (receivers in
gateway/signals.py, and ``apikey_revoke``), so every process looks again on its next
request: a revocation or a deactivation takes effect at once, everywhere.

What is cached is only the row: the token's digest is checked against it, in constant time,
on every request, and so are expiry and the user's ``is_active``. Unknown prefixes are never
cached, so a client spraying random tokens fills nothing. When Redis cannot be reached the
version is a fresh random token and nothing cached is used.

State: ``_entries``, the key rows read, per process; ``key_cache_clear()`` (and
gateway/state.py's ``gateway_state_reset()``) resets it.
"""

from __future__ import annotations

import time

from channels.db import database_sync_to_async

from gateway.keys import apikey_accepts, apikey_by_prefix, apikey_token_prefix
from gateway.models import ApiKey

# A change that bypasses the signals (a raw UPDATE in a shell) still shows within this.
TTL_SECONDS = 60.0
_MAX_ENTRIES = 10_000
_entries: dict[str, tuple[str, float, ApiKey]] = {}

# Not thread-sensitive: a burst of first requests must not queue for one thread.
_lookup = database_sync_to_async(apikey_by_prefix, thread_sensitive=False)


async def apikey_authenticate_cached(*, token: str, version: str) -> ApiKey | None:
    """``gateway.keys.apikey_authenticate`` for async callers, from the cache when the row
    was read under ``version`` less than ``TTL_SECONDS`` ago."""
    prefix = apikey_token_prefix(token)
    if prefix is None:
        return None
    now = time.monotonic()
    hit = _entries.get(prefix)
    if hit is not None and hit[0] == version and hit[1] > now:
        key = hit[2]
    else:
        key = await _lookup(prefix=prefix)
        if key is not None:
            if len(_entries) >= _MAX_ENTRIES:
                _entries.clear()  # crude and rare: a cold start costs one query per key
            _entries[prefix] = (version, now + TTL_SECONDS, key)
    return key if apikey_accepts(key, token) else None


def key_cache_clear() -> None:
    _entries.clear()
