"""The streaming proxy against real emulator processes: what a healthy request looks like,
stopping, rejection, the non-streaming path. Failures: test_failover.py."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from gateway.attempt import request_headers
from gateway.callers import Caller
from gateway.errors import GatewayError, ModelUnavailable, NoWorkers, UpstreamRejected
from gateway.proxy import Delta, chat_stream, completion_once, completion_stream
from gateway.types import WorkerSpec
from tests.gateway.proxy_support import (  # noqa: F401
    MODEL,
    QUESTION,
    chat_collect,
    direct,
    direct_chat,
    emulator_state,
    emulators_fixture,
    frames_collect,
    frames_text,
    gateway_isolated_fixture,
    snapshot_ready,
    state_wait,
)


async def test_it_streams_the_answer_the_worker_would_give_directly(emulators, pool):
    url = emulators()
    pool(f"{url}@test-a")
    text, finished = await chat_collect(messages=QUESTION, seed=7, max_tokens=400)
    assert text == direct_chat(url, seed=7)["choices"][0]["message"]["content"]
    assert len(text) > 50
    assert finished.finish_reason == "stop"


async def test_it_reports_usage_and_where_the_answer_ran(emulators, pool):
    url = emulators(region="eu-west")
    pool(f"{url}@eu-west")
    _, finished = await chat_collect(messages=QUESTION, max_tokens=5)
    assert finished.finish_reason == "length"
    assert finished.usage["completion_tokens"] == 5
    assert finished.usage["prompt_tokens"] > 0
    assert finished.metrics["region"] == "eu-west"
    assert finished.metrics["worker"] == url.removeprefix("http://")
    assert finished.metrics["attempts"] == 1
    assert finished.metrics["failovers"] == 0
    assert finished.metrics["continued"] == 0
    assert finished.metrics["model"] == MODEL
    assert finished.metrics["ttft_ms"] >= 0


async def test_each_frame_is_handed_on_while_the_worker_is_still_generating(emulators, pool):
    url = emulators("--tokens-per-second", "20")
    pool(f"{url}@test-a")
    frames = completion_stream(
        endpoint="chat/completions",
        body={"model": MODEL, "messages": QUESTION, "max_tokens": 40, "stream": True},
        caller=Caller(),
    )
    async with contextlib.aclosing(frames):
        async for frame in frames:
            if frames_text([frame]):
                break
        # Not buffered: the first words are here while the worker has 30-odd tokens to go.
        state = await emulator_state(url)
        assert state["running"] == 1
        assert state["completed"] == 0


async def test_the_stream_carries_usage_only_when_the_client_asked(emulators, pool):
    url = emulators()
    pool(f"{url}@test-a")
    body = {"model": MODEL, "messages": QUESTION, "max_tokens": 7, "stream": True}
    plain = await frames_collect(endpoint="chat/completions", body=body)
    assert not any("usage" in frame for frame in plain)
    body["stream_options"] = {"include_usage": True}
    with_usage = await frames_collect(endpoint="chat/completions", body=body)
    assert with_usage[-1]["choices"] == []
    assert with_usage[-1]["usage"]["completion_tokens"] == 7
    assert not any("usage" in frame for frame in with_usage[:-1])


async def test_text_completions_stream_too(emulators, pool):
    url = emulators()
    pool(f"{url}@test-a")
    body = {"model": MODEL, "prompt": "Once upon a time", "max_tokens": 30, "seed": 2}
    frames = await frames_collect(endpoint="completions", body={**body, "stream": True})
    assert frames[0]["object"] == "text_completion"
    assert frames_text(frames) == direct(url, "completions", body)["choices"][0]["text"]


async def test_closing_the_stream_aborts_the_request_upstream(emulators, pool):
    url = emulators("--tokens-per-second", "20")
    pool(f"{url}@test-a")
    async with contextlib.aclosing(chat_stream(messages=QUESTION, max_tokens=400)) as stream:
        async for item in stream:
            if isinstance(item, Delta):
                break
    state = await state_wait(url, lambda s: s["aborted"] == 1)
    assert state["aborted"] == 1
    assert state["running"] == 0


async def test_cancelling_the_task_aborts_the_request_upstream(emulators, pool):
    url = emulators("--tokens-per-second", "20")
    pool(f"{url}@test-a")
    first = asyncio.Event()

    async def consume() -> None:
        async for item in chat_stream(messages=QUESTION, max_tokens=400):
            if isinstance(item, Delta):
                first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    state = await state_wait(url, lambda s: s["aborted"] == 1)
    assert (state["aborted"], state["running"]) == (1, 0)


async def test_a_request_the_worker_refuses_is_not_retried_elsewhere(emulators, pool):
    # The nearer worker has a short context and refuses; the other would have answered.
    # (vLLM 0.34 clamps a max_tokens the context cannot hold; a prompt it cannot hold is a 400.)
    short, roomy = emulators.many(("home", "--max-model-len", "256"), ("away",))
    pool(f"{short}@home", f"{roomy}@away")
    await snapshot_ready(short, roomy)
    long_question = [{"role": "user", "content": "Please be thorough. " * 150}]
    body = {"model": MODEL, "messages": long_question, "max_tokens": 20, "stream": True}
    with pytest.raises(UpstreamRejected) as caught:
        await frames_collect(
            endpoint="chat/completions", body=body, caller=Caller(home_region="home")
        )
    assert caught.value.status == 400
    assert "context length" in caught.value.detail
    assert (await emulator_state(roomy))["started"] == 0


async def test_it_says_so_when_no_worker_is_configured(pool):
    pool()
    with pytest.raises(NoWorkers):
        await chat_collect(messages=QUESTION)


async def test_an_unknown_model_is_unavailable(emulators, pool):
    pool(f"{emulators()}@test-a")
    with pytest.raises(ModelUnavailable, match="no-such-model"):
        await chat_collect(messages=QUESTION, model="no-such-model")


async def test_a_non_streaming_answer_is_the_workers_answer(emulators, pool):
    url = emulators()
    pool(f"{url}@test-a")
    body = {"model": MODEL, "messages": QUESTION, "seed": 5, "max_tokens": 50}
    answer = await completion_once(endpoint="chat/completions", body=body, caller=Caller())
    expected = direct(url, "chat/completions", body)
    assert answer["choices"][0]["message"] == expected["choices"][0]["message"]
    assert answer["usage"]["completion_tokens"] == expected["usage"]["completion_tokens"]


async def test_a_non_streaming_answer_fails_over_on_a_5xx(emulators, pool):
    broken, healthy = emulators.many(("home", "--status-500"), ("away",))
    pool(f"{broken}@home", f"{healthy}@away")
    await snapshot_ready(broken, healthy)
    body = {"model": MODEL, "messages": QUESTION, "max_tokens": 5}
    answer = await completion_once(
        endpoint="chat/completions", body=body, caller=Caller(home_region="home")
    )
    assert answer["usage"]["completion_tokens"] == 5
    assert (await emulator_state(healthy))["completed"] == 1


async def test_the_load_report_of_a_non_streaming_answer_reaches_the_pool(emulators, pool):
    from gateway.telemetry import store

    url = emulators()
    pool(f"{url}@test-a")
    body = {"model": MODEL, "prompt": "hello", "max_tokens": 3}
    await completion_once(endpoint="completions", body=body, caller=Caller())
    report = store.orca_local.get(url)
    assert report is not None
    assert report["waiting"] == 0.0
    assert 0.0 <= report["kv"] <= 1.0


def test_the_worker_key_goes_out_as_a_bearer_token():
    spec = WorkerSpec(url="http://w:8000", region="r", api_key="sekrit")
    assert request_headers(spec)["Authorization"] == "Bearer sekrit"
    assert request_headers(spec)["endpoint-load-metrics-format"] == "text"
    assert "Authorization" not in request_headers(WorkerSpec(url="http://w:8000", region="r"))


async def test_gateway_errors_keep_their_code_for_the_chat(emulators, pool):
    pool(f"{emulators('--die-after-tokens', '4')}@test-a")
    received: list[str] = []
    with pytest.raises(GatewayError) as caught:
        async with contextlib.aclosing(chat_stream(messages=QUESTION)) as stream:
            async for item in stream:
                if isinstance(item, Delta):
                    received.append(item.text)
    assert caught.value.code == "upstream_failed"
    assert caught.value.partial is True
    assert len(received) == 4
