"""A reasoning model through /v1: its thinking reaches the client unchanged, streamed
(delta.reasoning) and not (message.reasoning), with the openai SDK and raw HTTP."""

from __future__ import annotations

import json

import httpx
import pytest
from openai import OpenAI

from tests.gateway.api_support import THINKING, bearer, fast_passwords, key_for

pytestmark = pytest.mark.django_db(
    transaction=True, available_apps=["accounts", "gateway", "django.contrib.sessions"]
)
HELLO = [{"role": "user", "content": "Why is the sky blue?"}]


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    fast_passwords(settings)


def _direct(api, body: dict) -> dict:
    """The worker's own answer, without the gateway."""
    url = api.workers[THINKING]
    return httpx.post(f"{url}/v1/chat/completions", json=body, timeout=20).json()


def test_the_sdk_gets_the_thinking_streamed_and_not(api, owner):
    client = OpenAI(base_url=api.v1, api_key=key_for(owner), max_retries=0, timeout=20)
    whole = client.chat.completions.create(model=THINKING, messages=HELLO, seed=4, max_tokens=60)
    worker = _direct(api, {"model": THINKING, "messages": HELLO, "seed": 4, "max_tokens": 60})
    # The SDK keeps fields it does not know: vLLM's "reasoning" is on the message.
    expected = worker["choices"][0]["message"]
    assert whole.choices[0].message.reasoning == expected["reasoning"]
    assert whole.choices[0].message.content == expected["content"]
    assert whole.usage.completion_tokens_details.reasoning_tokens > 0

    stream = client.chat.completions.create(
        model=THINKING, messages=HELLO, seed=4, max_tokens=60, stream=True
    )
    thought, answer, order = [], [], []
    for chunk in stream:
        for choice in chunk.choices:
            reasoning = getattr(choice.delta, "reasoning", None)
            if reasoning:
                thought.append(reasoning)
                order.append("reasoning")
            if choice.delta.content:
                answer.append(choice.delta.content)
                order.append("content")
    assert "".join(thought) == expected["reasoning"]
    assert "".join(answer) == expected["content"]
    assert "reasoning" not in order[order.index("content") :]


def test_raw_http_relays_the_chunks_and_message_unchanged(api, owner):
    token = key_for(owner)
    body = {"model": THINKING, "messages": HELLO, "seed": 6, "max_tokens": 40}
    answer = httpx.post(
        f"{api.v1}/chat/completions", json=body, headers=bearer(token), timeout=20
    ).json()
    worker = _direct(api, body)
    message, expected = answer["choices"][0]["message"], worker["choices"][0]["message"]
    assert (message["reasoning"], message["content"]) == (
        expected["reasoning"],
        expected["content"],
    )
    assert (
        answer["usage"]["completion_tokens_details"]
        == (worker["usage"]["completion_tokens_details"])
    )

    deltas = []
    with httpx.stream(
        "POST",
        f"{api.v1}/chat/completions",
        json={**body, "stream": True},
        headers=bearer(token),
        timeout=20,
    ) as response:
        for line in response.iter_lines():
            if line.startswith("data: {"):
                frame = json.loads(line[6:])
                deltas += [c["delta"] for c in frame["choices"]]
    thinking = [d for d in deltas if "reasoning" in d]
    # vLLM 0.34's thinking delta, exactly: the reasoning alone.
    assert thinking and all(set(d) == {"reasoning"} for d in thinking)
    assert "".join(d["reasoning"] for d in thinking) == worker["choices"][0]["message"]["reasoning"]
    assert (
        "".join(d.get("content") or "" for d in deltas)
        == (worker["choices"][0]["message"]["content"])
    )
