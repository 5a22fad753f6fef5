"""The prober against real emulators: health, models, load, dead workers, staleness, and the
snapshot as other processes read it."""

import asyncio
import json
import time
from dataclasses import replace

import httpx
import pytest

from gateway.routing import load_score
from gateway.telemetry import store
from gateway.telemetry.snapshot import snapshot_wait, workers_snapshot
from gateway.telemetry.store import Entry, Snapshot, WorkerState
from gateway.types import WorkerSpec
from tests.conftest import free_port
from tests.gateway.pool_helpers import child_line, child_start, telemetry_fixture  # noqa: F401


async def until(predicate, timeout=5.0):
    """The views once ``predicate(views)`` holds; fails the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        views = await workers_snapshot()
        if predicate(views):
            return views
        assert time.monotonic() < deadline, f"never happened; last views: {views}"
        await asyncio.sleep(0.05)


def by_url(views):
    return {view.url: view for view in views}


async def test_the_prober_publishes_health_models_and_load(telemetry, emulators):
    url = emulators("--model", "alpha", "--model", "beta", region="eu")
    telemetry.AIPORTAL_WORKERS = f"{url}@eu"
    [view] = await snapshot_wait(after=time.time())
    assert view.url == url
    assert view.region == "eu"
    assert view.healthy
    assert view.models == {"alpha", "beta"}
    assert (view.running, view.waiting, view.kv_usage) == (0, 0, 0)
    assert view.metrics_age < 1
    assert view.inflight == 0


async def test_health_flips_with_the_emulators_fault_and_back(telemetry, emulators):
    url = emulators()
    telemetry.AIPORTAL_WORKERS = f"{url}@test-a"
    await until(lambda views: views[0].healthy)
    async with httpx.AsyncClient(base_url=url) as client:
        (await client.post("/emulator/faults", json={"unhealthy": True})).raise_for_status()
        [view] = await until(lambda views: not views[0].healthy)
        # The models stay known, so the worker is back in routing as soon as it is healthy.
        assert view.models == {"aiportal-emulator"}
        (await client.delete("/emulator/faults")).raise_for_status()
    await until(lambda views: views[0].healthy)


async def test_a_worker_whose_port_is_closed_is_unhealthy(telemetry, emulator_url):
    url = emulator_url
    dead = f"http://127.0.0.1:{free_port()}"
    telemetry.AIPORTAL_WORKERS = f"{url}@test-a,{dead}@test-a"
    views = by_url(await snapshot_wait(after=time.time()))
    assert views[url].healthy
    assert not views[dead].healthy
    assert views[dead].models == frozenset()
    assert views[dead].metrics_age == float("inf")
    # Load of a worker never read counts as saturated.
    assert load_score(views[dead], stale_after=telemetry.AIPORTAL_METRICS_STALE_AFTER) >= 1


async def test_a_worker_without_load_metrics_is_healthy_and_routed_by_inflight(
    telemetry, emulators
):
    from gateway.routing import route
    from gateway.types import RouteRequest

    quiet = emulators("--disable-log-stats")
    gone = f"http://127.0.0.1:{free_port()}"
    telemetry.AIPORTAL_WORKERS = f"{quiet}@test-a,{gone}@test-a"
    views = by_url(await until(lambda views: by_url(views)[quiet].healthy))
    view = views[quiet]
    assert view.no_load_metrics
    assert view.models == {"aiportal-emulator"}
    stale_after = telemetry.AIPORTAL_METRICS_STALE_AFTER
    # Not "saturated" like a worker whose metrics went stale: its own streams are its load.
    assert load_score(view, stale_after=stale_after) == 0
    assert load_score(replace(view, inflight=32), stale_after=stale_after) == 0.5
    request = RouteRequest(model="aiportal-emulator")
    assert [w.url for w in route(list(views.values()), request, policy="least_loaded")] == [quiet]


async def test_a_worker_that_dies_turns_unhealthy_and_its_metrics_go_stale(telemetry, settings):
    from tests.conftest import start_emulator

    process, url = start_emulator("--ttft-ms", "5")
    try:
        telemetry.AIPORTAL_WORKERS = f"{url}@test-a"
        await until(lambda views: views[0].healthy)
        process.stop()
        [view] = await until(lambda views: not views[0].healthy)
        await asyncio.sleep(0.4)
        [view] = await workers_snapshot()
        assert view.metrics_age > telemetry.AIPORTAL_METRICS_STALE_AFTER
        assert load_score(view, stale_after=telemetry.AIPORTAL_METRICS_STALE_AFTER) >= 1
    finally:
        process.stop()


async def _stale_snapshot_publish(
    url: str, *, metrics_at: float, published_at: float | None = None
) -> None:
    """A snapshot whose prober has stopped: the lock is held by a process that publishes
    nothing, so this process's prober cannot replace it. Its round began at ``metrics_at``."""
    from gateway.redis import redis_client

    await redis_client().set(store.prober_lock_key(), "a-prober-that-hung", px=60_000)
    state = WorkerState(healthy=True, models=["m"], running=1, waiting=0, kv_usage=0.1)
    state.metrics_at = state.health_at = state.models_at = metrics_at
    spec = WorkerSpec(url=url, region="test-a")
    await store.store_publish(
        Snapshot(
            published_at=metrics_at if published_at is None else published_at,
            probed_from=metrics_at,
            prober="hung",
            entries=[Entry(spec, state, url)],
        )
    )


