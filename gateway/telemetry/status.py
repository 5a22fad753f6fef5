"""The pool as the admin pool page shows it: JSON-ready rows, read sync (admin views) or
async (the page's polling endpoint, which also starts this process's prober)."""

from __future__ import annotations

import logging
import math
import time
from datetime import timedelta
from typing import Any

from channels.db import database_sync_to_async
from django.utils import timezone

from gateway.circuit import circuit_state
from gateway.inflight import inflight_counts_sync, inflight_local
from gateway.telemetry import NO_LOAD_METRICS, store
from gateway.telemetry.snapshot import circuit_states, views_build
from gateway.telemetry.store import Copy
from gateway.types import WorkerView
from gateway.usage import usage_prefix_cache_by_worker

logger = logging.getLogger(__name__)

# The requests behind the page's "as the gateway saw it" hit rate: the last few minutes.
SEEN_WINDOW = timedelta(minutes=5)


def _seconds(value: float) -> float | None:
    return None if math.isinf(value) else round(value, 3)


def _circuit_word(view: WorkerView) -> str:
    # This process's breaker: each web process keeps its own (gateway/circuit.py).
    return circuit_state(view.url)


def prefix_cache_seen_sync() -> dict[str, tuple[int, int]]:
    """Prompt and cached prompt tokens per worker name over ``SEEN_WINDOW``, from the usage
    records; empty when the database cannot say (the page must still draw)."""
    try:
        return usage_prefix_cache_by_worker(since=timezone.now() - SEEN_WINDOW)
    except Exception as exc:
        logger.warning("reading the prefix-cache hits of recent requests failed: %r", exc)
        return {}


_prefix_cache_seen = database_sync_to_async(prefix_cache_seen_sync, thread_sensitive=False)


def routing_verdict(
    *, enabled: bool, draining: bool, healthy: bool, circuit: str, error: str
) -> tuple[str, str]:
    """Whether the router sends this worker new requests now, and why, in the order routing's
    filter checks (gateway/routing.py): the page's one answer to "is it serving?", where the
    health, the circuit and the admin setting each tell only a part."""
    if not enabled:
        return "not routed", "disabled: takes no requests"
    if not healthy:
        reason = f": {error}" if error else ""
        return "not routed", f"its health probe fails{reason}"
    if circuit == "open":
        return "not routed", "circuit open: requests to it failed; tried again after a pause"
    if draining:
        return "draining", "finishes its running streams, takes no new ones"
    if circuit == "half_open":
        return "on trial", "circuit half open: the next request tests it"
    return "routed", "takes new requests"


def _tokens(count: int | None) -> str:
    return f"{count:,} tokens" if count else "—"


def _rate(part: float | None, whole: float | None) -> float | None:
    return round(part / whole, 4) if whole and part is not None else None


def status_rows(
    copy: Copy,
    views: list[WorkerView],
    *,
    admin_ids: dict[str, int],
    seen: dict[str, tuple[int, int]] | None = None,
) -> dict:
    """``admin_ids`` maps an admin row's base_url to its id, for the drain/enable buttons;
    ``seen`` a worker's name to the prompt and cached tokens of its recent requests."""
    seen = seen or {}
    now = time.time()
    entries = {e.spec.url: e for e in copy.snapshot.entries} if copy.snapshot else {}
    rows: list[dict[str, Any]] = []
    for view in views:
        entry = entries.get(view.url)
        state = entry.state if entry else None
        origin = entry.origin if entry else view.url
        prompt, cached = seen.get(view.spec.name, (0, None))
        note = NO_LOAD_METRICS if view.healthy and view.no_load_metrics else ""
        # The page keeps the note's last word (the flag) on one line.
        lead, _, flag = note.rpartition(" ")
        circuit = _circuit_word(view)
        error = state.error if state else "not probed yet"
        routing, routing_reason = routing_verdict(
            enabled=view.spec.enabled,
            draining=view.spec.draining,
            healthy=view.healthy,
            circuit=circuit,
            error=error,
        )
        rows.append(
            {
                "url": view.url,
                "name": view.spec.name,
                "region": view.region,
                "source": view.spec.source,
                "origin": origin,
                "admin_id": admin_ids.get(origin),
                "enabled": view.spec.enabled,
                "draining": view.spec.draining,
                "weight": view.spec.weight,
                "max_concurrency": view.spec.max_concurrency,
                "healthy": view.healthy,
                "models": sorted(view.models),
                "running": view.running,
                "waiting": view.waiting,
                "kv_usage": round(view.kv_usage, 4),
                "inflight": view.inflight,
                "circuit_open": view.circuit_open,
                "circuit": circuit,
                "routing": routing,
                "routing_reason": routing_reason,
                "metrics_age": _seconds(view.metrics_age),
                "no_load_metrics": view.no_load_metrics,
                "note": note,
                "note_lead": f"{lead} " if lead else "",
                "note_flag": flag,
                "health_age": _seconds(store.age(state.health_at, now)) if state else None,
                # Prefix-cache hit rates: of the requests the gateway sent it lately
                # (usage.prompt_tokens_details), and the worker's own between two probes.
                "prefix_hit_rate_seen": _rate(cached, prompt),
                "prefix_hit_rate_worker": view.prefix_hit_rate,
                "kv_capacity_tokens": view.kv_capacity_tokens,
                # As the page shows it (the template and pool.js alike).
                "kv_capacity": _tokens(view.kv_capacity_tokens),
                "error": error,
            }
        )
    snapshot = copy.snapshot
    return {
        "published_at": snapshot.published_at if snapshot else None,
        "snapshot_age": _seconds(store.age(snapshot.published_at if snapshot else None, now)),
        "prober": snapshot.prober if snapshot else "",
        "workers": rows,
        "dns": snapshot.dns if snapshot else [],
    }


def pool_status_sync(*, admin_ids: dict[str, int]) -> dict:
    copy = store.store_read_sync()
    urls = [e.spec.url for e in copy.snapshot.entries] if copy.snapshot else []
    copy.inflight = inflight_counts_sync(urls)
    copy.local_at_fetch = inflight_local()
    circuit = circuit_states(urls)
    views = views_build(copy, now=time.time(), keys={}, circuit=circuit, local=copy.local_at_fetch)
    return status_rows(copy, views, admin_ids=admin_ids, seen=prefix_cache_seen_sync())


async def pool_status(*, admin_ids: dict[str, int]) -> dict:
    from gateway.telemetry.snapshot import copy_fresh, prober_ensure

    prober_ensure()
    copy = await copy_fresh()
    urls = [e.spec.url for e in copy.snapshot.entries] if copy.snapshot else []
    views = views_build(
        copy,
        now=time.time(),
        keys={},
        circuit=circuit_states(urls),
        local=inflight_local(),
    )
    return status_rows(copy, views, admin_ids=admin_ids, seen=await _prefix_cache_seen())
