"""``workers_snapshot()``: the pool as routing sees it now, cheap enough to call per request.

It reads an in-process copy of the published snapshot, refreshed from Redis at most every
100 ms (concurrent callers share one refresh; a copy up to ``STALE_SERVED`` old is served
while the refresh runs in the background), and starts this process's ``Prober`` the
first time it runs in an event loop. A worker's ``metrics_age`` is computed here, from the
wall-clock time its gauges were read (by the probe or, fresher, an ORCA report): a snapshot
nobody refreshes any more shows ever older metrics, which routing counts as saturated.

State, per process: ``_state`` (a ``ReaderState``: the views last built, the workers' API
keys last read, the gauge labels last set), reset by ``snapshot_state_reset()``
(gateway/state.py); and, per event loop, the running prober and the refresh in flight
(``_probers``, ``_refreshing``: tasks, which end with their loop, never reset).

State: per event loop, the running prober and the refresh under way (``_probers``,
``_refreshing``); the views last built and the workers' API keys (``_state``, reset by
``snapshot_state_reset``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from dataclasses import replace

from gateway import metrics
from gateway.circuit import circuit_is_open
from gateway.inflight import inflight_counts, inflight_local
from gateway.pool import workers_configured
from gateway.telemetry import store
from gateway.telemetry.prober import Prober, probe_timeout
from gateway.telemetry.store import Copy, age
from gateway.types import WorkerView
from gateway.worker_urls import worker_url_check

logger = logging.getLogger(__name__)

KEYS_TTL = 5.0  # seconds an admin row's API key is cached by readers
REDIS_RETRY_AFTER = 1.0  # seconds between two reads of an unreachable Redis
# A copy this much older than its refresh time is served while a refresh runs.
STALE_SERVED = 0.5

_probers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[Prober, asyncio.Task]] = (
    weakref.WeakKeyDictionary()
)
_refreshing: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task] = (
    weakref.WeakKeyDictionary()
)


def prober_ensure() -> Prober:
    """This loop's prober, started if it is not running."""
    loop = asyncio.get_running_loop()
    entry = _probers.get(loop)
    if entry is None or entry[1].done():
        prober = Prober()
        task = loop.create_task(prober.run(), name="aiportal-prober")
        entry = _probers[loop] = (prober, task)
    return entry[0]


async def workers_snapshot() -> list[WorkerView]:
    """The latest view of every configured worker."""
    prober_ensure()
    copy = await copy_fresh()
    return await _views(copy)


async def snapshot_wait(*, after: float, wait_seconds: float = 5.0) -> list[WorkerView]:
    """The pool once a snapshot whose probing began at or after ``after`` (wall clock) is
    visible: for tests that need probe results newer than a change they made. (Publication
    time is not enough: a round that probed a worker just before the change can publish
    just after it.)"""
    prober_ensure()
    deadline = time.monotonic() + wait_seconds
    while True:
        copy = await copy_fresh()
        if copy.snapshot and (copy.snapshot.probed_from or 0.0) >= after:
            return await _views(copy)
        if time.monotonic() > deadline:
            raise TimeoutError("no snapshot was published in time")
        store.copy_invalidate()
        await asyncio.sleep(0.02)


async def copy_fresh() -> Copy:
    copy = store.copy_current()
    if copy is not None:
        return copy
    loop = asyncio.get_running_loop()
    task = _refreshing.get(loop)
    if task is None or task.done():
        task = _refreshing[loop] = loop.create_task(_refresh())
    # A copy a little past its refresh time is still good enough to route on (the gauges
    # in it are up to a probe interval old anyway): use it, and let the refresh run in the
    # background, instead of putting a Redis round trip before the first token of the
    # request that happens to come first after a quiet spell.
    stale = store.copy_current(max_age=STALE_SERVED)
    if stale is not None:
        return stale
    # Shielded: one caller giving up must not cancel the refresh the others wait for.
    return await asyncio.shield(task)


