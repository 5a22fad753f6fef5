"""Huge parameters: a request that asks a worker for far more than anyone needs is refused
(400 ``limit_exceeded``) or capped before it is sent, so one API key cannot hold a GPU.

On the real Daphne of tests/gateway/api_support.py, whose caps are small (messages 8, n 2,
tools 512 bytes, max_tokens 64, body 4096 bytes) so that each is crossed with a small body.
The fixed caps (log-probabilities 20, stop sequences 16) come from gateway/api/validation.py.
"""

from __future__ import annotations

import httpx
import pytest

from gateway.api.validation import MAX_LOGPROBS, MAX_STOP
from tests.gateway.api_support import FAST, bearer, chat, key_for, usage_settled

pytestmark = pytest.mark.django_db(transaction=True)

HUGE = 10**12


@pytest.fixture
def client(api, owner):
    with httpx.Client(base_url=api.v1, headers=bearer(key_for(owner)), timeout=60) as client:
        yield client


def _refused(answer: httpx.Response, param: str, *, status: int = 400) -> dict:
    assert answer.status_code == status, answer.text[:300]
    error = answer.json()["error"]
    if status == 400:
        assert error["param"] == param, error
    return error


def test_huge_counts_are_refused_before_anything_goes_upstream(client, owner):
    post = client.post
    for n in (3, 1000, HUGE):
        assert _refused(post("/chat/completions", json=chat(n=n)), "n")["code"] == (
            "limit_exceeded"
        )
    _refused(post("/completions", json={"model": FAST, "prompt": "a", "best_of": HUGE}), "best_of")
    many = [{"role": "user", "content": "hi"}] * 9
    assert _refused(post("/chat/completions", json=chat(messages=many)), "messages")["code"] == (
        "limit_exceeded"
    )
    # Thousands of messages are over the body cap already: 413, never read.
    lots = [{"role": "user", "content": "hi"}] * 5000
    _refused(post("/chat/completions", json=chat(messages=lots)), "messages", status=413)
    _refused(post("/completions", json={"model": FAST, "prompt": ["a"] * 9}), "prompt")
    _refused(post("/embeddings", json={"model": FAST, "input": ["a"] * 9}), "input")
    tools = [{"type": "function", "function": {"name": f"tool{i}"}} for i in range(40)]
    assert _refused(post("/chat/completions", json=chat(tools=tools)), "tools")["code"] == (
        "limit_exceeded"
    )
    functions = [{"name": "f" * 600}]
    _refused(post("/chat/completions", json=chat(functions=functions)), "tools")
    # None of these reached the proxy, so none left a usage record.
    from gateway.models import UsageRecord

    assert not UsageRecord.objects.filter(user=owner).exists()


def test_huge_log_probability_and_stop_requests_are_refused(client):
    post = client.post
    for value in (MAX_LOGPROBS + 1, HUGE):
        _refused(
            post("/chat/completions", json=chat(logprobs=True, top_logprobs=value)), "top_logprobs"
        )
        _refused(
            post("/completions", json={"model": FAST, "prompt": "a", "logprobs": value}),
            "logprobs",
        )
    for value in (-1, MAX_LOGPROBS + 1, HUGE):
        _refused(post("/chat/completions", json=chat(prompt_logprobs=value)), "prompt_logprobs")
        _refused(
            post("/completions", json={"model": FAST, "prompt": "a", "prompt_logprobs": value}),
            "prompt_logprobs",
        )
    stops = [f"s{i}" for i in range(MAX_STOP + 1)]
    assert _refused(post("/chat/completions", json=chat(stop=stops)), "stop")["code"] == (
        "limit_exceeded"
    )
    _refused(post("/completions", json={"model": FAST, "prompt": "a", "stop": stops}), "stop")
    _refused(post("/chat/completions", json=chat(stop=[{"a": 1}])), "stop")


def test_a_huge_max_tokens_is_clamped_to_the_cap_not_honoured(client, owner):
    for field in ("max_tokens", "max_completion_tokens"):
        answer = client.post("/chat/completions", json=chat(**{field: HUGE}))
        assert answer.status_code == 200, answer.text[:300]
        assert answer.json()["usage"]["completion_tokens"] <= 64
    within = client.post("/chat/completions", json=chat(stop=["zzz"] * MAX_STOP, max_tokens=5))
    assert within.status_code == 200
    assert within.json()["usage"]["completion_tokens"] <= 5
    usage_settled(owner, 3)
