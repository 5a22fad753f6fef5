"""The streaming proxy against real emulator processes, with the emulator's faults."""

from __future__ import annotations

import asyncio
import contextlib

import httpx
import pytest

from gateway.errors import GatewayError, ModelUnavailable, NoWorkers, UpstreamFailed
from gateway.proxy import Delta, Finished, chat_stream
from tests.conftest import free_port

QUESTION = [{"role": "user", "content": "What is a prefix cache?"}]


async def collect(**kwargs) -> tuple[str, Finished]:
    text, finished = [], None
    async with contextlib.aclosing(chat_stream(**kwargs)) as stream:
        async for item in stream:
            if isinstance(item, Delta):
                text.append(item.text)
            else:
                finished = item
    assert finished is not None
    return "".join(text), finished


def direct_answer(url: str, *, seed: int) -> str:
    response = httpx.post(
        f"{url}/v1/chat/completions",
        json={"model": "aiportal-emulator", "messages": QUESTION, "seed": seed, "max_tokens": 400},
        timeout=30,
    )
    response.raise_for_status()
    return response.json()["choices"][0]["message"]["content"]


async def test_it_streams_the_answer_the_worker_would_give_directly(emulators, pool):
    url = emulators()
    pool(f"{url}@test-a")
    text, finished = await collect(messages=QUESTION, seed=7, max_tokens=400)
    assert text == direct_answer(url, seed=7)
    assert len(text) > 50
    assert finished.finish_reason == "stop"


async def test_it_reports_usage_and_where_the_answer_ran(emulators, pool):
    url = emulators(region="eu-west")
    pool(f"{url}@eu-west")
    _, finished = await collect(messages=QUESTION, max_tokens=5)
    assert finished.finish_reason == "length"
    assert finished.usage["completion_tokens"] == 5
    assert finished.usage["prompt_tokens"] > 0
    assert finished.metrics["region"] == "eu-west"
    assert finished.metrics["worker"] == url.removeprefix("http://")
    assert finished.metrics["attempts"] == 1
    assert finished.metrics["model"] == "aiportal-emulator"
    assert finished.metrics["ttft_ms"] >= 0


async def test_it_moves_to_the_next_worker_when_one_answers_503(emulators, pool):
    broken = emulators("--status-503")
    healthy = emulators(region="test-b")
    pool(f"{broken}@test-a", f"{healthy}@test-b")
    text, finished = await collect(messages=QUESTION, seed=3)
    assert text == direct_answer(healthy, seed=3)
    assert finished.metrics["attempts"] == 2
    assert finished.metrics["region"] == "test-b"


async def test_it_moves_on_when_a_worker_fails_before_its_first_frame(emulators, pool):
    failing = emulators("--fail-before-first-token")
    healthy = emulators(region="test-b")
    pool(f"{failing}@test-a", f"{healthy}@test-b")
    _, finished = await collect(messages=QUESTION)
    assert finished.metrics["attempts"] == 2
    assert finished.metrics["region"] == "test-b"


async def test_a_worker_that_does_not_answer_is_not_tried(emulators, pool):
    healthy = emulators(region="test-b")
    pool(f"http://127.0.0.1:{free_port()}@test-a", f"{healthy}@test-b")
    _, finished = await collect(messages=QUESTION)
    assert finished.metrics["region"] == "test-b"
    assert finished.metrics["attempts"] == 1


async def test_it_gives_up_with_a_retryable_error_when_every_worker_fails(emulators, pool):
    pool(f"{emulators('--status-503')}@test-a", f"{emulators('--status-500')}@test-b")
    with pytest.raises(UpstreamFailed) as caught:
        await collect(messages=QUESTION)
    assert caught.value.code == "upstream_failed"
    assert caught.value.retryable is True


async def test_it_says_so_when_no_worker_is_configured(pool):
    pool()
    with pytest.raises(NoWorkers):
        await collect(messages=QUESTION)


async def test_an_unknown_model_is_unavailable(emulators, pool):
    pool(f"{emulators()}@test-a")
    with pytest.raises(ModelUnavailable, match="no-such-model"):
        await collect(messages=QUESTION, model="no-such-model")


async def test_a_worker_that_dies_mid_answer_raises_after_the_partial_text(emulators, pool):
    pool(f"{emulators('--die-after-tokens', '4')}@test-a")
    received: list[str] = []
    with pytest.raises(GatewayError) as caught:
        async with contextlib.aclosing(chat_stream(messages=QUESTION)) as stream:
            async for item in stream:
                if isinstance(item, Delta):
                    received.append(item.text)
    assert caught.value.code == "upstream_failed"
    assert len(received) == 4


async def test_closing_the_stream_aborts_the_request_upstream(emulators, pool):
    url = emulators("--tokens-per-second", "20")
    pool(f"{url}@test-a")
    async with contextlib.aclosing(chat_stream(messages=QUESTION, max_tokens=400)) as stream:
        async for item in stream:
            if isinstance(item, Delta):
                break
    async with httpx.AsyncClient() as client:
        for _ in range(50):
            state = (await client.get(f"{url}/emulator/state")).json()
            if state["aborted"] == 1:
                break
            await asyncio.sleep(0.05)
    assert state["aborted"] == 1
    assert state["running"] == 0


async def test_a_stalled_first_frame_moves_on_after_the_first_token_timeout(
    emulators, pool, settings
):
    settings.AIPORTAL_FIRST_TOKEN_TIMEOUT = 0.5
    stalled = emulators("--ttft-ms", "5000")
    healthy = emulators(region="test-b")
    pool(f"{stalled}@test-a", f"{healthy}@test-b")
    _, finished = await collect(messages=QUESTION)
    assert finished.metrics["region"] == "test-b"
    assert finished.metrics["attempts"] == 2