async def _refresh() -> Copy:
    try:
        copy = await _published_read()
    except Exception as exc:
        # Redis is unreachable: keep routing on what this process last knew. Its ages grow,
        # so routing counts those workers as saturated, but a worker is still a worker.
        logger.warning("reading the pool snapshot failed: %r", exc)
        last = store.copy_current(max_age=float("inf"))
        copy = Copy(store.pool_fingerprint(), time.monotonic(), None, {})
        if last is not None:
            copy.snapshot, copy.orca = last.snapshot, last.orca
            copy.inflight, copy.local_at_fetch = last.inflight, last.local_at_fetch
        # Ask again in a second, not every 100 ms: each attempt may wait for a timeout.
        copy.fetched += REDIS_RETRY_AFTER - store.REFRESH_EVERY
        return store.copy_store(copy)
    urls = [entry.spec.url for entry in copy.snapshot.entries] if copy.snapshot else []
    # This process's leases before the count: one opened meanwhile is counted at most twice
    # until the next refresh, never missed.
    copy.local_at_fetch = inflight_local()
    try:
        copy.inflight = await inflight_counts(urls)
    except Exception as exc:
        logger.warning("reading in-flight counts failed: %r", exc)
        copy.local_at_fetch = {}  # then this process's own leases alone are the count
    store.copy_store(copy)
    await _keys_refresh(copy)
    return copy


async def _published_read() -> Copy:
    copy = await store.store_read()
    if copy.snapshot is None:
        # Nothing published for this pool yet (a fresh deployment): the first probe is a
        # fraction of a second away; answering "no workers" meanwhile would fail requests.
        from django.conf import settings

        deadline = time.monotonic() + probe_timeout(settings.AIPORTAL_PROBE_INTERVAL) + 1.0
        while copy.snapshot is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            copy = await store.store_read()
    return copy


# --- Building the views ---------------------------------------------------------------------


def load_overlay(
    copy: Copy, url: str, running: float, waiting: float, kv: float, at: float | None
) -> tuple[float, float, float, float | None]:
    """The probe's gauges, replaced by an ORCA report when one is newer."""
    reports = [r for r in (copy.orca.get(url), store.orca_local.get(url)) if r]
    newest = max(reports, key=lambda r: r.get("at", 0.0), default=None)
    if newest and newest.get("at", 0.0) > (at or 0.0):
        waiting = newest.get("waiting", waiting)
        kv = newest.get("kv", kv)
        at = newest["at"]
    return running, waiting, kv, at


def views_build(
    copy: Copy,
    *,
    now: float,
    keys: dict[str, str],
    circuit: dict[str, bool],
    local: dict[str, int],
) -> list[WorkerView]:
    if copy.snapshot is None:
        # Never probed yet: the configured workers, none healthy, so callers say "try again
        # shortly" rather than "no worker is configured".
        return [WorkerView(spec=spec) for spec in workers_configured()]
    views = []
    for entry in copy.snapshot.entries:
        url, state = entry.spec.url, entry.state
        running, waiting, kv, at = load_overlay(
            copy, url, state.running, state.waiting, state.kv_usage, state.metrics_at
        )
        spec = entry.spec
        if entry.keyed:
            spec = replace(spec, api_key=keys.get(entry.origin, ""))
        inflight = copy.inflight.get(url, 0) + local.get(url, 0) - copy.local_at_fetch.get(url, 0)
        views.append(
            WorkerView(
                spec=spec,
                models=frozenset(state.models),
                healthy=state.healthy,
                circuit_open=circuit.get(url, False),
                running=running,
                waiting=waiting,
                kv_usage=kv,
                metrics_age=age(at, now),
                inflight=max(0, inflight),
                no_load_metrics=state.no_load_metrics,
                prefix_hit_rate=state.prefix_hit_rate,
                kv_capacity_tokens=state.kv_capacity_tokens,
            )
        )
    return views


