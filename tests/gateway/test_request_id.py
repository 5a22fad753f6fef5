"""One X-Request-Id per request: sent to every worker tried, returned to the /v1 client,
on the usage record and in the gateway's log lines (gateway/request_id.py)."""

from __future__ import annotations

import contextvars
import logging
import re

import httpx
import pytest

from gateway.callers import Caller
from gateway.request_id import RequestIdLogFilter, request_id_accept, request_id_start
from tests.gateway.api_support import (
    BROKEN,
    FAST,
    ApiServer,
    bearer,
    chat,
    emulator_state,
    fast_passwords,
    key_for,
    usage_settled,
    wait_until,
)
from tests.gateway.proxy_support import (  # noqa: F401
    MODEL,
    QUESTION,
    emulators_fixture,
    frames_collect,
    frames_text,
    gateway_isolated_fixture,
    snapshot_ready,
)
from tests.gateway.proxy_support import emulator_state as emulator_state_async

_HEX = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def _fast_passwords(settings):
    fast_passwords(settings)


def _post(api: ApiServer, token: str, body: dict, **headers: str) -> httpx.Response:
    return httpx.post(
        f"{api.v1}/chat/completions", json=body, headers={**bearer(token), **headers}, timeout=20
    )


@pytest.mark.django_db(
    transaction=True, available_apps=["accounts", "gateway", "django.contrib.sessions"]
)
@pytest.mark.usefixtures("_fast_passwords")
def test_a_clients_request_id_reaches_the_worker_comes_back_and_is_recorded(api, owner):
    token = key_for(owner)
    response = _post(api, token, chat(max_tokens=3), **{"X-Request-Id": "job-42.step:7"})
    assert response.status_code == 200, response.text
    assert response.headers["X-Request-Id"] == "job-42.step:7"
    # vLLM names the request after it: the answer's id carries it.
    assert response.json()["id"] == "chatcmpl-job-42.step:7"
    assert "job-42.step:7" in emulator_state(api.workers[FAST])["request_ids"]
    (record,) = usage_settled(owner, 1)
    assert record.request_id == "job-42.step:7"


@pytest.mark.django_db(
    transaction=True, available_apps=["accounts", "gateway", "django.contrib.sessions"]
)
@pytest.mark.usefixtures("_fast_passwords")
def test_a_stream_without_an_id_gets_a_new_one_everywhere(api, owner):
    token = key_for(owner)
    body = chat(max_tokens=3, stream=True)
    with httpx.stream(
        "POST", f"{api.v1}/chat/completions", json=body, headers=bearer(token), timeout=20
    ) as response:
        assert response.status_code == 200
        request_id = response.headers["X-Request-Id"]
        frames = [line for line in response.iter_lines() if line.startswith("data: {")]
    assert _HEX.fullmatch(request_id)
    assert frames and all(f'"id":"chatcmpl-{request_id}"' in frame for frame in frames)
    assert request_id in emulator_state(api.workers[FAST])["request_ids"]
    (record,) = usage_settled(owner, 1)
    assert record.request_id == request_id


@pytest.mark.django_db(
    transaction=True, available_apps=["accounts", "gateway", "django.contrib.sessions"]
)
@pytest.mark.usefixtures("_fast_passwords")
def test_refused_requests_carry_an_id_too(api, owner):
    response = _post(api, key_for(owner), {"model": FAST})  # no messages: a 400
    assert response.status_code == 400
    assert _HEX.fullmatch(response.headers["X-Request-Id"])


@pytest.mark.parametrize(
    "unsafe", ["", "has space", 'quote"d', "new\nline", "-leading-dash", "x" * 65, "é"]
)
def test_an_unsafe_client_id_is_replaced_not_refused(unsafe):
    assert _HEX.fullmatch(request_id_accept(unsafe))


def test_a_safe_client_id_is_kept():
    assert request_id_accept("a" * 64) == "a" * 64


async def test_a_failover_keeps_the_same_id(emulators, pool):
    failing, healthy = emulators.many(("home", "--status-500"), ("away",))
    pool(f"{failing}@home", f"{healthy}@away")
    await snapshot_ready(failing, healthy)
    request_id_start("failover-1")
    body = {"model": MODEL, "messages": QUESTION, "stream": True, "max_tokens": 5}
    frames = await frames_collect(
        endpoint="chat/completions", body=body, caller=Caller(home_region="home")
    )
    assert frames_text(frames)
    assert (await emulator_state_async(failing))["request_ids"] == ["failover-1"]
    assert (await emulator_state_async(healthy))["request_ids"] == ["failover-1"]


def _line(name: str, request_id: str | None) -> str:
    def log() -> str:
        if request_id:
            request_id_start(request_id)
        record = logging.LogRecord(name, logging.WARNING, "", 1, "worker %s left", ("w1",), None)
        RequestIdLogFilter().filter(record)
        return record.getMessage()

    # A context of its own, as each request has: the id does not outlive the test.
    return contextvars.Context().run(log)


def test_log_lines_made_during_a_request_end_with_its_id():
    assert _line("gateway.proxy", "abc123") == "worker w1 left [request abc123]"
    assert _line("gateway.proxy", None) == "worker w1 left"  # outside a request: unchanged
    assert _line("django.request", "abc123") == "worker w1 left"  # not the gateway's line


@pytest.mark.django_db(
    transaction=True, available_apps=["accounts", "gateway", "django.contrib.sessions"]
)
@pytest.mark.usefixtures("_fast_passwords")
def test_the_gateways_log_lines_for_a_request_carry_its_id(api, owner):
    # The broken worker answers 503: the gateway logs that it is busy, during the request.
    body = {**chat(max_tokens=3), "model": BROKEN}
    response = _post(api, key_for(owner), body, **{"X-Request-Id": "busy-probe-9"})
    assert response.status_code == 503
    assert response.headers["X-Request-Id"] == "busy-probe-9"
    wait_until(lambda: "is busy" in api.log() and "[request busy-probe-9]" in api.log())
    usage_settled(owner, 1)


async def test_each_chat_answer_gets_its_own_id_at_the_worker(emulators, pool):
    from gateway.proxy import chat_stream

    url = emulators()
    pool(f"{url}@test-a")
    await snapshot_ready(url)
    for _ in range(2):
        async for _item in chat_stream(messages=QUESTION, max_tokens=3):
            pass
    ids = (await emulator_state_async(url))["request_ids"]
    assert len(ids) == 2 and ids[0] != ids[1]
    assert all(_HEX.fullmatch(request_id) for request_id in ids)
