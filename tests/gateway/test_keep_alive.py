"""A pooled connection the worker closed while it sat idle (vLLM after 5 s) is sent on again,
once, on a new connection: not a failed attempt, not a circuit strike (docs/gateway/pool.md,
"Idle connections")."""

from __future__ import annotations

import asyncio
import time

import pytest

import gateway.attempt
import gateway.circuit
from gateway.callers import Caller
from tests.gateway.proxy_support import (  # noqa: F401
    MODEL,
    QUESTION,
    emulator_state,
    emulators_fixture,
    frames_collect,
    frames_text,
    gateway_isolated_fixture,
    snapshot_ready,
)

BODY = {"model": MODEL, "messages": QUESTION, "stream": True, "seed": 3, "max_tokens": 10}


@pytest.fixture
def strikes(monkeypatch) -> list[str]:
    struck: list[str] = []
    record = gateway.circuit.circuit_record_failure

    def counting(url: str) -> None:
        struck.append(url)
        record(url)

    monkeypatch.setattr(gateway.circuit, "circuit_record_failure", counting)
    return struck


async def test_a_connection_idle_past_the_workers_keep_alive_is_not_a_failed_attempt(
    emulators, pool, settings, strikes, monkeypatch
):
    # The worker closes idle connections after 0.3 s while the gateway's pool would keep them
    # 30 s: the next request goes out on a connection the worker already closed.
    settings.AIPORTAL_UPSTREAM_KEEPALIVE = 30
    worker = emulators("--keep-alive", "0.3")
    pool(f"{worker}@test-a")
    await snapshot_ready(worker)
    settings.AIPORTAL_PROBE_INTERVAL = 60  # no probe traffic in between
    assert frames_text(await frames_collect(endpoint="chat/completions", body=BODY))
    await asyncio.sleep(0.05)  # the connection goes back to the pool
    session = gateway.attempt.upstream_session

    def idle_then_session():
        # Blocking on purpose, right before the request is written: the worker's close
        # arrives while the loop cannot see it, as when a close and a request cross on the
        # wire.
        monkeypatch.setattr(gateway.attempt, "upstream_session", session)
        time.sleep(0.8)
        return session()

    monkeypatch.setattr(gateway.attempt, "upstream_session", idle_then_session)
    frames = await frames_collect(endpoint="chat/completions", body=BODY, caller=Caller())
    assert frames_text(frames)
    assert strikes == []
    assert (await emulator_state(worker))["completed"] == 2


async def test_the_pool_lets_go_of_idle_connections_before_the_worker_does(settings):
    from gateway.http import upstream_session

    assert settings.AIPORTAL_UPSTREAM_KEEPALIVE == 4
    connector = upstream_session().connector
    assert connector is not None
    assert connector._keepalive_timeout == 4  # shorter than vLLM's 5 s
