"""One prober per deployment: the Redis lock, handover on shutdown, takeover on death."""

import asyncio
import concurrent.futures
import contextlib
import threading
import time
import uuid

import pytest

from gateway.redis import redis_client
from gateway.telemetry import store
from gateway.telemetry.election import LeaderLock
from gateway.telemetry.prober import Prober, lock_ttl
from tests.gateway.pool_helpers import child_line, child_start, telemetry_fixture  # noqa: F401


async def leader_of(*probers, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        leading = [p for p in probers if p.leading]
        if leading:
            assert len(leading) == 1, "two probers lead at once"
            return leading[0]
        await asyncio.sleep(0.02)
    raise AssertionError("nobody took the lock")


async def published_by():
    copy = await store.store_read()
    return copy.snapshot.prober if copy.snapshot else None


async def until_published_by(token, timeout=5.0):
    deadline = time.monotonic() + timeout
    while await published_by() != token:
        assert time.monotonic() < deadline, f"{token} never published"
        await asyncio.sleep(0.02)


@pytest.fixture
def pool_of_one(telemetry, emulator_url):
    """A Redis prefix of these tests' own: the run's session Daphnes (tests/conftest.py and
    others) run probers of their own under the run's prefix, and one holding the lock would
    keep these tests' probers from ever leading."""
    from gateway.redis import redis_sync

    run_prefix = telemetry.REDIS_PREFIX
    telemetry.REDIS_PREFIX = f"{run_prefix}:election-{uuid.uuid4().hex[:8]}"
    telemetry.AIPORTAL_WORKERS = f"{emulator_url}@test-a"
    yield telemetry
    client = redis_sync()
    for key in client.scan_iter(match=f"{telemetry.REDIS_PREFIX}:*", count=500):
        client.delete(key)


async def test_only_one_of_two_probers_probes(pool_of_one):
    one, two = Prober(token="one"), Prober(token="two")
    tasks = [asyncio.create_task(one.run()), asyncio.create_task(two.run())]
    try:
        leader = await leader_of(one, two)
        follower = two if leader is one else one
        await until_published_by(leader.token)
        cycles = follower.cycles
        await asyncio.sleep(0.5)
        assert leader.cycles >= 3
        assert follower.cycles == cycles == 0
        assert await published_by() == leader.token
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_a_prober_that_stops_hands_over_at_once(pool_of_one):
    one, two = Prober(token="one"), Prober(token="two")
    first = asyncio.create_task(one.run())
    await leader_of(one)
    second = asyncio.create_task(two.run())
    try:
        first.cancel()
        await asyncio.gather(first, return_exceptions=True)
        # A clean stop deletes the lock: the other takes over at its next attempt, long
        # before the lease would have run out.
        started = time.monotonic()
        await leader_of(two, timeout=lock_ttl(pool_of_one.AIPORTAL_PROBE_INTERVAL))
        assert time.monotonic() - started < lock_ttl(pool_of_one.AIPORTAL_PROBE_INTERVAL)
        await until_published_by("two")
    finally:
        second.cancel()
        await asyncio.gather(second, return_exceptions=True)


async def test_a_prober_that_dies_is_replaced_when_its_lease_runs_out(pool_of_one):
    one, two = Prober(token="one"), Prober(token="two")
    first = asyncio.create_task(one.run())
    await leader_of(one)
    second = asyncio.create_task(two.run())
    try:
        one.release_on_stop = False  # as a killed process: no finally runs for real
        first.cancel()
        await asyncio.gather(first, return_exceptions=True)
        assert await redis_client().get(store.prober_lock_key()) == "one"
        await leader_of(two, timeout=3 * lock_ttl(pool_of_one.AIPORTAL_PROBE_INTERVAL))
        await until_published_by("two")
    finally:
        second.cancel()
        await asyncio.gather(second, return_exceptions=True)


async def test_a_killed_prober_process_is_replaced(pool_of_one):
    child = child_start(pool_of_one, "lead")
    try:
        token = child_line(child, "LEADING")
        await until_published_by(token)
        here = Prober(token="here")
        task = asyncio.create_task(here.run())
        await asyncio.sleep(0.3)
        assert not here.leading
        child.popen.kill()  # SIGKILL: no cleanup of any kind
        child.popen.wait(5)
        await leader_of(here, timeout=5)
        await until_published_by("here")
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    finally:
        child.stop()


async def test_a_deposed_leader_can_neither_renew_nor_publish(telemetry):
    key = store.prober_lock_key()
    old = LeaderLock(key, ttl=0.2, token="old")
    assert await old.acquire()
    await asyncio.sleep(0.3)  # its lease runs out (a long pause, say)
    new = LeaderLock(key, ttl=5, token="new")
    assert await new.acquire()
    assert not await old.renew()
    assert not await old.publish(store.snapshot_key(), "stale", ttl_ms=1000)
    assert await redis_client().get(store.snapshot_key()) is None
    await old.release()  # must not delete the new holder's lock
    assert await redis_client().get(key) == "new"
    await new.release()
    assert await redis_client().get(key) is None


async def test_the_lock_works_the_same_without_redis(telemetry):
    telemetry.REDIS_URL = ""
    key = store.prober_lock_key()
    one, two = LeaderLock(key, ttl=5, token="one"), LeaderLock(key, ttl=5, token="two")
    assert await one.acquire()
    assert not await two.acquire()
    assert await one.acquire()  # renews
    await one.release()
    assert await two.acquire()
    await two.release()


def test_a_prober_stops_even_when_cancelled_inside_a_database_read(pool_of_one, monkeypatch):
    """The Worker table is read in a thread: a cancellation that arrives meanwhile must still
    end the prober (a prober that outlives its loop's shutdown hangs it).

    The prober runs on an event loop of its own, in a thread, and every wait here is bounded:
    on the test's own loop, a prober that ignored its cancellation hung the loop's teardown
    (it waits for every task) until pytest-timeout's 120 s instead of failing the assert, and
    a read that never began (the one thread that runs every thread-sensitive database call of
    the process busy elsewhere, under load) kept the test waiting for it as long."""
    from gateway import pool

    reading = threading.Event()

    def slow_rows():
        reading.set()
        time.sleep(0.3)
        return []

    monkeypatch.setattr(pool, "_admin_rows_read", slow_rows)
    loop = asyncio.new_event_loop()
    started: concurrent.futures.Future[asyncio.Task] = concurrent.futures.Future()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        task = loop.create_task(Prober(token="one").run())
        started.set_result(task)
        with contextlib.suppress(BaseException):
            loop.run_until_complete(task)
        # What the prober left behind (its lock renewer, the read it stopped waiting for)
        # ends before the loop closes.
        rest = asyncio.all_tasks(loop)
        for leftover in rest:
            leftover.cancel()
        loop.run_until_complete(asyncio.gather(*rest, return_exceptions=True))
        loop.close()

    thread = threading.Thread(target=serve, name="prober-loop", daemon=True)
    thread.start()
    task = started.result(timeout=10)
    assert reading.wait(30), "the prober never began reading the Worker table"
    loop.call_soon_threadsafe(task.cancel)
    thread.join(10)  # a stopping prober needs one Redis round trip to hand its lock over
    assert not thread.is_alive(), "the prober ignored its cancellation"
    assert task.cancelled()
