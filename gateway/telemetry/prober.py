"""The prober: every ``AIPORTAL_PROBE_INTERVAL`` it reads ``/health`` and ``/metrics`` of every
worker at once (and ``/v1/models`` every ``MODELS_EVERY`` probes, or when health flips), and
publishes one snapshot. Every web process runs a ``Prober``; only the one holding the
Redis lock probes, the others wait to take over (gateway/telemetry/election.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import asdict, dataclass, replace

import aiohttp
import orjson
from django.conf import settings

from gateway.http import probe_session
from gateway.pool import Resolver, pool_resolve
from gateway.telemetry import store
from gateway.telemetry.election import LeaderLock
from gateway.telemetry.prometheus import (
    MetricsUnreadable,
    NoLoadMetrics,
    WorkerGauges,
    metrics_parse,
)
from gateway.telemetry.store import Entry, Snapshot, WorkerState
from gateway.types import WorkerSpec

logger = logging.getLogger(__name__)

MODELS_EVERY = 10  # probes between two /v1/models reads of a worker whose health holds
# A vLLM /metrics page is a few hundred KB with many histograms; a body past this is not a
# worker's, and reading it on would take the web process's memory and loop.
MAX_BODY = 16 * 1024 * 1024


def probe_timeout(interval: float) -> float:
    """Short enough that one dead worker cannot hold up a cycle for long."""
    return min(max(interval, 0.25), 2.0)


def lock_ttl(interval: float) -> float:
    # A lock that outlives three missed renewals: a busy loop does not lose it, a dead
    # holder is replaced within a few intervals.
    return max(3 * interval, 0.5)


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: bytes


class BodyTooLarge(Exception):
    pass


async def _get(spec: WorkerSpec, path: str, seconds: float) -> Reply:
    headers = {"Authorization": f"Bearer {spec.api_key}"} if spec.api_key else None
    async with asyncio.timeout(seconds):
        async with probe_session().get(
            f"{spec.url}{path}", headers=headers, allow_redirects=False
        ) as response:
            body = bytearray()
            async for chunk in response.content.iter_any():
                body += chunk
                if len(body) > MAX_BODY:
                    raise BodyTooLarge(f"more than {MAX_BODY} bytes")
            return Reply(response.status, bytes(body))


def _failure(what: str, outcome: BaseException | Reply) -> str:
    if isinstance(outcome, Reply):
        return f"{what}: HTTP {outcome.status}"
    return f"{what}: {type(outcome).__name__}"


def prefix_hit_rate(before: WorkerState, now: WorkerGauges) -> float | None:
    """The worker's prefix-cache hits over its lookups since the last probe (both counters
    count tokens). A counter that went down is a restarted worker, counted from zero as
    PromQL's rate() does; an interval without lookups keeps the last rate, so a quiet worker
    shows what its cache did when it last worked, not nothing."""
    if now.prefix_queries is None or now.prefix_hits is None:
        return None
    queries, hits = now.prefix_queries, now.prefix_hits
    if before.prefix_queries is not None and before.prefix_hits is not None:
        if queries >= before.prefix_queries and hits >= before.prefix_hits:
            queries -= before.prefix_queries
            hits -= before.prefix_hits
    elif before.metrics_at is None:
        return None  # the first scrape: nothing to compare with yet
    if queries <= 0:
        return before.prefix_hit_rate
    return min(1.0, max(0.0, hits / queries))


async def worker_probe(
    spec: WorkerSpec, previous: WorkerState | None, *, seconds: float, models_due: bool
) -> WorkerState:
    """One worker's state now, each read given ``seconds`` at most. What could not be read
    keeps its previous value and time, so its age grows: stale gauges count as saturated."""
    state = replace(previous) if previous else WorkerState()
    state.error = ""
    errors: list[str] = []
    health, metrics = await asyncio.gather(
        _get(spec, "/health", seconds), _get(spec, "/metrics", seconds), return_exceptions=True
    )
    now = time.time()
    state.health_at = now
    was_healthy = previous.healthy if previous else None
    state.healthy = isinstance(health, Reply) and health.status == 200
    if not state.healthy:
        errors.append(_failure("health", health))
    if isinstance(metrics, Reply) and metrics.status == 200:
        try:
            gauges = metrics_parse(metrics.body.decode("utf-8", errors="replace"))
        except NoLoadMetrics:
            state.no_load_metrics = True
        except MetricsUnreadable as exc:
            errors.append(f"metrics: {exc}")
        else:
            state.no_load_metrics = False
            state.running, state.waiting, state.kv_usage = (
                gauges.running,
                gauges.waiting,
                gauges.kv_usage,
            )
            state.prefix_hit_rate = prefix_hit_rate(state, gauges)
            state.prefix_queries, state.prefix_hits = gauges.prefix_queries, gauges.prefix_hits
            state.kv_capacity_tokens = gauges.kv_capacity_tokens
            state.metrics_at = now
    else:
        errors.append(_failure("metrics", metrics))
    flipped = was_healthy is not state.healthy
    if state.healthy and (models_due or flipped or state.models_at is None):
        try:
            reply = await _get(spec, "/v1/models", seconds)
            if reply.status == 200:
                cards = orjson.loads(reply.body)["data"]
                state.models = [str(card["id"]) for card in cards]
                state.model_lens = {
                    str(card["id"]): card["max_model_len"]
                    for card in cards
                    if type(card.get("max_model_len")) is int and card["max_model_len"] > 0
                }
                state.models_at = time.time()
            else:
                errors.append(_failure("models", reply))
        except (
            aiohttp.ClientError,
            TimeoutError,
            BodyTooLarge,
            ValueError,
            KeyError,
            TypeError,
        ) as exc:
            errors.append(_failure("models", exc))
    state.error = "; ".join(errors)
    return state


def _raise_if_cancelled() -> None:
    """Stop a loop whose task was asked to stop even if an await on the way turned the
    CancelledError into an ordinary exception (which the cycle's ``except Exception`` would
    log and carry on from): a prober that outlives its event loop's shutdown hangs it."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class Prober:
    """Runs forever in one task: elected → probe and publish; not elected → wait to be."""

    def __init__(self, *, resolver: Resolver | None = None, token: str | None = None) -> None:
        self.resolver = resolver
        self.token = token
        self.lock: LeaderLock | None = None
        self.states: dict[str, WorkerState] = {}
        self.cycles = 0
        # A killed process never runs its finally; tests of takeover set this to False.
        self.release_on_stop = True

    @property
    def leading(self) -> bool:
        return bool(self.lock and self.lock.held)

    async def run(self) -> None:
        renewer: asyncio.Task | None = None
        try:
            while True:
                _raise_if_cancelled()
                interval = settings.AIPORTAL_PROBE_INTERVAL
                started = time.monotonic()
                try:
                    lock = await self._lock(interval)
                    was_leading = lock.held
                    if await lock.acquire():
                        if not was_leading:
                            await self._seed()
                        if renewer is None or renewer.done():
                            renewer = asyncio.create_task(self._renew(lock, interval))
                        await self.cycle()
                    else:
                        self.states = {}  # a follower's memory would be stale on takeover
                except Exception:  # a bad cycle must not end the deployment's probing
                    logger.exception("probe cycle failed")
                _raise_if_cancelled()
                await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))
        finally:
            if renewer:
                renewer.cancel()
            if self.lock and self.release_on_stop:
                with contextlib.suppress(Exception):
                    await self.lock.release()

    async def _lock(self, interval: float) -> LeaderLock:
        """The lock for the current configuration (it changes when AIPORTAL_WORKERS does)."""
        key = store.prober_lock_key()
        if self.lock is None or self.lock.key != key:
            if self.lock:
                await self.lock.release()
            self.lock = LeaderLock(key, ttl=lock_ttl(interval), token=self.token)
            self.states = {}
        return self.lock

    async def _renew(self, lock: LeaderLock, interval: float) -> None:
        while True:
            await asyncio.sleep(lock.ttl_ms / 3000)
            try:
                if not await lock.renew():
                    return
            except Exception:
                logger.warning("renewing the prober lock failed", exc_info=True)

    async def cycle(self) -> Snapshot:
        """Probe every worker once and publish the snapshot (if still elected)."""
        interval = settings.AIPORTAL_PROBE_INTERVAL
        pool = await pool_resolve(resolver=self.resolver)
        models_due = self.cycles % MODELS_EVERY == 0
        self.cycles += 1
        probed_from = time.time()
        states = await asyncio.gather(
            *(
                worker_probe(
                    spec,
                    self.states.get(spec.url),
                    seconds=probe_timeout(interval),
                    models_due=models_due,
                )
                for spec in pool.workers
            )
        )
        self.states = {spec.url: state for spec, state in zip(pool.workers, states, strict=True)}
        snapshot = Snapshot(
            published_at=time.time(),
            probed_from=probed_from,
            prober=self.lock.token if self.lock else "",
            entries=[
                Entry(
                    spec=replace(spec, api_key=""),
                    state=state,
                    origin=pool.origin.get(spec.url, spec.url),
                    keyed=bool(spec.api_key),
                )
                for spec, state in zip(pool.workers, states, strict=True)
            ],
            dns=[asdict(entry) for entry in pool.dns],
        )
        encoded = store.snapshot_encode(snapshot)
        published = self.lock and await self.lock.publish(
            store.snapshot_key(), encoded, ttl_ms=store.SNAPSHOT_TTL_MS
        )
        if published:
            store.copy_invalidate()
        return snapshot

    async def _seed(self) -> None:
        """Start from the last published states: models stay known and a new leader does
        not count every worker's health as a flip."""
        try:
            copy = await store.store_read()
        except Exception:
            return
        if copy.snapshot:
            self.states = {entry.spec.url: entry.state for entry in copy.snapshot.entries}
