"""Poison requests: a request whose content makes every worker fail must not take the model
away from everyone else.

A worker that answers a request with an error of its own (a 500, an error frame) may be sick,
or the request may be poison; the gateway counts such a failure against the worker's circuit
only once another worker has served the same request, and stops at the second worker that
fails it the same way with a 422 ``request_unprocessable`` (gateway/dispatch.py). Failures
that are the worker's (unreachable, 503, a timeout) count at once, as before.

The workers are real emulators started with ``--poison``: any generation whose prompt holds
that text gets a 500, as vLLM's does for a lone UTF-16 surrogate. The gateway refuses lone
surrogates at the edge now (the second half of this file), so the pattern stands in for
whatever other input a worker cannot take.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

import tests.gateway.conftest as gateway_conftest
from gateway.callers import Caller
from gateway.circuit import circuit_state
from gateway.errors import RequestUnprocessable
from tests.chat.conftest import signed_in
from tests.conftest import _database_url, start_daphne, start_emulator
from tests.gateway.api_support import FAST, bearer, chat, key_for
from tests.gateway.api_support import emulator_state as emulator_state_sync
from tests.gateway.proxy_support import (  # noqa: F401
    MODEL,
    QUESTION,
    chat_collect,
    emulator_state,
    emulators_fixture,
    frames_collect,
    gateway_isolated_fixture,
    snapshot_ready,
)

# tests/gateway/conftest.py's: sets the worker list for one test.
pool = gateway_conftest.pool

POISON = "POISON-PILL"
POISONED = [{"role": "user", "content": f"Please repeat {POISON} for me."}]


@pytest.fixture
def poisoned_pool(emulators, pool, settings):
    """Three workers that all fail on the poison, a circuit that opens after two failures."""
    settings.AIPORTAL_CIRCUIT_FAILURES = 2
    settings.AIPORTAL_CIRCUIT_COOLDOWN = 60
    urls = emulators.many(*[("r", "--poison", POISON)] * 3)
    pool(*(f"{url}@r" for url in urls))
    return urls


def _body(messages, **extra) -> dict:
    return {"model": MODEL, "messages": messages, "max_tokens": 5, "stream": True, **extra}


async def _refused(messages, **extra) -> RequestUnprocessable:
    with pytest.raises(RequestUnprocessable) as caught:
        await frames_collect(endpoint="chat/completions", body=_body(messages, **extra))
    return caught.value


# --- The proxy: streamed, whole answers and the chat's entry point --------------------------


async def test_poison_requests_leave_every_circuit_closed_and_the_model_available(
    poisoned_pool,
):
    await snapshot_ready(*poisoned_pool)
    for _ in range(5):
        error = await _refused(POISONED)
        assert error.status == 422 and error.retryable is False
        assert "request itself" in error.detail
    assert [circuit_state(url) for url in poisoned_pool] == ["closed"] * 3
    frames = await frames_collect(endpoint="chat/completions", body=_body(QUESTION))
    assert frames  # a normal request right after is served
    poisoned = [(await emulator_state(url))["poisoned"] for url in poisoned_pool]
    assert sum(poisoned) == 10  # each poison request stopped at its second worker


async def test_a_poison_request_without_streaming_is_refused_the_same_way(poisoned_pool):
    from gateway.proxy import completion_once

    await snapshot_ready(*poisoned_pool)
    for _ in range(3):
        with pytest.raises(RequestUnprocessable):
            await completion_once(
                endpoint="chat/completions", body=_body(POISONED, stream=False), caller=Caller()
            )
    assert [circuit_state(url) for url in poisoned_pool] == ["closed"] * 3
    answer = await completion_once(
        endpoint="chat/completions", body=_body(QUESTION, stream=False), caller=Caller()
    )
    assert answer["choices"][0]["message"]["content"]


async def test_poison_sent_through_the_chat_leaves_the_model_to_everyone(poisoned_pool):
    await snapshot_ready(*poisoned_pool)
    for _ in range(3):
        with pytest.raises(RequestUnprocessable):
            await chat_collect(messages=POISONED, max_tokens=5)
    assert [circuit_state(url) for url in poisoned_pool] == ["closed"] * 3
    text, _ = await chat_collect(messages=QUESTION, max_tokens=5)
    assert text


async def test_a_worker_that_fails_every_request_still_has_its_circuit_opened(
    emulators, pool, settings
):
    settings.AIPORTAL_CIRCUIT_FAILURES = 2
    settings.AIPORTAL_CIRCUIT_COOLDOWN = 60
    sick, well = emulators.many(("home", "--status-500"), ("away",))
    pool(f"{sick}@home", f"{well}@away")
    await snapshot_ready(sick, well)
    home = Caller(home_region="home")
    for _ in range(2):  # each fails over to the well worker, which convicts the sick one
        await frames_collect(endpoint="chat/completions", body=_body(QUESTION), caller=home)
    assert circuit_state(sick) == "open"
    assert circuit_state(well) == "closed"


async def test_an_unreachable_worker_still_counts_at_once(emulators, pool, settings):
    settings.AIPORTAL_CIRCUIT_FAILURES = 1
    settings.AIPORTAL_CIRCUIT_COOLDOWN = 60
    settings.AIPORTAL_PROBE_INTERVAL = 60
    gone, well = emulators.many(("home",), ("away",))
    pool(f"{gone}@home", f"{well}@away")
    await snapshot_ready(gone, well)
    emulators.started[0].stop()  # the snapshot still shows it healthy for a while
    await frames_collect(
        endpoint="chat/completions", body=_body(QUESTION), caller=Caller(home_region="home")
    )
    assert circuit_state(gone) == "open"


# --- The front door: /v1 on a real Daphne ---------------------------------------------------


@pytest.fixture(scope="module")
def poisoned_api(django_db_setup, django_db_blocker) -> Iterator[str]:
    """A Daphne in front of three workers that all fail on the poison; its circuits open
    after two failures and stay open a minute."""
    workers = [start_emulator("--model", FAST, "--poison", POISON) for _ in range(3)]
    with django_db_blocker.unblock():
        database_url = _database_url()
    daphne, url = start_daphne(
        {
            "DATABASE_URL": database_url,
            "AIPORTAL_WORKERS": ",".join(f"{worker_url}@test-a" for _, worker_url in workers),
            "AIPORTAL_CIRCUIT_FAILURES": "2",
            "AIPORTAL_CIRCUIT_COOLDOWN_MS": "60000",
        }
    )
    try:
        yield url
    finally:
        daphne.stop()
        for process, _ in workers:
            process.stop()


@pytest.mark.django_db(transaction=True)
def test_poison_sent_to_v1_is_refused_clearly_and_the_model_stays_up(poisoned_api, owner):
    headers = bearer(key_for(owner))
    with httpx.Client(base_url=f"{poisoned_api}/v1", headers=headers, timeout=30) as client:
        models = client.get("/models")
        for _ in range(20):  # the prober's first round
            if models.json().get("data"):
                break
            models = client.get("/models")
        for stream in (False, True, False, True):
            answer = client.post(
                "/chat/completions", json=chat(f"Say {POISON}.", stream=stream, max_tokens=5)
            )
            assert answer.status_code == 422, answer.text[:300]
            error = answer.json()["error"]
            assert error["code"] == "request_unprocessable"
            assert "request itself" in error["message"]
        answer = client.post("/chat/completions", json=chat("Say hello.", max_tokens=5))
        assert answer.status_code == 200, answer.text[:300]
        assert json.loads(answer.text)["choices"][0]["message"]["content"]


# --- Lone surrogates are refused at the edge --------------------------------------------------

# JSON escapes the gateway and the chat receive as they are written, so each is a real lone
# surrogate once decoded; "\ud83d\ude00" is a valid pair (an emoji) and is accepted.
SURROGATE_BODIES = [
    (
        "chat/completions",
        b'{"model":"%s","messages":[{"role":"user","content":"a\\ud800b"}]}',
        "messages[0].content",
    ),
    (
        "chat/completions",
        b'{"model":"%s","messages":[{"role":"user","content":[{"type":"text","text":"\\udfff"}]}]}',
        "messages[0].content[0].text",
    ),
    (
        "chat/completions",
        b'{"model":"%s","messages":[{"role":"user","content":"hi"}],"tools":[{"type":'
        b'"function","function":{"name":"f","description":"\\ud800"}}]}',
        "tools[0].function.description",
    ),
    ("completions", b'{"model":"%s","prompt":"x\\udc00"}', "prompt"),
    ("embeddings", b'{"model":"%s","input":["ok","\\ud800"]}', "input[1]"),
]


@pytest.mark.django_db(transaction=True)
def test_v1_refuses_text_with_a_lone_surrogate_and_names_where_it_is(api, owner):
    headers = {**bearer(key_for(owner)), "Content-Type": "application/json"}
    with httpx.Client(base_url=api.v1, headers=headers, timeout=30) as client:
        before = emulator_state_sync(api.workers[FAST])["started"]
        for path, raw, where in SURROGATE_BODIES:
            answer = client.post(f"/{path}", content=raw % FAST.encode())
            assert answer.status_code == 400, (path, answer.text[:300])
            error = answer.json()["error"]
            assert (error["code"], error["param"]) == ("invalid_text", where), error
            assert "valid Unicode" in error["message"]
        assert emulator_state_sync(api.workers[FAST])["started"] == before
        pair = (
            b'{"model":"%s","max_tokens":3,"messages":[{"role":"user","content":"\\ud83d\\ude00"}]}'
        )
        answer = client.post("/chat/completions", content=pair % FAST.encode())
        assert answer.status_code == 200, answer.text[:300]


@pytest.mark.django_db(transaction=True)
async def test_a_chat_frame_with_a_lone_surrogate_gets_an_error_frame_and_the_socket_lives(
    owner, no_leftover_generations
):
    from chat.models import Message

    async with signed_in(owner) as socket:
        # In the content (checked by chat.send itself) and in any other field of a frame:
        # the model's name goes to the gateway's access check, a database query.
        for field, raw in (
            ("content", '{"type":"chat.send","conversation":null,"content":"a\\ud800"}'),
            ("model", '{"type":"chat.send","conversation":null,"content":"hi","model":"m\\udfff"}'),
        ):
            await socket.send(raw)
            frame = await socket.receive()
            assert (frame["type"], frame["code"]) == ("error", "bad_request"), frame
            assert field in frame["detail"] and "Unicode" in frame["detail"], frame
        assert not await Message.objects.filter(conversation__owner=owner).aexists()
        await socket.send({"type": "ping"})
        assert (await socket.receive())["type"] == "pong"


@pytest.mark.django_db
def test_the_chats_json_endpoints_refuse_a_lone_surrogate_with_a_400(owner):
    from django.test import Client

    from chat import services

    client = Client(raise_request_exception=False)
    client.force_login(owner)
    conversation = services.conversation_create(user=owner, title="Kept")
    for path, body in (
        (f"/api/conversations/{conversation.pk}/rename/", b'{"title": "x\\ud800"}'),
        (f"/c/{conversation.pk}/settings/", b'{"system_prompt": "x\\ud800"}'),
    ):
        answer = client.post(path, body, content_type="application/json")
        assert answer.status_code == 400, (path, answer.status_code)
        assert "Unicode" in answer.content.decode()
    conversation.refresh_from_db()
    assert conversation.title == "Kept"
