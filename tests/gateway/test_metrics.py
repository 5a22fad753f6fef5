"""The portal's own /metrics: what it shows, and to whom."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from gateway import metrics
from tests.gateway.api_support import (
    FAST,
    ApiServer,
    api_server_start,
    api_servers_stop,
    bearer,
    chat,
    fast_passwords,
    key_for,
    usage_settled,
)

TOKEN = "metrics-token-0123456789"
NAMES = {
    "aiportal_requests",
    "aiportal_ttft_seconds",
    "aiportal_inter_token_seconds",
    "aiportal_completion_tokens",
    "aiportal_failovers",
    "aiportal_continuations",
    "aiportal_worker_up",
    "aiportal_worker_inflight",
    "aiportal_worker_queue",
    "aiportal_worker_kv_usage",
    "aiportal_worker_circuit_open",
}


def families(text: str) -> dict[str, object]:
    return {family.name: family for family in text_string_to_metric_families(text)}


def scrape(address: str = "127.0.0.1", **headers: str):
    return Client(REMOTE_ADDR=address).get("/metrics", headers=headers)


@pytest.fixture
def no_token(settings):
    settings.AIPORTAL_METRICS_TOKEN = ""


@pytest.fixture
def with_token(settings):
    settings.AIPORTAL_METRICS_TOKEN = TOKEN


@pytest.mark.parametrize("address", ["127.0.0.1", "::1", "::ffff:127.0.0.1"])
def test_without_a_token_loopback_clients_read_the_metrics(no_token, address):
    response = scrape(address)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    assert set(families(response.content.decode())) >= NAMES


@pytest.mark.parametrize("address", ["10.0.0.5", "192.168.1.20", "2001:db8::1", "", "junk"])
def test_without_a_token_everyone_else_is_refused(no_token, address):
    response = scrape(address, Authorization="Bearer anything")
    assert response.status_code == 403
    assert b"aiportal_" not in response.content


def test_behind_a_proxy_without_a_token_even_loopback_is_refused(no_token, settings):
    # The edge proxy connects from loopback: "loopback only" would let every outsider in.
    settings.AIPORTAL_BEHIND_PROXY = True
    response = scrape("127.0.0.1")
    assert response.status_code == 403
    assert b"aiportal_" not in response.content


def test_behind_a_proxy_the_token_still_opens_the_metrics(with_token, settings):
    settings.AIPORTAL_BEHIND_PROXY = True
    assert scrape("127.0.0.1", Authorization=f"Bearer {TOKEN}").status_code == 200


def test_with_a_token_only_its_bearer_reads_from_anywhere(with_token):
    assert scrape("10.0.0.5", Authorization=f"Bearer {TOKEN}").status_code == 200
    assert scrape("127.0.0.1", Authorization=f"bearer {TOKEN}").status_code == 200
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
        for address in ("127.0.0.1", "10.0.0.5"):  # loopback is no pass once a token is set
            response = scrape(address, **headers)
            assert response.status_code == 401, (address, headers)
            assert response["WWW-Authenticate"].startswith("Bearer")
            assert b"aiportal_" not in response.content


def test_only_get_and_head(no_token):
    assert Client().post("/metrics").status_code == 405
    assert Client().head("/metrics").status_code == 200


def test_the_registry_is_the_portals_own(no_token):
    text = scrape().content.decode()
    # prometheus_client's default collectors (process, gc, platform) are not ours to show.
    assert "process_cpu_seconds_total" not in text and "python_gc" not in text
    metrics.WORKER_UP.labels(worker="gpu9:8000", region="eu").set(1)
    assert 'aiportal_worker_up{region="eu",worker="gpu9:8000"} 1.0' in scrape().content.decode()
    metrics.WORKER_UP.remove("gpu9:8000", "eu")


# --- The live process -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def api(django_db_setup, django_db_blocker) -> Iterator[ApiServer]:
    yield api_server_start(django_db_blocker)
    api_servers_stop()


@pytest.mark.django_db(
    transaction=True, available_apps=["accounts", "gateway", "django.contrib.sessions"]
)
def test_a_served_request_shows_in_the_processs_metrics(api, owner, settings):
    fast_passwords(settings)
    token = key_for(owner)

    def completed() -> float:
        response = httpx.get(f"{api.url}/metrics")  # loopback, no token in this server
        assert response.status_code == 200
        for sample in families(response.text)["aiportal_requests"].samples:
            if sample.labels == {"model": FAST, "outcome": "complete"}:
                return sample.value
        return 0.0

    before = completed()
    assert httpx.post(f"{api.v1}/chat/completions", json=chat(max_tokens=3), headers=bearer(token))
    usage_settled(owner, 1)
    assert completed() == before + 1
    text = httpx.get(f"{api.url}/metrics").text
    assert 'aiportal_worker_up{region="test-a"' in text
