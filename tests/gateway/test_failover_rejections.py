"""In-stream rejections: an error frame with a 4xx code inside a 200 stream is vLLM 0.34
refusing this request (its stream generators send ``{"error": {…, "code": 400}}`` then
``[DONE]``). It reaches the caller as the worker said it; no failover, no continuation, no
circuit strike. An error frame of 5xx stays a worker failure (tests/gateway/test_failover.py)."""

from __future__ import annotations

import pytest

from gateway.callers import Caller
from gateway.circuit import circuit_state
from gateway.errors import UpstreamRejected
from tests.gateway.proxy_support import (  # noqa: F401
    MODEL,
    QUESTION,
    chat_collect,
    emulator_state,
    emulators_fixture,
    faults_set,
    frames_text,
    gateway_isolated_fixture,
    snapshot_ready,
)

HOME = Caller(home_region="home")
REJECTED = "The request was rejected while generating."  # the emulator's 4xx message


async def _pair(emulators, pool, **faults):
    rejecting, other = emulators.many(("home",), ("away",))
    pool(f"{rejecting}@home", f"{other}@away")
    await snapshot_ready(rejecting, other)
    await faults_set(rejecting, error_code=400, **faults)
    return rejecting, other


async def test_a_4xx_error_frame_first_is_relayed_without_failover(emulators, pool, settings):
    settings.AIPORTAL_CIRCUIT_FAILURES = 1
    rejecting, other = await _pair(emulators, pool, fail_before_first_token=True)
    from gateway.proxy import completion_stream

    body = {"model": MODEL, "messages": QUESTION, "stream": True, "max_tokens": 20}
    with pytest.raises(UpstreamRejected) as caught:
        async for _ in completion_stream(endpoint="chat/completions", body=body, caller=HOME):
            pass

    assert (caught.value.status, caught.value.detail) == (400, REJECTED)
    assert (await emulator_state(other))["started"] == 0
    assert circuit_state(rejecting) == "closed"


async def test_a_4xx_error_frame_mid_answer_ends_it_without_continuation(emulators, pool):
    _, other = await _pair(emulators, pool, error_after_tokens=3)
    frames = []
    from gateway.proxy import completion_stream

    body = {"model": MODEL, "messages": QUESTION, "stream": True, "max_tokens": 40}
    with pytest.raises(UpstreamRejected) as caught:
        async for frame in completion_stream(endpoint="chat/completions", body=body, caller=HOME):
            frames.append(frame)

    assert frames_text(frames)  # the text before the rejection was sent
    assert (caught.value.status, caught.value.detail) == (400, REJECTED)
    assert (await emulator_state(other))["started"] == 0


async def test_the_chat_hears_the_workers_rejection(emulators, pool):
    from chat.services.generation import error_outcome

    # The chat's caller has no home region: one worker, so routing cannot pick another.
    (worker,) = emulators.many(("home",))
    pool(f"{worker}@home")
    await snapshot_ready(worker)
    await faults_set(worker, error_code=400, fail_before_first_token=True)
    with pytest.raises(UpstreamRejected) as caught:
        await chat_collect(messages=QUESTION, max_tokens=20)

    outcome = error_outcome(caught.value, status="error")
    assert (outcome.code, outcome.detail) == ("upstream_rejected", REJECTED)
