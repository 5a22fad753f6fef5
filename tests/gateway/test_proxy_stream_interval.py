"""vLLM sends several tokens per chunk (under load, and with --stream-interval): the gateway
counts tokens from usage, not frames, and feeds the inter-token histogram per token."""

from __future__ import annotations

from gateway.metrics import REGISTRY
from tests.gateway.proxy_support import (  # noqa: F401
    MODEL,
    QUESTION,
    direct_chat,
    emulators_fixture,
    frames_collect,
    frames_text,
    gateway_isolated_fixture,
)


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_chunks_of_several_tokens_count_every_token(emulators, pool, transactional_db, owner):
    from gateway.models import UsageRecord
    from gateway.usage import usage_flush
    from tests.gateway.proxy_support import chat_collect

    url = emulators("--stream-interval", "4")
    pool(f"{url}@test-a")
    expected = direct_chat(url, seed=5)
    tokens = expected["usage"]["completion_tokens"]
    assert tokens > 12  # enough for several chunks of four
    gaps_before = _sample("aiportal_inter_token_seconds_count")
    counted_before = _sample("aiportal_completion_tokens_total", model=MODEL)

    text, finished = await chat_collect(messages=QUESTION, seed=5, max_tokens=400, user=owner)

    assert text == expected["choices"][0]["message"]["content"]
    assert finished.usage["completion_tokens"] == tokens
    # One gap per token after the first (whose wait is the TTFT), not one per frame.
    assert _sample("aiportal_inter_token_seconds_count") - gaps_before == tokens - 1
    assert _sample("aiportal_completion_tokens_total", model=MODEL) - counted_before == tokens
    await usage_flush()
    record = await UsageRecord.objects.aget(user=owner)
    assert record.completion_tokens == tokens


async def test_frames_without_new_tokens_observe_no_gap(emulators, pool):
    # /v1/completions, usage asked for: the usage-only chunk at the end brings no token.
    url = emulators("--stream-interval", "3")
    pool(f"{url}@test-a")
    body = {
        "model": MODEL,
        "prompt": "Once upon a time",
        "max_tokens": 10,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    gaps_before = _sample("aiportal_inter_token_seconds_count")
    frames = await frames_collect(endpoint="completions", body=body)
    texts = [frame for frame in frames if frames_text([frame])]
    assert len(texts) < 10  # the worker did coalesce: 1 + 3 + 3 + 3
    assert frames[-1]["usage"]["completion_tokens"] == 10
    assert _sample("aiportal_inter_token_seconds_count") - gaps_before == 9
