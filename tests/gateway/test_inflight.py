"""In-flight streams per worker, counted across processes with leases."""

import asyncio
import time

from gateway.inflight import inflight_counts, inflight_counts_sync, inflight_key, inflight_lease
from gateway.redis import redis_client
from gateway.telemetry.snapshot import snapshot_wait, workers_snapshot
from tests.gateway.pool_helpers import child_line, child_start, telemetry_fixture  # noqa: F401

A, B = "http://127.0.0.1:7001", "http://127.0.0.1:7002"


async def counts_become(expected: dict[str, int], timeout: float = 2.0) -> None:
    """Leases are taken in the background (one round trip after the stream starts): wait
    for the count across processes to show them."""
    deadline = time.monotonic() + timeout
    while (seen := await inflight_counts(list(expected))) != expected:
        assert time.monotonic() < deadline, f"counts stayed {seen}, expected {expected}"
        await asyncio.sleep(0.01)


async def test_a_lease_counts_while_its_block_runs(telemetry):
    assert await inflight_counts([A, B]) == {A: 0, B: 0}
    async with inflight_lease(A), inflight_lease(A), inflight_lease(B):
        await counts_become({A: 2, B: 1})
    # Released before the block is left: no waiting here.
    assert await inflight_counts([A, B]) == {A: 0, B: 0}


async def test_a_stream_shorter_than_a_round_trip_leaves_no_lease_behind(telemetry):
    # The block ends before the background acquisition has come back: the release waits
    # for it, then gives the lease back.
    for _ in range(20):
        async with inflight_lease(A):
            pass
    assert await inflight_counts([A]) == {A: 0}
    assert await redis_client().zcard(inflight_key(A)) == 0


async def test_a_lease_is_released_when_the_stream_fails(telemetry):
    try:
        async with inflight_lease(A):
            raise RuntimeError("the upstream broke")
    except RuntimeError:
        pass
    assert await inflight_counts([A]) == {A: 0}


async def test_a_cancelled_stream_releases_its_lease(telemetry):
    entered = asyncio.Event()

    async def stream():
        async with inflight_lease(A):
            entered.set()
            await asyncio.sleep(60)

    task = asyncio.create_task(stream())
    await entered.wait()
    await counts_become({A: 1})
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert await inflight_counts([A]) == {A: 0}


async def test_a_long_stream_keeps_its_lease_past_the_lease_time(telemetry):
    telemetry.AIPORTAL_INFLIGHT_LEASE = 0.3
    async with inflight_lease(A):
        await asyncio.sleep(1.0)  # more than three lease times: renewed meanwhile
        assert await inflight_counts([A]) == {A: 1}


async def test_an_abandoned_lease_expires_by_itself(telemetry):
    from gateway.redis import lease_acquire

    # What a crashed process leaves behind: a member that nobody renews or releases.
    await lease_acquire(inflight_key(A), "of-a-dead-process", ttl=0.3)
    assert await inflight_counts([A]) == {A: 1}
    await asyncio.sleep(0.45)
    assert await inflight_counts([A]) == {A: 0}
    # Expired members are pruned, not just ignored.
    assert await redis_client().zcard(inflight_key(A)) == 0


async def test_a_redis_failure_never_fails_the_stream(telemetry, monkeypatch):
    import gateway.inflight
    import gateway.redis

    async def unreachable(*args, **kwargs):
        raise ConnectionError("Redis is away")

    monkeypatch.setattr(gateway.redis, "lease_acquire", unreachable)
    async with inflight_lease(A):
        # Uncounted in Redis, but this process still knows its own stream.
        assert gateway.inflight.inflight_local() == {A: 1}
    assert gateway.inflight.inflight_local() == {}


async def test_a_crashed_process_leaks_no_stream(telemetry):
    telemetry.AIPORTAL_INFLIGHT_LEASE = 0.5
    child = child_start(telemetry, "lease", A)
    try:
        child_line(child, "HELD")
        await asyncio.sleep(0.7)  # past one lease time: the live child renewed it
        assert await inflight_counts([A]) == {A: 1}
        child.popen.kill()
        child.popen.wait(5)
        killed = time.monotonic()
        while (await inflight_counts([A]))[A]:
            assert time.monotonic() - killed < 2, "the dead process's lease never expired"
            await asyncio.sleep(0.05)
    finally:
        child.stop()


async def test_the_sync_count_agrees(telemetry):
    async with inflight_lease(B):
        await counts_become({A: 0, B: 1})
        assert inflight_counts_sync([A, B]) == {A: 0, B: 1}


async def test_counts_work_without_redis(telemetry):
    telemetry.REDIS_URL = ""
    telemetry.AIPORTAL_INFLIGHT_LEASE = 0.3
    async with inflight_lease(A):
        await asyncio.sleep(0.5)
        assert await inflight_counts([A]) == {A: 1}
        assert inflight_counts_sync([A]) == {A: 1}
    assert await inflight_counts([A]) == {A: 0}


async def test_the_snapshot_counts_this_processs_streams_at_once(telemetry, emulator_url):
    url = emulator_url
    telemetry.AIPORTAL_WORKERS = f"{url}@test-a"
    [view] = await snapshot_wait(after=0)
    assert view.inflight == 0
    # No wait for a refresh: this process's own leases count in the very next call.
    async with inflight_lease(url), inflight_lease(url):
        [view] = await workers_snapshot()
        assert view.inflight == 2
    [view] = await workers_snapshot()
    assert view.inflight == 0


async def test_the_snapshot_counts_other_processes_streams(telemetry, emulator_url):
    url = emulator_url
    telemetry.AIPORTAL_WORKERS = f"{url}@test-a"
    await snapshot_wait(after=0)
    child = child_start(telemetry, "lease", url)
    try:
        child_line(child, "HELD")
        await asyncio.sleep(0.15)  # one refresh of the in-process copy
        [view] = await workers_snapshot()
        assert view.inflight == 1
    finally:
        child.stop()
