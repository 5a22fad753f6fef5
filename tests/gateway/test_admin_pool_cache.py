"""The pool page's cache columns: each worker's KV capacity and its prefix-cache hit rate, of
the gateway's recent requests (usage records) and the worker's own (between probes)."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from gateway.models import UsageRecord
from gateway.telemetry.store import WorkerState
from tests.gateway.pool_helpers import telemetry_fixture  # noqa: F401
from tests.gateway.test_admin_pool import (  # noqa: F401
    POOL,
    POOL_JSON,
    admin_user,
    snapshot_publish,
)
from tests.gateway.test_admin_pool import staff_client as staff_client


def _worker(**fields) -> WorkerState:
    now = time.time()
    return WorkerState(healthy=True, models=["m"], metrics_at=now, health_at=now, **fields)


def _record(worker: str, prompt: int, cached: int | None, **fields) -> None:
    UsageRecord.objects.create(
        source="api", worker=worker, prompt_tokens=prompt, cached_tokens=cached, **fields
    )


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


# Committed rows: the JSON view reads them from a thread of its own.
@pytest.mark.django_db(transaction=True)
def test_the_pool_shows_each_workers_kv_capacity_and_prefix_cache_hit_rates(
    telemetry, staff_client
):
    telemetry.AIPORTAL_WORKERS = "http://gpu1:8000@eu,http://gpu2:8000@eu"
    snapshot_publish(
        ("http://gpu1:8000", "eu", "env", _worker(kv_capacity_tokens=32768, prefix_hit_rate=0.5)),
        ("http://gpu2:8000", "eu", "env", _worker()),
    )
    _record("gpu1:8000", 1000, 800)
    _record("gpu1:8000", 1000, 600)
    # Not counted: a worker that did not say, a continued answer, an old request.
    _record("gpu1:8000", 5000, None)
    _record("gpu1:8000", 5000, 0, continued=1)
    _record("gpu1:8000", 5000, 0, created_at=timezone.now() - timedelta(minutes=10))
    _record("gpu2:8000", 3000, None)

    rows = staff_client.get(reverse(POOL_JSON)).json()["workers"]
    html = staff_client.get(reverse(POOL)).content.decode()

    first, second = rows
    assert first["kv_capacity_tokens"] == 32768
    assert first["prefix_hit_rate_seen"] == 0.7  # 1,400 of 2,000 prompt tokens
    assert first["prefix_hit_rate_worker"] == 0.5
    assert second["kv_capacity_tokens"] is None
    assert second["prefix_hit_rate_seen"] is None  # unknown, not 0 %
    assert second["prefix_hit_rate_worker"] is None
    page = _text(html)
    assert "Prefix cache hit rate" in page and "KV capacity" in page
    assert "32,768 tokens 70 % requests 50 % worker" in page
    assert "— — requests — worker" in page
