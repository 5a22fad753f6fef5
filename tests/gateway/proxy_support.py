"""Shared by the proxy, failover, circuit and admission tests: an isolated gateway per test
and helpers that talk to the emulators directly.

Import ``gateway_isolated_fixture`` into a test module to make ``gateway_isolated`` autouse
there, and ``emulators_fixture`` to replace the conftest's ``emulators`` with faster workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import uuid
from typing import Any

import httpx
import pytest

from gateway.callers import Caller
from gateway.proxy import Delta, Finished, chat_stream, completion_stream
from tests.conftest import _READY, Process

MODEL = "aiportal-emulator"
QUESTION = [{"role": "user", "content": "What is a prefix cache?"}]
# One token per chunk however loaded the machine: tests here count frames against tokens.
FAST_FLAGS = (
    *("--tokens-per-second", "2000", "--ttft-ms", "2", "--answer-tokens", "80"),
    "--no-coalesce-when-behind",
)


class Emulators:
    """Starts emulator processes for one test (several at once with ``many``, which is
    quicker than one after another) and stops them all at its end."""

    def __init__(self) -> None:
        self.started: list[Process] = []

    def __call__(self, *flags: str, region: str = "test-a") -> str:
        return self.many((region, *flags))[0]

    def many(self, *configs: tuple[str, ...]) -> list[str]:
        """Each config is ``(region, *flags)``; the URLs come back in the same order."""
        processes = [
            Process(
                [
                    sys.executable,
                    *("-m", "gateway.emulator", "--host", "127.0.0.1", "--port", "0"),
                    *("--region", region, *FAST_FLAGS, *flags),
                ]
            )
            for region, *flags in configs
        ]
        self.started += processes
        return [process.wait_for_line(_READY).group(1) for process in processes]

    def stop(self) -> None:
        for process in self.started:
            if process.popen.poll() is None:
                process.popen.terminate()
        for process in self.started:
            process.stop()


@pytest.fixture(name="emulators")
def emulators_fixture():
    """Like tests/gateway/conftest.py's, with short answers at a high rate so each test
    spends its time on what it tests. Later flags override these."""
    started = Emulators()
    yield started
    started.stop()


@pytest.fixture(name="gateway_isolated", autouse=True)
def gateway_isolated_fixture(settings):
    """Each test gets its own Redis key space (budgets, leases, the pool snapshot), fresh
    circuits and telemetry, and a quick prober."""
    from gateway.callers import policies_cache_clear
    from gateway.circuit import circuits_reset
    from gateway.redis import redis_memory_reset
    from gateway.state import telemetry_state_reset

    settings.REDIS_PREFIX = prefix = f"{settings.REDIS_PREFIX}-{uuid.uuid4().hex[:8]}"
    redis_url = settings.REDIS_URL  # a test may point it elsewhere
    settings.AIPORTAL_PROBE_INTERVAL = 0.2
    circuits_reset()
    telemetry_state_reset()
    redis_memory_reset()
    policies_cache_clear()
    yield
    circuits_reset()
    telemetry_state_reset()
    if redis_url:
        import redis

        client = redis.Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=5)
        try:
            keys = list(client.scan_iter(match=f"{prefix}:*", count=500))
            if keys:
                client.delete(*keys)
        finally:
            client.close()


async def chat_collect(**kwargs: Any) -> tuple[str, Finished]:
    text, finished = [], None
    async with contextlib.aclosing(chat_stream(**kwargs)) as stream:
        async for item in stream:
            if isinstance(item, Delta):
                text.append(item.text)
            else:
                finished = item
    assert finished is not None
    return "".join(text), finished


async def frames_collect(
    *, endpoint: str, body: dict[str, Any], caller: Caller | None = None
) -> list[dict[str, Any]]:
    frames = completion_stream(endpoint=endpoint, body=body, caller=caller or Caller())
    async with contextlib.aclosing(frames):
        return [frame async for frame in frames]


def frames_text(frames: list[dict[str, Any]]) -> str:
    parts = []
    for frame in frames:
        for choice in frame.get("choices") or []:
            parts.append((choice.get("delta") or {}).get("content") or choice.get("text") or "")
    return "".join(parts)


def direct(url: str, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
    """The worker's own non-streaming answer, bypassing the gateway."""
    response = httpx.post(f"{url}/v1/{endpoint}", json={"model": MODEL, **body}, timeout=30)
    response.raise_for_status()
    return response.json()


def direct_chat(url: str, *, seed: int, max_tokens: int = 400, messages=QUESTION) -> dict:
    return direct(
        url, "chat/completions", {"messages": messages, "seed": seed, "max_tokens": max_tokens}
    )


async def emulator_state(url: str) -> dict[str, Any]:
    async with httpx.AsyncClient() as client:
        return (await client.get(f"{url}/emulator/state")).json()


async def state_wait(url: str, check, *, seconds: float = 5.0) -> dict[str, Any]:
    """Poll the emulator's state until ``check(state)`` holds; return the last state."""
    loop = asyncio.get_running_loop()
    until = loop.time() + seconds
    while True:
        state = await emulator_state(url)
        if check(state) or loop.time() > until:
            return state
        await asyncio.sleep(0.05)


async def faults_set(url: str, **faults: Any) -> None:
    async with httpx.AsyncClient() as client:
        (await client.post(f"{url}/emulator/faults", json=faults)).raise_for_status()


async def snapshot_ready(*urls: str, seconds: float = 5.0) -> None:
    """Wait until the pool snapshot shows these workers healthy with their models."""
    from gateway.telemetry.snapshot import workers_snapshot

    loop = asyncio.get_running_loop()
    until = loop.time() + seconds
    while True:
        views = {view.url: view for view in await workers_snapshot()}
        if all(url in views and views[url].healthy and views[url].models for url in urls):
            return
        if loop.time() > until:
            raise AssertionError(f"workers not ready in the snapshot: {views}")
        await asyncio.sleep(0.05)
