"""--stream-interval: several tokens per chunk, as vLLM 0.34's output processor sends them."""

from __future__ import annotations

import json
import time

from gateway.emulator.faults import FaultSpec
from gateway.emulator.latency import LatencyModel

from .helpers import chat_body, read_stream

USAGE = {"include_usage": True, "continuous_usage_stats": True}


def _text(stream) -> str:
    return "".join(obj["choices"][0]["delta"].get("content") or "" for obj in stream.content_chunks)


async def test_the_first_token_goes_alone_then_one_chunk_per_interval(client, start_emulator):
    plain = await start_emulator()
    coalesced = await start_emulator(stream_interval=4)
    body = chat_body(stream=True, max_tokens=14, seed=2, stream_options=USAGE)

    one = await read_stream(client, plain, body)
    four = await read_stream(client, coalesced, body)

    counts = [obj["usage"]["completion_tokens"] for obj in four.content_chunks]
    assert counts == [1, 5, 9, 13, 14]  # the last chunk: what is left at the end
    assert _text(four) == _text(one)
    assert four.objects[-1]["usage"]["completion_tokens"] == 14
    assert four.content_chunks[-1]["choices"][0]["finish_reason"] == "length"


async def test_an_abort_sends_the_tokens_held_back(client, start_emulator):
    plain = await start_emulator()
    aborting = await start_emulator(stream_interval=4, faults=FaultSpec(abort_after_tokens=7))
    body = chat_body(stream=True, max_tokens=20, seed=2, stream_options=USAGE)

    whole = await read_stream(client, plain, {**body, "max_tokens": 7})
    aborted = await read_stream(client, aborting, body)

    # Seven tokens generated: 1, then 4, then the two held back arrive with the abort.
    assert [o["usage"]["completion_tokens"] for o in aborted.content_chunks] == [1, 5, 7]
    assert aborted.content_chunks[-1]["choices"][0]["finish_reason"] == "abort"
    assert _text(aborted) == _text(whole)


async def _steps_with_a_stall(client, url: str) -> list[int]:
    """The usage increments of a stream whose server stops for 200 ms (a blocked event loop,
    the emulator runs in this one) after its third chunk."""
    body = chat_body(stream=True, max_tokens=60, seed=2, stream_options=USAGE)
    counts: list[int] = []
    async with client.stream("POST", url + "/v1/chat/completions", json=body) as response:
        async for line in response.aiter_lines():
            if not line.startswith("data: {"):
                continue
            frame = json.loads(line.removeprefix("data: "))
            if frame["choices"] and frame["choices"][0]["delta"].get("content"):
                counts.append(frame["usage"]["completion_tokens"])
                if len(counts) == 3:
                    time.sleep(0.2)
    return [b - a for a, b in zip([0, *counts], counts, strict=False)]


async def test_a_server_behind_its_schedule_sends_the_due_tokens_in_one_chunk(
    client, start_emulator
):
    latency = LatencyModel(ttft_ms=1.0, tokens_per_second=200.0, concurrency_slowdown=0.0)
    behind = await start_emulator(latency=latency, coalesce_when_behind=True)
    exact = await start_emulator(latency=latency, coalesce_when_behind=False)

    coalesced = await _steps_with_a_stall(client, behind)
    one_each = await _steps_with_a_stall(client, exact)

    # 200 ms late at 200 tokens/s: about 40 tokens were due; they come together.
    assert max(coalesced) >= 10
    assert sum(coalesced) == sum(one_each) == 60
    assert set(one_each) == {1}  # without it, one token per chunk however late
