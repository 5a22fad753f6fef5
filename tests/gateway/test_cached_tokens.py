"""usage.prompt_tokens_details.cached_tokens: recorded per request (chat and /v1, streaming
and not), passed on to /v1 clients, and counted per worker in /metrics for a hit rate."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from gateway.callers import Caller
from gateway.metrics import REGISTRY
from gateway.models import UsageRecord
from gateway.proxy import completion_once
from gateway.responses_proxy import responses_once, responses_stream
from gateway.usage import usage_flush
from tests.gateway.proxy_support import (  # noqa: F401
    MODEL,
    chat_collect,
    emulator_state,
    emulators_fixture,
    frames_collect,
    gateway_isolated_fixture,
    snapshot_ready,
)

# A prompt of many 16-token blocks: the second time, most of it is in the worker's cache.
MESSAGES = [
    {"role": "system", "content": "You answer questions about sourdough bread. " * 40},
    {"role": "user", "content": "How long should dough rise?"},
]
DETAILS = "--enable-prompt-tokens-details"


@pytest.fixture(autouse=True)
async def _close_thread_connections():
    yield
    # The async ORM ran in asgiref's threads: close their connections, or the test
    # database cannot be dropped at the end of the session.
    await sync_to_async(connections.close_all)()


def _counted(name: str, worker: str) -> float:
    labels = {"worker": worker, "region": "test-a"}
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def _records(owner) -> list[UsageRecord]:
    await usage_flush()
    return [r async for r in UsageRecord.objects.filter(user=owner).order_by("created_at", "pk")]


async def test_a_chat_answer_records_the_tokens_the_workers_cache_served(
    emulators, pool, transactional_db, owner
):
    url = emulators(DETAILS)
    pool(f"{url}@test-a")
    await snapshot_ready(url)
    worker = url.removeprefix("http://")
    prompt_before = _counted("aiportal_worker_prompt_tokens_total", worker)
    cached_before = _counted("aiportal_worker_cached_prompt_tokens_total", worker)

    await chat_collect(messages=MESSAGES, max_tokens=5, user=owner)
    _, second = await chat_collect(messages=MESSAGES, max_tokens=5, user=owner)

    cold, warm = await _records(owner)
    assert cold.cached_tokens == 0
    assert 0 < warm.cached_tokens < warm.prompt_tokens
    # The worker's own counter agrees: only the second prompt found anything.
    assert warm.cached_tokens == (await emulator_state(url))["prefix_cache_hits"]
    assert second.usage["prompt_tokens_details"]["cached_tokens"] == warm.cached_tokens
    prompt = _counted("aiportal_worker_prompt_tokens_total", worker) - prompt_before
    cached = _counted("aiportal_worker_cached_prompt_tokens_total", worker) - cached_before
    assert prompt == cold.prompt_tokens + warm.prompt_tokens
    assert cached == warm.cached_tokens


async def test_v1_answers_record_cached_tokens_and_pass_them_on(
    emulators, pool, transactional_db, owner
):
    url = emulators(DETAILS)
    pool(f"{url}@test-a")
    await snapshot_ready(url)
    caller = Caller(user_id=owner.pk)
    body = {"model": MODEL, "messages": MESSAGES, "max_tokens": 5}

    await completion_once(endpoint="chat/completions", body=body, caller=caller)
    answer = await completion_once(endpoint="chat/completions", body=body, caller=caller)
    streamed = {**body, "stream": True, "stream_options": {"include_usage": True}}
    frames = await frames_collect(endpoint="chat/completions", body=streamed, caller=caller)

    cold, warm, stream = await _records(owner)
    assert cold.cached_tokens == 0
    assert warm.cached_tokens and warm.cached_tokens == stream.cached_tokens
    assert answer["usage"]["prompt_tokens_details"]["cached_tokens"] == warm.cached_tokens
    # The stream's usage chunk is the gateway's own (it stitches usage), with the details.
    assert frames[-1]["usage"]["prompt_tokens_details"]["cached_tokens"] == stream.cached_tokens


async def test_responses_record_the_cached_input_tokens(emulators, pool, transactional_db, owner):
    url = emulators()  # vLLM's Responses usage always carries input_tokens_details
    pool(f"{url}@test-a")
    await snapshot_ready(url)
    caller = Caller(user_id=owner.pk)
    body = {"model": MODEL, "instructions": MESSAGES[0]["content"], "input": "How long?"}
    body["max_output_tokens"] = 5

    await responses_once(body=body, caller=caller)
    answer = await responses_once(body=body, caller=caller)
    stream = responses_stream(body={**body, "stream": True}, caller=caller)
    events = [event async for event in stream]

    cold, warm, streamed = await _records(owner)
    assert cold.cached_tokens == 0
    assert warm.cached_tokens == answer["usage"]["input_tokens_details"]["cached_tokens"] > 0
    completed = events[-1]["response"]["usage"]["input_tokens_details"]["cached_tokens"]
    assert streamed.cached_tokens == completed > 0


async def test_a_worker_that_does_not_say_leaves_the_count_unknown(
    emulators, pool, transactional_db, owner
):
    url = emulators()  # vLLM's default: no prompt_tokens_details
    pool(f"{url}@test-a")
    await snapshot_ready(url)
    worker = url.removeprefix("http://")

    await chat_collect(messages=MESSAGES, max_tokens=5, user=owner)
    _, finished = await chat_collect(messages=MESSAGES, max_tokens=5, user=owner)

    assert [r.cached_tokens for r in await _records(owner)] == [None, None]
    assert "prompt_tokens_details" not in finished.usage
    # Not a 0 % hit rate: neither counter moved.
    assert _counted("aiportal_worker_prompt_tokens_total", worker) == 0
    assert _counted("aiportal_worker_cached_prompt_tokens_total", worker) == 0
