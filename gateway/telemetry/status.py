"""The pool as the admin pool page shows it: JSON-ready rows, read sync (admin views) or
async (the page's polling endpoint, which also starts this process's prober)."""

from __future__ import annotations

import math
import time
from typing import Any

from gateway.circuit import circuit_state
from gateway.inflight import inflight_counts_sync, inflight_local
from gateway.telemetry import NO_LOAD_METRICS, store
from gateway.telemetry.snapshot import circuit_states, views_build
from gateway.telemetry.store import Copy
from gateway.types import WorkerView


def _seconds(value: float) -> float | None:
    return None if math.isinf(value) else round(value, 3)


def _circuit_word(view: WorkerView) -> str:
    # This process's breaker: each web process keeps its own (gateway/circuit.py).
    return circuit_state(view.url)


def status_rows(copy: Copy, views: list[WorkerView], *, admin_ids: dict[str, int]) -> dict:
    """``admin_ids`` maps an admin row's base_url to its id, for the drain/enable buttons."""
    now = time.time()
    entries = {e.spec.url: e for e in copy.snapshot.entries} if copy.snapshot else {}
    rows: list[dict[str, Any]] = []
    for view in views:
        entry = entries.get(view.url)
        state = entry.state if entry else None
        origin = entry.origin if entry else view.url
        queries = state.prefix_queries if state else None
        hits = state.prefix_hits if state else None
        hit_rate = round(hits / queries, 4) if queries and hits is not None else None
        note = NO_LOAD_METRICS if view.healthy and view.no_load_metrics else ""
        # The page keeps the note's last word (the flag) on one line.
        lead, _, flag = note.rpartition(" ")
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
                "circuit": _circuit_word(view),
                "metrics_age": _seconds(view.metrics_age),
                "no_load_metrics": view.no_load_metrics,
                "note": note,
                "note_lead": f"{lead} " if lead else "",
                "note_flag": flag,
                "health_age": _seconds(store.age(state.health_at, now)) if state else None,
                "prefix_hit_rate": hit_rate,
                "error": state.error if state else "not probed yet",
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
    return status_rows(copy, views, admin_ids=admin_ids)


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
    return status_rows(copy, views, admin_ids=admin_ids)
