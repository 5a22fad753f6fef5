"""Shared by the pool, telemetry, in-flight and admin tests: a fixture that makes probing
fast and cleans this run's telemetry keys, and child processes (a second web process
reading the snapshot, a prober, a stream holding a lease) started with
``python -m tests.gateway.pool_helpers MODE``."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import time

import pytest

from tests.conftest import Process


@pytest.fixture(name="telemetry")
def telemetry_fixture(settings):
    """Probe every 100 ms, call metrics stale after 300 ms, start and end with no telemetry
    in this process or under this run's Redis prefix."""
    from gateway.state import telemetry_state_reset

    settings.AIPORTAL_PROBE_INTERVAL = 0.1
    settings.AIPORTAL_METRICS_STALE_AFTER = 0.3
    telemetry_state_reset()
    _keys_delete(settings)
    yield settings
    telemetry_state_reset()
    _keys_delete(settings)


def _keys_delete(settings) -> None:
    if not settings.REDIS_URL:
        from gateway.redis import redis_memory_reset

        redis_memory_reset()
        return
    from gateway.redis import redis_sync

    client = redis_sync()
    # Only this run's prefix: other runs share the database (never FLUSHDB).
    for key in client.scan_iter(match=f"{settings.REDIS_PREFIX}:gw:*", count=500):
        client.delete(key)


def child_start(settings, mode: str, *args: str) -> Process:
    """A separate Python process with this test's gateway settings."""
    env = {
        **os.environ,
        "PYTHONPATH": os.getcwd(),
        "DJANGO_SETTINGS_MODULE": "aiportal.settings",
        "REDIS_URL": settings.REDIS_URL,
        "AIPORTAL_REDIS_PREFIX": settings.REDIS_PREFIX,
        "AIPORTAL_WORKERS": settings.AIPORTAL_WORKERS,
        "AIPORTAL_PROBE_INTERVAL_MS": str(int(settings.AIPORTAL_PROBE_INTERVAL * 1000)),
        "AIPORTAL_INFLIGHT_LEASE_MS": str(int(settings.AIPORTAL_INFLIGHT_LEASE * 1000)),
        "LOG_LEVEL": "WARNING",
        # The child has no test database of its own: it must fail to read the Worker table
        # at once (and quietly), not wait on a connection pool retrying in the background.
        "AIPORTAL_DB_POOL": "false",
    }
    return Process([sys.executable, "-m", "tests.gateway.pool_helpers", mode, *args], env=env)


def child_line(process: Process, word: str, timeout: float = 20) -> str:
    return process.wait_for_line(re.compile(rf"^{word} ?(.*)$", re.M), timeout).group(1)


# --- The child processes --------------------------------------------------------------------


async def _read() -> None:
    from gateway.telemetry.snapshot import snapshot_wait
    from gateway.telemetry.store import store_read

    views = await snapshot_wait(after=0)
    copy = await store_read()
    prober = copy.snapshot.prober if copy.snapshot else ""
    rows = [
        {"url": v.url, "healthy": v.healthy, "models": sorted(v.models), "inflight": v.inflight}
        for v in views
    ]
    print("VIEWS " + json.dumps({"prober": prober, "workers": rows}), flush=True)


async def _lead() -> None:
    from gateway.telemetry.prober import Prober

    prober = Prober(token=f"child-{os.getpid()}")
    task = asyncio.create_task(prober.run())
    while not prober.leading:
        await asyncio.sleep(0.02)
    print(f"LEADING {prober.token}", flush=True)
    await task


async def _lease(url: str) -> None:
    from gateway.inflight import inflight_counts, inflight_lease

    async with inflight_lease(url):
        # The lease is taken in the background: say HELD once Redis counts it.
        while (await inflight_counts([url]))[url] < 1:
            await asyncio.sleep(0.01)
        print("HELD", flush=True)
        await asyncio.sleep(3600)


def main() -> None:
    import django

    django.setup()
    mode, *args = sys.argv[1:]
    runners = {"read": _read, "lead": _lead, "lease": _lease}
    asyncio.run(runners[mode](*args))
    time.sleep(0.1)


if __name__ == "__main__":
    main()
