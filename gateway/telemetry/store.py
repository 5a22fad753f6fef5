"""Where the pool's telemetry lives between the prober and its readers.

The elected prober publishes one JSON snapshot (every worker's spec without its API key,
health, models, gauges and the wall-clock time each was read); every process reads it at
most every ``REFRESH_EVERY`` seconds into an in-process copy. ORCA load reports go to a hash
of their own, per worker URL, so any process can add one without racing the prober.

Keys are namespaced by a fingerprint of ``AIPORTAL_WORKERS``: processes configured alike
share one prober, and a process with another list (a rolling deploy, a test run next to a
Daphne started with its own workers) never reads a snapshot of a pool it does not have.

With ``REDIS_URL`` unset, the same code runs on gateway.redis's embedded server, so the
prober simply runs in this process.

State, per process: ``_copy`` (the in-process copy of the snapshot) and ``orca_local`` (ORCA
reports this process made); ``telemetry_reset()`` forgets both (gateway/state.py's
``telemetry_state_reset()`` resets them with the pool's and the snapshot reader's state).

State: the in-process copy of the published snapshot (``_copy``) and this process's ORCA
reports (``orca_local``), both reset by ``telemetry_reset``.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from django.conf import settings

from gateway.redis import redis_client, redis_key, redis_sync
from gateway.types import WorkerSpec

SNAPSHOT_VERSION = (
    4  # 2: WorkerState.no_load_metrics; 3: kv_capacity_tokens, prefix_hit_rate; 4: model_lens
)
REFRESH_EVERY = 0.1  # seconds an in-process copy is trusted before Redis is asked again
ORCA_TTL_MS = 3_600_000  # the ORCA hash outlives any worker that stopped reporting
# A snapshot nobody renews (its configuration is gone) leaves Redis after an hour; while it
# is there, readers see its ages grow and routing counts the workers as saturated.
SNAPSHOT_TTL_MS = 3_600_000


def pool_fingerprint() -> str:
    return hashlib.sha256(settings.AIPORTAL_WORKERS.strip().encode()).hexdigest()[:12]


def snapshot_key() -> str:
    return redis_key("gw", "pool", pool_fingerprint(), "snapshot")


def prober_lock_key() -> str:
    return redis_key("gw", "pool", pool_fingerprint(), "prober")


def orca_key() -> str:
    return redis_key("gw", "orca")


@dataclass(slots=True)
class WorkerState:
    """What probing learnt of one worker. Times are wall-clock (``time.time()``) so that
    every process can compute ages; None means never."""

    healthy: bool = False
    models: list[str] = field(default_factory=list)
    # Each served model's context length as its card says (vLLM's ``max_model_len``): how
    # much of a conversation's attachments fits a turn (chat/services/attachment_context.py).
    model_lens: dict[str, int] = field(default_factory=dict)
    running: float = 0.0
    waiting: float = 0.0
    kv_usage: float = 0.0
    prefix_queries: float | None = None
    prefix_hits: float | None = None
    # The worker's own prefix-cache hit rate over the last probe interval in which it looked
    # anything up (telemetry/prober.py), and its KV capacity in tokens (cache_config_info).
    prefix_hit_rate: float | None = None
    kv_capacity_tokens: int | None = None
    metrics_at: float | None = None
    # /metrics answers without vLLM's series (--disable-log-stats): healthy, but routing
    # counts only the gateway's own streams to it (docs/gateway/pool.md).
    no_load_metrics: bool = False
    health_at: float | None = None
    models_at: float | None = None
    error: str = ""


@dataclass(slots=True)
class Entry:
    spec: WorkerSpec  # api_key always empty here: keys never leave the database
    state: WorkerState
    # The configured entry the worker comes from: its own URL, or the dns+ entry it was
    # resolved from. Readers find the admin row (and its API key) by it.
    origin: str = ""
    keyed: bool = False  # the worker has an API key (readers fetch it from the database)


@dataclass(slots=True)
class Snapshot:
    published_at: float
    prober: str
    entries: list[Entry]
    dns: list[dict[str, Any]] = field(default_factory=list)
    # When the round that made it began (wall clock). A round can start before a change
    # and publish after it, so "newer than a change" is judged by this, not published_at.
    probed_from: float | None = None


def snapshot_encode(snapshot: Snapshot) -> str:
    workers = []
    for entry in snapshot.entries:
        spec = asdict(entry.spec)
        spec.pop("api_key")
        workers.append(
            {
                "spec": spec,
                "state": asdict(entry.state),
                "origin": entry.origin,
                "keyed": entry.keyed,
            }
        )
    return json.dumps(
        {
            "v": SNAPSHOT_VERSION,
            "published_at": snapshot.published_at,
            "probed_from": snapshot.probed_from,
            "prober": snapshot.prober,
            "workers": workers,
            "dns": snapshot.dns,
        },
        separators=(",", ":"),
    )


def snapshot_decode(raw: str | None) -> Snapshot | None:
    if not raw:
        return None
    try:
        data = json.loads(raw)
        if data.get("v") != SNAPSHOT_VERSION:
            return None  # written by another version during a deploy: wait for ours
        entries = [
            Entry(
                spec=WorkerSpec(**item["spec"]),
                state=WorkerState(**item["state"]),
                origin=str(item.get("origin", "")),
                keyed=bool(item.get("keyed", False)),
            )
            for item in data["workers"]
        ]
        return Snapshot(
            published_at=float(data["published_at"]),
            prober=str(data.get("prober", "")),
            entries=entries,
            dns=list(data.get("dns", [])),
            probed_from=None if data.get("probed_from") is None else float(data["probed_from"]),
        )
    except (ValueError, KeyError, TypeError):
        return None


# --- ORCA reports ---------------------------------------------------------------------------


def orca_decode(fields: dict[str, str]) -> dict[str, dict[str, float]]:
    reports: dict[str, dict[str, float]] = {}
    for url, raw in fields.items():
        try:
            report = json.loads(raw)
            reports[url] = {k: float(v) for k, v in report.items()}
        except (ValueError, TypeError, AttributeError):
            continue
    return reports


# Reports made by this process, newer than any refresh can be: visible to it at once.
orca_local: dict[str, dict[str, float]] = {}


# --- The in-process copy --------------------------------------------------------------------


@dataclass(slots=True)
class Copy:
    fingerprint: str
    fetched: float  # time.monotonic()
    snapshot: Snapshot | None
    orca: dict[str, dict[str, float]]
    # In-flight counts read with it, and this process's own leases at that moment.
    inflight: dict[str, int] = field(default_factory=dict)
    local_at_fetch: dict[str, int] = field(default_factory=dict)


_copy: Copy | None = None


def copy_current(*, max_age: float = REFRESH_EVERY) -> Copy | None:
    copy = _copy
    if copy is None or copy.fingerprint != pool_fingerprint():
        return None
    if time.monotonic() - copy.fetched > max_age:
        return None
    return copy


def copy_store(copy: Copy) -> Copy:
    global _copy
    _copy = copy
    return copy


def copy_invalidate() -> None:
    """The next read refreshes from Redis; until then the copy is still the last known."""
    if _copy is not None:
        _copy.fetched = -math.inf


async def store_read() -> Copy:
    """The published snapshot and ORCA reports, fetched now (one round trip)."""
    client = redis_client()
    pipe = client.pipeline(transaction=False)
    pipe.get(snapshot_key())
    pipe.hgetall(orca_key())
    raw, orca = await pipe.execute()
    return Copy(pool_fingerprint(), time.monotonic(), snapshot_decode(raw), orca_decode(orca))


async def store_publish(snapshot: Snapshot) -> None:
    """Publish without the lock (tests and tools; the prober publishes through its lock)."""
    await redis_client().set(snapshot_key(), snapshot_encode(snapshot), px=SNAPSHOT_TTL_MS)


# --- Synchronous reads, for admin views (a sync view has no loop to await in) ---------------


def store_read_sync() -> Copy:
    pipe = redis_sync().pipeline(transaction=False)
    pipe.get(snapshot_key())
    pipe.hgetall(orca_key())
    raw, orca = pipe.execute()
    return Copy(pool_fingerprint(), time.monotonic(), snapshot_decode(raw), orca_decode(orca))


def telemetry_reset(*, snapshots: bool = False) -> None:
    """Forget this module's in-process telemetry (tests, between configurations). With
    ``snapshots``, also delete the published snapshots under this ``REDIS_PREFIX``, so that
    the next read waits for a fresh probe instead of seeing a state a previous test left (a
    fault since cleared)."""
    global _copy
    _copy = None
    orca_local.clear()
    if snapshots:
        client = redis_sync()
        pattern = redis_key("gw", "pool", "*", "snapshot")
        doomed = list(client.scan_iter(match=pattern, count=500))
        if doomed:
            client.delete(*doomed)


def age(at: float | None, now: float) -> float:
    return math.inf if at is None else max(0.0, now - at)
