"""A /v1 client's ``prompt_cache_key`` is routing's affinity key: requests that name the same
shared prefix land on the same worker, whatever else they ask (gateway/api/upstream.py)."""

from __future__ import annotations

import httpx
import pytest

from gateway.api import validation
from gateway.api.errors import ApiError
from gateway.api.upstream import conversation_key
from gateway.callers import Caller
from gateway.proxy import completion_once
from gateway.request_id import request_id_start
from tests.gateway.api_support import bearer, chat, fast_passwords, key_for, usage_settled
from tests.gateway.proxy_support import (  # noqa: F401
    MODEL,
    emulator_state,
    emulators_fixture,
    gateway_isolated_fixture,
    snapshot_ready,
)

QUESTIONS = [
    f"Question {i} about the attached report: what does section {i} say?" for i in range(8)
]


def _chat(question: str, **extra) -> dict:
    return {"model": MODEL, "messages": [{"role": "user", "content": question}], **extra}


async def _worker_of(urls: list[str], body: dict, *, tag: str) -> str:
    """Send ``body`` the way the /v1 view does and name the worker that answered it."""
    body = validation.chat_body(body)
    cache_key = body.pop(validation.CACHE_KEY, None)
    assert validation.CACHE_KEY not in body  # never forwarded: vLLM would only log it
    request_id_start(tag)
    caller = Caller(conversation_key=conversation_key(body, cache_key=cache_key))
    await completion_once(endpoint="chat/completions", body=body, caller=caller)
    (served,) = [url for url in urls if tag in (await emulator_state(url))["request_ids"]]
    return served


async def test_the_same_cache_key_lands_on_one_worker_whatever_the_prompt(emulators, pool):
    urls = emulators.many(("r",), ("r",), ("r",), ("r",))
    pool(*(f"{url}@r" for url in urls))
    await snapshot_ready(*urls)
    keyed = {
        await _worker_of(urls, _chat(q, max_tokens=2, prompt_cache_key="report-7"), tag=f"k{i}")
        for i, q in enumerate(QUESTIONS)
    }
    assert len(keyed) == 1
    # Without the key each opening is its own conversation, spread over the pool.
    unkeyed = {
        await _worker_of(urls, _chat(q, max_tokens=2), tag=f"u{i}") for i, q in enumerate(QUESTIONS)
    }
    assert len(unkeyed) > 1


def test_the_cache_key_outranks_the_opening_and_differs_from_it():
    body = _chat("Hi")
    assert conversation_key(body, cache_key="a") == conversation_key(_chat("Bye"), cache_key="a")
    assert conversation_key(body, cache_key="a") != conversation_key(body, cache_key="b")
    assert conversation_key(body, cache_key="a") != conversation_key(body)
    # Completions have no messages: the key alone gives them affinity.
    assert conversation_key({"prompt": "p"}, cache_key="a") == conversation_key(body, cache_key="a")


def test_a_long_or_malformed_cache_key_is_a_clear_400():
    with pytest.raises(ApiError) as caught:
        validation.chat_body(_chat("Hi", prompt_cache_key="k" * 257))
    error = caught.value.body()["error"]
    assert caught.value.status == 400
    assert error["param"] == "prompt_cache_key" and error["code"] == "limit_exceeded"
    assert "256 characters" in error["message"]
    with pytest.raises(ApiError) as caught:
        validation.completion_body({"model": MODEL, "prompt": "p", "prompt_cache_key": 7})
    assert caught.value.body()["error"]["param"] == "prompt_cache_key"
    assert validation.chat_body(_chat("Hi", prompt_cache_key="k" * 256))["prompt_cache_key"]


def test_embeddings_accept_and_drop_it_as_before():
    body = validation.embedding_body({"model": MODEL, "input": "x", "prompt_cache_key": "k"})
    assert "prompt_cache_key" not in body


@pytest.mark.django_db(
    transaction=True, available_apps=["accounts", "gateway", "django.contrib.sessions"]
)
def test_the_v1_api_takes_the_key_and_refuses_a_long_one(api, owner, settings):
    fast_passwords(settings)
    token = key_for(owner)

    def post(key: str) -> httpx.Response:
        body = chat(max_tokens=2, prompt_cache_key=key)
        return httpx.post(
            f"{api.v1}/chat/completions", json=body, headers=bearer(token), timeout=20
        )

    assert post("report-7").status_code == 200
    usage_settled(owner, 1)
    response = post("k" * 257)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == "prompt_cache_key"
    assert error["message"] == "`prompt_cache_key` may be at most 256 characters."
