"""usage.prompt_tokens_details (vLLM's --enable-prompt-tokens-details) and the cache families
of /metrics: vllm:cache_config_info and the prefix-cache counters, in vLLM 0.34's shapes."""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from gateway.emulator.__main__ import build_parser, config_from_args

from .helpers import MODEL, read_stream, state

# A prompt of several 16-token blocks, the same for every turn of these tests.
SYSTEM = {"role": "system", "content": "You answer questions about sourdough bread. " * 40}
MESSAGES = [SYSTEM, {"role": "user", "content": "How long should dough rise?"}]


def body(**extra: Any) -> dict[str, Any]:
    return {"model": MODEL, "messages": MESSAGES, "max_tokens": 5, **extra}


async def test_usage_has_cached_tokens_only_with_vllms_flag(client, start_emulator):
    for flag in (False, True):
        url = await start_emulator(enable_prompt_tokens_details=flag)
        answer = (await client.post(url + "/v1/chat/completions", json=body())).json()
        stream = await read_stream(
            client, url, body(stream=True, stream_options={"include_usage": True})
        )

        assert (answer["usage"].get("prompt_tokens_details") is not None) is flag
        assert ("prompt_tokens_details" in stream.objects[-1]["usage"]) is flag


async def test_a_chat_answer_reports_the_prompt_tokens_the_cache_served(client, start_emulator):
    url = await start_emulator(enable_prompt_tokens_details=True)

    first = (await client.post(url + "/v1/chat/completions", json=body())).json()["usage"]
    second = (await client.post(url + "/v1/chat/completions", json=body())).json()["usage"]

    prompt = first["prompt_tokens"]
    whole_blocks = prompt // 16 * 16
    # The first one found nothing and wrote its whole blocks; vLLM keeps the null.
    assert first["prompt_tokens_details"] == {
        "cached_tokens": 0,
        "created_cache_tokens": whole_blocks,
        "multimodal_tokens": None,
    }
    # The second found every block but the one that holds the last prompt token.
    cached = second["prompt_tokens_details"]["cached_tokens"]
    assert cached == (prompt - 1) // 16 * 16 and cached > 0
    assert second["prompt_tokens_details"]["created_cache_tokens"] == whole_blocks - cached
    hits = (await state(client, url))["prefix_cache_hits"]
    assert hits == cached  # the same count the worker's own counter has


async def test_a_chat_stream_carries_the_details_on_every_usage(client, start_emulator):
    url = await start_emulator(enable_prompt_tokens_details=True)
    await client.post(url + "/v1/chat/completions", json=body())
    options = {"include_usage": True, "continuous_usage_stats": True}

    stream = await read_stream(client, url, body(stream=True, stream_options=options))

    *chunks, final = stream.objects
    cached = final["usage"]["prompt_tokens_details"]["cached_tokens"]
    assert cached > 0
    # The final usage chunk is written without nulls: two keys.
    assert set(final["usage"]["prompt_tokens_details"]) == {"cached_tokens", "created_cache_tokens"}
    # The role chunk already knows the split, and every chunk keeps the null.
    for chunk in chunks:
        details = chunk["usage"]["prompt_tokens_details"]
        assert details["cached_tokens"] == cached
        assert details["multimodal_tokens"] is None


async def test_completions_carry_cached_tokens_alone(client, start_emulator):
    url = await start_emulator(enable_prompt_tokens_details=True)
    prompt = "The history of bread, told one loaf at a time. " * 20
    completion = {"model": MODEL, "prompt": prompt, "max_tokens": 3}
    await client.post(url + "/v1/completions", json=completion)

    answer = (await client.post(url + "/v1/completions", json=completion)).json()
    options = {"include_usage": True, "continuous_usage_stats": True}
    stream = await read_stream(
        client,
        url,
        {**completion, "stream": True, "stream_options": options},
        path="/v1/completions",
    )

    details = answer["usage"]["prompt_tokens_details"]
    assert details["cached_tokens"] > 0
    assert details["created_cache_tokens"] is None and details["multimodal_tokens"] is None
    *chunks, final = stream.objects
    assert final["usage"]["prompt_tokens_details"] == {"cached_tokens": details["cached_tokens"]}
    assert all("prompt_tokens_details" not in chunk["usage"] for chunk in chunks)


def test_the_flag_is_vllms():
    args = build_parser().parse_args(["--enable-prompt-tokens-details"])
    assert config_from_args(args).enable_prompt_tokens_details
    assert not config_from_args(build_parser().parse_args([])).enable_prompt_tokens_details


async def test_metrics_carry_the_cache_config_as_labels(client, start_emulator):
    url = await start_emulator(block_size=32, kv_cache_blocks=1000, data_parallel_size=2)

    text = (await client.get(url + "/metrics")).text

    (family,) = [
        f for f in text_string_to_metric_families(text) if f.name == "vllm:cache_config_info"
    ]
    assert family.type == "gauge"
    assert [s.labels["engine"] for s in family.samples] == ["0", "1"]
    for sample in family.samples:
        assert sample.value == 1.0
        assert "model_name" not in sample.labels  # vLLM's info gauge has none
        # The worker's whole cache: the engines' blocks summed, as vLLM's front end does.
        assert sample.labels["num_gpu_blocks"] == "1000"
        assert sample.labels["block_size"] == "32"
        assert sample.labels["enable_prefix_caching"] == "True"
        assert sample.labels["kv_cache_size_tokens"] == str(500 * 32)  # one engine's
