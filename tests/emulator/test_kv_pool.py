"""The emulator's KV cache as vLLM's scheduler uses it, over HTTP: a request waits while the
cache cannot hold its prompt, and a decode that finds no free block preempts the newest
request, which is recomputed and still answers in full (docs/emulator.md, "The behaviour
model"; the rules one by one are in test_behaviour_model.py)."""

from __future__ import annotations

import asyncio

from gateway.emulator.latency import LatencyModel

from .helpers import LABELS, scrape, state, wait_for_state


def completion(word: str, words: int, max_tokens: int) -> dict[str, object]:
    # The emulator's tokenizer makes one token of each word: ``words`` prompt tokens.
    return {"prompt": " ".join([word] * words), "max_tokens": max_tokens, "ignore_eos": True}


async def test_a_request_waits_while_the_kv_cache_cannot_hold_its_prompt(client, start_emulator):
    # 20 blocks of 4 tokens. The first prompt takes 15 (and 17 by its end); the second needs
    # 8, which do not fit beside it, though the batch has room for 4 requests.
    latency = LatencyModel(ttft_ms=1, tokens_per_second=20, concurrency_slowdown=0,
                           max_concurrency=4)  # fmt: skip
    url = await start_emulator(latency=latency, block_size=4, kv_cache_blocks=20)
    post = client.post
    first = asyncio.create_task(post(url + "/v1/completions", json=completion("a", 60, 6)))
    await wait_for_state(client, url, lambda s: s["running"] == 1)
    second = asyncio.create_task(post(url + "/v1/completions", json=completion("b", 30, 2)))

    held = await wait_for_state(client, url, lambda s: s["waiting"] == 1)
    answers = await asyncio.gather(first, second)

    assert held["running"] == 1 and held["kv_cache_usage"] >= 15 / 20
    assert [a.json()["usage"]["prompt_tokens"] for a in answers] == [60, 30]
    assert all(a.status_code == 200 for a in answers)


async def test_a_decode_without_a_free_block_preempts_the_newest_request(client, start_emulator):
    # 24 blocks of 4 tokens: both 30-token prompts fit (8 blocks each), but two answers of 40
    # tokens need 18 blocks each. The newer request is preempted, waits for the older one to
    # end, is recomputed, and answers exactly what it would have answered alone.
    latency = LatencyModel(ttft_ms=1, tokens_per_second=1000, concurrency_slowdown=0,
                           max_concurrency=2)  # fmt: skip
    url = await start_emulator(latency=latency, block_size=4, kv_cache_blocks=24)
    bodies = [completion("a", 30, 40), completion("b", 30, 40)]

    together = await asyncio.gather(
        *(client.post(url + "/v1/completions", json=body) for body in bodies)
    )
    during = await state(client, url)
    samples = await scrape(client, url)
    alone = [await client.post(url + "/v1/completions", json=body) for body in bodies]

    assert during["preemptions"] >= 1
    assert samples[f"vllm:num_preemptions_total{{{LABELS}}}"] == during["preemptions"]
    assert (await state(client, url))["preemptions"] == during["preemptions"]  # alone: none
    for shared, single in zip(together, alone, strict=True):
        assert shared.status_code == 200
        assert shared.json()["usage"]["completion_tokens"] == 40
        assert shared.json()["choices"][0]["text"] == single.json()["choices"][0]["text"]
    assert (during["running"], during["waiting"], during["kv_cache_usage"]) == (0, 0, 0)
