# ruff: noqa: F811 -- the fixtures imported from test_admin_pool are parameters here
"""The worker list and the pool page agree with what serves: the workers from
AIPORTAL_WORKERS and DNS are listed beside the admin's, and each worker's routing verdict
explains its health, circuit and setting instead of leaving them to contradict each other."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from gateway.models import Worker
from gateway.telemetry.status import routing_verdict
from gateway.telemetry.store import WorkerState
from tests.gateway.pool_helpers import telemetry_fixture  # noqa: F401
from tests.gateway.test_admin_pool import (  # noqa: F401 -- fixtures
    admin_user,
    busy,
    snapshot_publish,
    staff_client,
)


def text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_the_worker_list_shows_the_workers_from_the_environment_and_dns(telemetry, staff_client):
    telemetry.AIPORTAL_WORKERS = "http://env-gpu:8000@eu,dns+http://localhost:9@us"
    Worker.objects.create(base_url="http://admin-gpu:8000", region="eu")
    snapshot_publish(
        ("http://env-gpu:8000", "eu", "env", busy()),
        ("http://127.0.0.1:9", "us", "dns", busy()),
        ("http://admin-gpu:8000", "eu", "admin", busy()),
    )
    html = staff_client.get(reverse("admin:gateway_worker_changelist")).content.decode()
    others = html[html.index('id="pool-others"') : html.index("Added in the admin")]
    assert "Serving from the environment and DNS (2, read-only here)" in text(others)
    assert "http://env-gpu:8000" in others and "http://127.0.0.1:9" in others
    assert "admin-gpu" not in others  # the admin's own row is in the list below
    assert "routed takes new requests" in text(others)


def test_a_down_worker_in_service_says_it_is_not_routed_and_why(telemetry, staff_client):
    telemetry.AIPORTAL_WORKERS = "http://sick-gpu:8000@eu"
    state = WorkerState(healthy=False, error="health: connection refused")
    snapshot_publish(("http://sick-gpu:8000", "eu", "env", state))
    html = staff_client.get(reverse("admin:gateway_worker_pool")).content.decode()
    row = text(re.search(r'<tr class="down">(.*?)</tr>', html, re.S).group(1))
    assert "not routed its health probe fails: health: connection refused" in row
    # The three parts are named for what they are, and explained on the page.
    assert "Circuit (this process)" in html and ">Setting<" in html
    assert 'id="pool-states-help"' in html


@pytest.mark.parametrize(
    ("state", "verdict"),
    [
        ({"enabled": False}, "not routed"),
        ({"healthy": False}, "not routed"),
        ({"circuit": "open"}, "not routed"),
        ({"draining": True}, "draining"),
        ({"circuit": "half_open"}, "on trial"),
        ({}, "routed"),
        # Down wins over draining: it takes nothing, not even the streams it had.
        ({"healthy": False, "draining": True}, "not routed"),
    ],
)
def test_the_routing_verdict_follows_the_routers_filter(state, verdict):
    given = {"enabled": True, "draining": False, "healthy": True, "circuit": "closed", "error": ""}
    assert routing_verdict(**{**given, **state})[0] == verdict