async def test_waiting_for_news_skips_a_round_that_began_before_the_change(telemetry):
    """A round that probed a worker before a change and published after it is not news of
    the change (a CI run once saw a fault's effect missing for this reason)."""
    url = "http://127.0.0.1:9"
    telemetry.AIPORTAL_WORKERS = f"{url}@test-a"
    change = time.time()
    await _stale_snapshot_publish(url, metrics_at=change - 0.05, published_at=change + 0.05)
    with pytest.raises(TimeoutError):
        await snapshot_wait(after=change, wait_seconds=0.3)
    await _stale_snapshot_publish(url, metrics_at=change + 0.01)
    [view] = await snapshot_wait(after=change, wait_seconds=2)
    assert view.url == url


async def test_a_published_snapshot_says_when_its_round_began(telemetry, emulator_url):
    telemetry.AIPORTAL_WORKERS = f"{emulator_url}@test-a"
    before = time.time()
    await snapshot_wait(after=before)
    copy = await store.store_read()
    assert before <= copy.snapshot.probed_from <= copy.snapshot.published_at


async def test_metrics_age_grows_while_nobody_refreshes_the_snapshot(telemetry):
    url = "http://127.0.0.1:9"
    telemetry.AIPORTAL_WORKERS = f"{url}@test-a"
    await _stale_snapshot_publish(url, metrics_at=time.time() - 0.1)
    [first] = await workers_snapshot()
    assert load_score(first, stale_after=telemetry.AIPORTAL_METRICS_STALE_AFTER) < 1
    await asyncio.sleep(0.4)
    [later] = await workers_snapshot()
    assert later.metrics_age >= first.metrics_age + 0.35
    # Routing counts a worker it cannot see as saturated, not as idle.
    assert load_score(later, stale_after=telemetry.AIPORTAL_METRICS_STALE_AFTER) >= 1


async def test_a_second_process_reads_the_same_snapshot(telemetry, emulator_url):
    url = emulator_url
    dead = f"http://127.0.0.1:{free_port()}"
    telemetry.AIPORTAL_WORKERS = f"{url}@test-a,{dead}@test-a"
    await snapshot_wait(after=time.time())
    copy = await store.store_read()
    child = child_start(telemetry, "read")
    try:
        seen = json.loads(child_line(child, "VIEWS"))
    finally:
        child.stop()
    # Published by this process's prober (the child only followed), with the same facts.
    assert seen["prober"] == copy.snapshot.prober
    assert {w["url"]: w["healthy"] for w in seen["workers"]} == {url: True, dead: False}
    assert seen["workers"][0]["models"] == ["aiportal-emulator"]


async def test_without_redis_the_prober_runs_in_this_process(telemetry, emulator_url):
    telemetry.REDIS_URL = ""
    url = emulator_url
    telemetry.AIPORTAL_WORKERS = f"{url}@test-a"
    [view] = await snapshot_wait(after=time.time())
    assert view.healthy
    assert view.models == {"aiportal-emulator"}


async def test_the_first_read_waits_for_the_first_probe(telemetry, emulator_url):
    url = emulator_url
    telemetry.AIPORTAL_WORKERS = f"{url}@test-a"
    # Nothing is published for this pool yet: the very first call still sees the worker.
    [view] = await workers_snapshot()
    assert view.healthy


async def test_the_portals_worker_gauges_follow_the_snapshot(telemetry, emulator_url):
    from gateway import metrics

    url = emulator_url
    telemetry.AIPORTAL_WORKERS = f"{url}@eu"
    [view] = await snapshot_wait(after=time.time())
    up = metrics.REGISTRY.get_sample_value(
        "aiportal_worker_up", {"worker": view.spec.name, "region": "eu"}
    )
    assert up == 1.0


@pytest.mark.django_db(transaction=True)
async def test_api_keys_reach_the_views_but_never_redis(telemetry, emulator_url):
    from gateway.models import Worker
    from gateway.redis import redis_sync

    url = emulator_url
    telemetry.AIPORTAL_WORKERS = ""
    await Worker.objects.acreate(base_url=url, region="test-a", api_key="sk-upstream-secret")
    [view] = await snapshot_wait(after=time.time())
    assert view.spec.api_key == "sk-upstream-secret"
    assert view.spec.source == "admin"
    raw = redis_sync().get(store.snapshot_key())
    assert url in raw
    assert "sk-upstream-secret" not in raw


async def test_an_unreachable_redis_leaves_the_last_known_pool(
    telemetry, emulator_url, monkeypatch
):
    import redis.exceptions

    telemetry.AIPORTAL_WORKERS = f"{emulator_url}@test-a"
    [known] = await snapshot_wait(after=time.time())

    async def unreachable():
        raise redis.exceptions.ConnectionError("Connection refused")

    monkeypatch.setattr(store, "store_read", unreachable)
    store.copy_current(max_age=float("inf")).fetched = 0.0  # due for a refresh
    [view] = await workers_snapshot()
    assert (view.url, view.healthy, view.models) == (known.url, True, known.models)


async def test_between_tests_the_published_state_is_forgotten(telemetry, emulator_url):
    from gateway.redis import redis_client
    from gateway.state import gateway_state_reset

    telemetry.AIPORTAL_WORKERS = f"{emulator_url}@test-a"
    # What a previous test could leave: the session's worker seen with a fault since cleared.
    await _stale_snapshot_publish(emulator_url, metrics_at=time.time())
    await redis_client().delete(store.prober_lock_key())
    gateway_state_reset()
    assert await redis_client().get(store.snapshot_key()) is None
    [view] = await workers_snapshot()  # waits for this test's own first probe
    assert view.models == {"aiportal-emulator"}
