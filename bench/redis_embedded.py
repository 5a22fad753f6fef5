"""What the embedded default's Redis costs a chat request: the gateway's hot Lua scripts run
by fakeredis, against the Python twins they replaced (and real Redis, given a URL).

    .venv/bin/python bench/redis_embedded.py [--calls 2000] [--redis-url redis://...]

Without ``REDIS_URL`` the gateway keeps its shared state in an in-process fakeredis server
that runs the same Lua as Redis (gateway/redis.py). Until that change, gateway/redis_memory.py
answered each script with a Python method instead; the bench loads that file from the git
history (the commit before the one that deleted it, or ``--twin-rev``) and times both, call
by call: a lease acquired (the user's stream slot, guarded by the policy version, and the
worker's in-flight lease), renewed, counted, released, and a request's tokens added to its
budgets. "one request" is what admission and the in-flight count do once per chat request;
nothing here runs per token, so the per-token figure is that request spread over an answer of
``--tokens`` tokens.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TWIN = "gateway/redis_memory.py"
sys.path.insert(0, str(ROOT))

Op = Callable[[int], Awaitable[Any]]
# Members a lease set holds while the bench runs: acquisitions cycle through these, so each
# set stays the size of a busy worker's in-flight set instead of growing with every call.
HELD = 32


def twin_load(rev: str | None) -> ModuleType | None:
    """The Python twin as it was in the git history, or None (no git, no history)."""
    try:
        if rev is None:
            deleted = subprocess.run(
                ["git", "log", "-1", "--format=%H", "--diff-filter=D", "--", TWIN],
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            if not deleted:
                return None
            rev = f"{deleted}^"
        source = subprocess.run(
            ["git", "show", f"{rev}:{TWIN}"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    path = Path(tempfile.mkdtemp()) / "redis_memory_twin.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("redis_memory_twin", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def twin_ops(twin: ModuleType, workers: list[str]) -> dict[str, Op]:
    """The old embedded paths of gateway/redis.py, inflight.py and admission.py, as they
    called the twin."""
    store = twin.MemoryRedis()
    counters = ["budget:user:1", "budget:group:1"]

    async def guarded(i: int) -> Any:
        if str(await store.get("version") or "0") != "0":
            return None
        return store.lease_acquire("streams:user:1", f"s{i % HELD}", ttl=60, limit=0)

    async def acquire(i: int) -> Any:
        return store.lease_acquire(f"inflight:{workers[0]}", f"m{i % HELD}", ttl=60, limit=0)

    async def renew(i: int) -> Any:
        return store.lease_renew(f"inflight:{workers[0]}", f"m{i % HELD}", ttl=60)

    async def count(_: int) -> Any:
        return {url: store.lease_count(f"inflight:{url}") for url in workers}

    async def release(i: int) -> Any:
        await store.zrem("streams:user:1", f"s{i % HELD}")
        return await store.zrem(f"inflight:{workers[0]}", f"m{i % HELD}")

    async def budget(_: int) -> Any:
        await store.mget(counters)  # the counters exist: nothing to seed
        async with store.pipeline(transaction=False) as pipe:
            for key in counters:
                pipe.incrby(key, 300)
                pipe.expire(key, 2 * 86400)
            await pipe.execute()

    for key in counters:
        store.set_now(key, "0")
    return _with_request(
        guarded=guarded, acquire=acquire, renew=renew, count=count, release=release, budget=budget
    )


def gateway_ops(workers: list[str]) -> dict[str, Op]:
    """Today's code: gateway/redis.py, inflight.py and admission.py on whatever REDIS_URL is."""
    from gateway.admission import Caller, budget_add
    from gateway.inflight import inflight_counts, inflight_key
    from gateway.redis import (
        lease_acquire,
        lease_acquire_guarded,
        lease_release,
        lease_renew,
        redis_key,
    )

    caller = Caller(user_id=1, group_ids=frozenset({1}))
    version, streams = redis_key("bench", "version"), redis_key("bench", "streams", 1)
    inflight = inflight_key(workers[0])

    async def guarded(i: int) -> Any:
        return await lease_acquire_guarded(version, "0", streams, f"s{i % HELD}", ttl=60, limit=0)

    async def acquire(i: int) -> Any:
        return await lease_acquire(inflight, f"m{i % HELD}", ttl=60)

    async def renew(i: int) -> Any:
        return await lease_renew(inflight, f"m{i % HELD}", ttl=60)

    async def count(_: int) -> Any:
        return await inflight_counts(workers)

    async def release(i: int) -> Any:
        await lease_release(streams, f"s{i % HELD}")
        return await lease_release(inflight, f"m{i % HELD}")

    async def budget(_: int) -> Any:
        return await budget_add(caller, 300)

    return _with_request(
        guarded=guarded, acquire=acquire, renew=renew, count=count, release=release, budget=budget
    )