async def _views(copy: Copy) -> list[WorkerView]:
    """The views of ``copy``, built once per refresh and again only when this process's own
    in-flight streams or circuit states change: most calls return the list already built.
    Ages are computed at build time, so they are exact to the refresh interval (100 ms)."""
    urls = [entry.spec.url for entry in copy.snapshot.entries] if copy.snapshot else []
    circuit = circuit_states(urls)
    local = inflight_local()
    key = (tuple(local.items()), frozenset(u for u, is_open in circuit.items() if is_open))
    built = _state.built
    # A copy served past its refresh time (while the refresh runs) gets its ages computed
    # anew: a worker nobody has heard from must look older with every call, never younger.
    stale = time.monotonic() - copy.fetched > store.REFRESH_EVERY
    same = built is not None and built[0] is copy and built[1] == key and built[2] == _state.keys_at
    if same and not stale:
        return list(built[3])
    views = views_build(copy, now=time.time(), keys=_state.keys, circuit=circuit, local=local)
    if built is None or built[0] is not copy:
        gauges_set(views)
    _state.built = (copy, key, _state.keys_at, views)
    return list(views)


class ReaderState:
    """What this process's snapshot reader keeps between calls."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        # The copy, local key and keys time the views were built for, and the views.
        self.built: tuple[Copy, tuple, float, list[WorkerView]] | None = None
        # Admin rows' API keys {base_url: api_key}, and when they were read (monotonic).
        self.keys: dict[str, str] = {}
        self.keys_at = 0.0
        # The (worker, region) labels the gauges were last set for.
        self.gauge_labels: set[tuple[str, str]] = set()


_state = ReaderState()


def snapshot_state_reset() -> None:
    """Forget the views built and the API keys read (tests, between configurations). The
    gauge labels are kept: they mirror the Prometheus registry, which is not reset."""
    _state.built = None
    _state.keys, _state.keys_at = {}, 0.0


# --- API keys: read from the database, never from the published snapshot ---------------------


def _keys_read() -> dict[str, str]:
    from gateway.models import Worker

    keys = {}
    for url, key in Worker.objects.exclude(api_key="").values_list("base_url", "api_key"):
        with contextlib.suppress(ValueError):  # an unusable URL is not in the pool either
            keys[worker_url_check(url)] = key
    return keys


async def _keys_refresh(copy: Copy) -> None:
    if not copy.snapshot or not any(e.keyed for e in copy.snapshot.entries):
        return
    if time.monotonic() - _state.keys_at < KEYS_TTL:
        return
    from channels.db import database_sync_to_async

    try:
        _state.keys = await database_sync_to_async(_keys_read)()
        _state.keys_at = time.monotonic()
    except Exception as exc:
        logger.warning("reading worker API keys failed (%r); using the last ones", exc)


# --- Circuit state and the portal's own per-worker gauges -------------------------------------


def circuit_states(urls: list[str]) -> dict[str, bool]:
    """This process's breaker for each worker (gateway/circuit.py: a dict lookup each)."""
    return {url: circuit_is_open(url) for url in urls}


def gauges_set(views: list[WorkerView]) -> None:
    gauges = [
        (metrics.WORKER_UP, lambda v: 1.0 if v.healthy else 0.0),
        (metrics.WORKER_INFLIGHT, lambda v: float(v.inflight)),
        (metrics.WORKER_QUEUE, lambda v: float(v.waiting)),
        (metrics.WORKER_KV_USAGE, lambda v: float(v.kv_usage)),
        (metrics.WORKER_CIRCUIT_OPEN, lambda v: 1.0 if v.circuit_open else 0.0),
        (metrics.WORKER_PREFIX_CACHE_HIT_RATE, lambda v: v.prefix_hit_rate),
        (metrics.WORKER_KV_CAPACITY_TOKENS, lambda v: v.kv_capacity_tokens),
    ]
    labels_now = {(view.spec.name, view.region) for view in views}
    try:
        for gauge, value in gauges:
            for view in views:
                now = value(view)
                if now is None:  # not known (yet): no series rather than a made-up zero
                    with contextlib.suppress(KeyError):
                        gauge.remove(view.spec.name, view.region)
                    continue
                gauge.labels(worker=view.spec.name, region=view.region).set(now)
            for gone in _state.gauge_labels - labels_now:
                # A worker that left the pool must not be reported at its last value forever.
                with contextlib.suppress(KeyError):
                    gauge.remove(*gone)
    except ValueError as exc:  # labels that do not match: report, do not fail requests
        logger.warning("setting the worker gauges failed: %r", exc)
    _state.gauge_labels = labels_now
