"""/v1/responses in the gateway core (gateway/responses_proxy.py) with the emulator's faults:
failover before the first event, invisible to the client, and an answer that breaks off after
it ends as a failure (Responses streams are not continued).

The failing worker sits in the caller's home region, so routing tries it first; the healthy
one is elsewhere.
"""

from __future__ import annotations

import contextlib

import httpx
import pytest

from gateway.api.responses import input_messages
from gateway.api.upstream import conversation_key
from gateway.callers import Caller
from gateway.errors import UpstreamFailed
from gateway.responses_proxy import responses_once, responses_stream
from tests.gateway.proxy_support import (  # noqa: F401
    MODEL,
    emulator_state,
    emulators_fixture,
    gateway_isolated_fixture,
    snapshot_ready,
)

HOME = Caller(home_region="home")
QUESTION = "What is a prefix cache?"


def _body(**extra) -> dict:
    return {"model": MODEL, "input": QUESTION, "seed": 11, "max_output_tokens": 400, **extra}


def _direct(url: str) -> dict:
    """The healthy worker's own answer, bypassing the gateway."""
    response = httpx.post(f"{url}/v1/responses", json=_body(), timeout=30)
    response.raise_for_status()
    return response.json()


def _text(events: list[dict]) -> str:
    return "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")


async def _pair(emulators, pool, *flags: str) -> tuple[str, str]:
    failing, healthy = emulators.many(("home", *flags), ("away",))
    pool(f"{failing}@home", f"{healthy}@away")
    await snapshot_ready(failing, healthy)
    return failing, healthy


async def _collect(body: dict, events: list[dict]) -> None:
    stream = responses_stream(body={**body, "stream": True}, caller=HOME)
    async with contextlib.aclosing(stream):
        async for event in stream:
            events.append(event)


@pytest.mark.parametrize(
    "flags",
    [("--status-503",), ("--status-500",), ("--fail-before-first-token",)],
    ids=["503", "500", "broken-after-created"],
)
async def test_a_worker_failing_before_its_first_event_is_left_for_the_next(emulators, pool, flags):
    failing, healthy = await _pair(emulators, pool, *flags)
    events: list[dict] = []
    await _collect(_body(), events)
    # The failed attempt is invisible: one created, one in_progress (the healthy worker's),
    # numbered from 0 without a gap, and the healthy worker's whole answer.
    kinds = [event["type"] for event in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds.count("response.created") == 1
    assert kinds[-1] == "response.completed"
    assert [event["sequence_number"] for event in events] == list(range(len(events)))
    assert _text(events) == _direct(healthy)["output"][0]["content"][0]["text"]
    assert (await emulator_state(failing))["running"] == 0


async def test_a_whole_answer_fails_over_too(emulators, pool):
    _, healthy = await _pair(emulators, pool, "--status-500")
    answer = await responses_once(body=_body(), caller=HOME)
    assert answer["object"] == "response" and answer["status"] == "completed"
    expected = _direct(healthy)["output"][0]["content"][0]["text"]
    assert answer["output"][0]["content"][0]["text"] == expected


async def test_a_worker_dying_after_the_first_event_ends_the_answer(emulators, pool):
    await _pair(emulators, pool, "--die-after-tokens", "5")
    events: list[dict] = []
    with pytest.raises(UpstreamFailed) as caught:
        await _collect(_body(), events)
    assert caught.value.partial
    # Part of the dying worker's answer arrived; nothing of another worker's follows it.
    assert _text(events)
    assert [event["type"] for event in events].count("response.created") == 1
    assert events[-1]["type"] == "response.output_text.delta"


def test_a_conversation_keeps_its_affinity_key_as_its_input_grows():
    def key(body: dict, cache_key: str | None = None) -> str | None:
        return conversation_key({"messages": input_messages(body)}, cache_key=cache_key)

    first = {"instructions": "Be brief.", "input": "hi"}
    later = {
        "instructions": "Be brief.",
        "input": [
            {"role": "user", "content": [{"type": "input_text", "text": "hi"}]},
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "hello"}],
            },
            {"type": "function_call_output", "call_id": "c1", "output": "42"},
            {"role": "user", "content": "and then?"},
        ],
    }
    assert key(first) == key(later)
    assert key({"instructions": "Be brief.", "input": "bye"}) != key(first)
    assert key({"input": "hi"}) != key(first)  # other instructions, another conversation
    # The client's prompt_cache_key names the shared prefix itself.
    assert key(first, "project-7") == key({"input": "bye"}, "project-7") != key(first)
