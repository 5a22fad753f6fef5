"""/v1/responses failover over raw HTTP, on a Daphne of its own in front of two workers of one
model, one of which breaks every stream right after ``response.created`` (vLLM 0.34's engine
error, gateway/emulator/responses.py): each stream it takes first moves to the other worker, and
the client cannot tell."""

from __future__ import annotations

import json

import httpx
import pytest

from gateway.models import UsageRecord
from tests.conftest import _database_url, start_daphne, start_emulator
from tests.gateway.api_support import (
    bearer,
    emulator_state,
    fast_passwords,
    key_for,
    usage_settled,
    wait_until,
)

pytestmark = pytest.mark.django_db(
    transaction=True, available_apps=["accounts", "gateway", "django.contrib.sessions"]
)
TWIN = "twin-emulator"
FLAGS = ("--model", TWIN, "--ttft-ms", "5", "--tokens-per-second", "2000")


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    fast_passwords(settings)


@pytest.fixture(scope="module")
def twins(django_db_setup, django_db_blocker):
    started = []
    try:
        process, healthy = start_emulator(*FLAGS)
        started.append(process)
        process, failing = start_emulator(*FLAGS, "--fail-before-first-token")
        started.append(process)
        with django_db_blocker.unblock():
            database_url = _database_url()
        daphne, url = start_daphne(
            {
                "DATABASE_URL": database_url,
                "AIPORTAL_WORKERS": f"{failing}@test-a,{healthy}@test-a",
                "AIPORTAL_METRICS_TOKEN": "",
                "AIPORTAL_MAX_TOKENS": "64",
                "AIPORTAL_PROBE_INTERVAL": "0.2",
            }
        )
        started.append(daphne)
        yield f"{url}/v1", failing, healthy
    finally:
        for process in started:
            process.stop()


def _events(text: str) -> list[dict]:
    return [
        json.loads(block.split("data: ", 1)[1]) for block in text.split("\n\n") if block.strip()
    ]


def test_a_worker_failing_before_the_first_event_is_invisible_to_the_client(twins, owner):
    v1, failing, healthy = twins
    token = key_for(owner)
    wait_until(
        lambda: TWIN in httpx.get(f"{v1}/models", headers=bearer(token)).text,
        what="the gateway to see the workers",
    )
    sent = 0
    # Distinct conversations spread over both workers; go on until the failing one has been
    # tried first (its failures count), at most 16 requests, each one a clean answer.
    while emulator_state(failing)["failed"] < 1 and sent < 16:
        body = {"model": TWIN, "input": f"Question number {sent}?", "stream": True}
        response = httpx.post(f"{v1}/responses", json=body, headers=bearer(token), timeout=20)
        sent += 1
        assert response.status_code == 200, response.text
        events = _events(response.text)
        kinds = [event["type"] for event in events]
        assert kinds.count("response.created") == 1 and kinds[0] == "response.created"
        assert kinds[-1] in ("response.completed", "response.incomplete")
        assert [event["sequence_number"] for event in events] == list(range(len(events)))
    assert emulator_state(failing)["failed"] >= 1, "the failing worker was never tried"
    records = usage_settled(owner, sent)
    assert {record.outcome for record in records} == {UsageRecord.Outcome.COMPLETE}
    assert {record.worker for record in records} == {healthy.removeprefix("http://")}
    assert sum(record.failovers for record in records) == emulator_state(failing)["failed"]
