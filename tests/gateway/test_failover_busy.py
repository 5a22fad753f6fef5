"""Busy is not broken: a worker whose queue is full answers 503 (vLLM 0.34's
``--max-num-queued-reqs``). The request fails over, no circuit counts it, and the worker is
tried last for ``AIPORTAL_BUSY_BACKOFF_MS``."""

from __future__ import annotations

import pytest

from gateway.callers import Caller
from gateway.circuit import circuit_is_busy, circuit_state
from gateway.errors import WorkersBusy
from gateway.proxy import completion_once
from tests.gateway.proxy_support import (  # noqa: F401
    MODEL,
    QUESTION,
    emulator_state,
    emulators_fixture,
    faults_set,
    frames_collect,
    frames_text,
    gateway_isolated_fixture,
    snapshot_ready,
)

HOME = Caller(home_region="home")
FULL = ("--max-num-queued-reqs", "0")  # every request would overflow its queue


def _body(**extra) -> dict:
    return {"model": MODEL, "messages": QUESTION, "stream": True, "seed": 5, **extra}


async def test_a_full_worker_is_left_for_the_next_without_a_circuit_strike(
    emulators, pool, settings
):
    settings.AIPORTAL_CIRCUIT_FAILURES = 1  # one strike would open it
    full, free = emulators.many(("home", *FULL), ("away",))
    pool(f"{full}@home", f"{free}@away")
    await snapshot_ready(full, free)

    frames = await frames_collect(endpoint="chat/completions", body=_body(), caller=HOME)

    assert frames_text(frames)
    assert (await emulator_state(free))["completed"] == 1
    assert circuit_state(full) == "closed"
    assert circuit_is_busy(full)


async def test_a_busy_worker_is_tried_last_during_its_back_off(emulators, pool, settings):
    settings.AIPORTAL_BUSY_BACKOFF = 60
    busy, free = emulators.many(("home",), ("away",))
    pool(f"{busy}@home", f"{free}@away")
    await snapshot_ready(busy, free)
    await faults_set(busy, status_503=True, times=1)  # full for one request, then free
    await frames_collect(endpoint="chat/completions", body=_body(), caller=HOME)

    # Routing would pick home first; busy a moment ago, it is asked after the others.
    await frames_collect(endpoint="chat/completions", body=_body(), caller=HOME)

    assert (await emulator_state(busy))["completed"] == 0
    assert (await emulator_state(free))["completed"] == 2


async def test_every_worker_busy_is_a_retryable_503_that_opens_no_circuit(
    emulators, pool, settings
):
    settings.AIPORTAL_CIRCUIT_FAILURES = 1
    settings.AIPORTAL_BUSY_BACKOFF = 3
    first, second = emulators.many(("home", *FULL), ("away", *FULL))
    pool(f"{first}@home", f"{second}@away")
    await snapshot_ready(first, second)
    body = {"model": MODEL, "messages": QUESTION, "max_tokens": 5}

    with pytest.raises(WorkersBusy) as caught:
        await completion_once(endpoint="chat/completions", body=body, caller=HOME)

    assert (caught.value.status, caught.value.retryable) == (503, True)
    assert caught.value.retry_after == 3
    assert "busy" in caught.value.detail
    assert circuit_state(first) == circuit_state(second) == "closed"


def test_the_chat_tells_a_person_when_to_try_again_after_every_worker_was_busy():
    from chat.services.generation import error_outcome

    outcome = error_outcome(WorkersBusy(retry_after=2.4), status="error")
    assert (outcome.code, outcome.extra) == ("workers_busy", {"retry_after": 3})