def _with_request(
    *, guarded: Op, acquire: Op, renew: Op, count: Op, release: Op, budget: Op
) -> dict[str, Op]:
    async def request(i: int) -> None:
        await guarded(i)
        await acquire(i)
        await release(i)
        await budget(i)

    return {
        "lease acquire, guarded": guarded,
        "lease acquire": acquire,
        "lease renew": renew,
        "in-flight counts": count,
        "leases released": release,
        "budget add": budget,
        "one request": request,
    }


async def _rate(op: Op, calls: int) -> float:
    """Calls per second, after a few unmeasured ones (connections, script loading)."""
    for i in range(10):
        await op(-i - 1)
    start = time.perf_counter()
    for i in range(calls):
        await op(i)
    return calls / (time.perf_counter() - start)


async def _measure(ops: dict[str, Op], calls: int) -> dict[str, float]:
    return {name: await _rate(op, calls) for name, op in ops.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--tokens", type=int, default=300, help="tokens in a typical answer")
    parser.add_argument("--redis-url", default="", help="also time a real Redis")
    parser.add_argument("--twin-rev", default=None, help="a git revision that has the twin")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aiportal.settings")
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))  # nothing is signed
    os.environ["REDIS_URL"] = ""
    os.environ["AIPORTAL_REDIS_PREFIX"] = f"bench-embedded-{secrets.token_hex(4)}"
    import django

    django.setup()
    from django.conf import settings

    from gateway import admission

    # No database here: a budget counter missing from Redis counts the day's records as none.
    admission._usage_since = lambda **_: 0
    workers = [f"http://bench-{n}:8000" for n in range(4)]
    columns: dict[str, dict[str, float]] = {}
    twin = twin_load(args.twin_rev)
    if twin is not None:
        columns["python twin"] = asyncio.run(_measure(twin_ops(twin, workers), args.calls))
    columns["fakeredis lua"] = asyncio.run(_measure(gateway_ops(workers), args.calls))
    if args.redis_url:
        settings.REDIS_URL = args.redis_url
        columns["redis"] = asyncio.run(_measure(gateway_ops(workers), args.calls))
        _keys_delete(settings)

    print(f"# {args.calls} calls each, one at a time; {os.cpu_count()} CPUs")
    if twin is None:
        print(f"# no python twin column: {TWIN} not found in the git history")
    print(f"{'calls/s':<24}" + "".join(f"{name:>15}" for name in columns))
    for op in next(iter(columns.values())):
        print(f"{op:<24}" + "".join(f"{column[op]:15.0f}" for column in columns.values()))
    print(
        f"{'µs per request':<24}"
        + "".join(f"{1e6 / column['one request']:15.1f}" for column in columns.values())
    )
    print(
        f"{f'µs per token ({args.tokens})':<24}"
        + "".join(
            f"{1e6 / column['one request'] / args.tokens:15.2f}" for column in columns.values()
        )
    )


def _keys_delete(settings: Any) -> None:
    from gateway.redis import redis_sync

    client = redis_sync()
    doomed = list(client.scan_iter(match=f"{settings.REDIS_PREFIX}:*", count=500))
    if doomed:
        client.delete(*doomed)


if __name__ == "__main__":
    main()
