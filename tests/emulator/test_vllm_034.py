"""vLLM 0.34's behaviours beyond its shapes (those are test_fidelity.py's): max_tokens clamped
to the context, the errors' texts, /ping and /load, LoRA adapters, and --vllm-version 0.10
keeping the old behaviour."""

from __future__ import annotations

import asyncio

from gateway.emulator.latency import LatencyModel

from .helpers import MODEL, chat_body, read_stream, scrape, wait_for_state

SLOW = LatencyModel(ttft_ms=5.0, tokens_per_second=40.0, concurrency_slowdown=0.0)


async def _prompt_tokens(client, url, prompt: str) -> int:
    return (await client.post(url + "/tokenize", json={"prompt": prompt})).json()["count"]


async def test_max_tokens_beyond_the_context_is_clamped_to_what_it_leaves(client, start_emulator):
    url = await start_emulator(max_model_len=64, answer_tokens=500)
    prompt = "Three rivers of Europe are"
    room = 64 - await _prompt_tokens(client, url, prompt)

    answer = await client.post(url + "/v1/completions", json={"prompt": prompt, "max_tokens": 500})
    old_url = await start_emulator(max_model_len=64, answer_tokens=500, vllm_version="0.10")
    old = await client.post(old_url + "/v1/completions", json={"prompt": prompt, "max_tokens": 500})

    assert answer.status_code == 200
    assert answer.json()["usage"]["completion_tokens"] == room
    assert answer.json()["choices"][0]["finish_reason"] == "length"
    assert old.status_code == 400


async def test_a_prompt_that_fills_or_passes_the_context_is_refused_with_its_parameter(
    client, start_emulator
):
    prompt = "one two three four five six seven eight"
    probe = await start_emulator()
    length = await _prompt_tokens(client, probe, prompt)
    full = await start_emulator(max_model_len=length)
    short = await start_emulator(max_model_len=length - 1)

    filled = await client.post(full + "/v1/completions", json={"prompt": prompt})
    passed = await client.post(short + "/v1/completions", json={"prompt": prompt})

    assert filled.status_code == passed.status_code == 400
    assert filled.json()["error"]["param"] == "max_tokens"
    assert filled.json()["error"]["message"] == (
        "max_tokens must be at least 1, got 0. (parameter=max_tokens, value=0)"
    )
    error = passed.json()["error"]
    assert error["param"] == "input_tokens"
    assert error["message"].startswith(
        f"This model's maximum context length is {length - 1} tokens. However, your prompt "
        f"contains {length} input tokens"
    )


async def test_an_unknown_model_names_the_valid_aliases(client, start_emulator):
    url = await start_emulator(models=("big", "big-alias"))

    response = await client.post(url + "/v1/chat/completions", json=chat_body(model="nope"))

    assert response.status_code == 404
    assert response.json() == {
        "error": {
            "message": "The model `nope` does not exist. Valid aliases: big, big-alias.",
            "type": "NotFoundError",
            "param": "model",
            "code": 404,
        }
    }


async def test_continuous_usage_comes_only_with_include_usage(client, url):
    alone = await read_stream(
        client, url, chat_body(stream=True, max_tokens=3,
                               stream_options={"continuous_usage_stats": True}),
    )  # fmt: skip
    both = await read_stream(
        client, url, chat_body(stream=True, max_tokens=3,
                               stream_options={"include_usage": True,
                                               "continuous_usage_stats": True}),
    )  # fmt: skip

    assert not any("usage" in obj for obj in alone.objects)
    assert all("usage" in obj for obj in both.objects)


async def test_a_stream_carries_the_fingerprint_on_its_last_chunk_only(client, url):
    plain = await read_stream(client, url, chat_body(stream=True, max_tokens=3))
    answer = (await client.post(url + "/v1/chat/completions", json=chat_body(max_tokens=3))).json()

    *before, last = plain.objects
    assert not any("system_fingerprint" in obj for obj in before)
    assert last["system_fingerprint"] == answer["system_fingerprint"]
    assert answer["system_fingerprint"].startswith("vllm-0.34.0-")


async def test_ping_is_health_and_version_is_034(client, url):
    await client.post(url + "/emulator/faults", json={"unhealthy": True, "times": 2})
    sick = [(await client.get(url + "/ping")).status_code, (await client.post(url + "/ping"))]
    well = await client.get(url + "/ping")
    version = (await client.get(url + "/version")).json()

    assert sick[0] == 503 and sick[1].status_code == 503
    assert well.status_code == 200 and well.content == b""
    assert version == {"version": "0.34.0"}


async def test_load_counts_requests_in_flight_only_with_load_tracking(client, start_emulator):
    tracked = await start_emulator(latency=SLOW, server_load_tracking=True)
    untracked = await start_emulator(latency=SLOW)
    body = chat_body(max_tokens=20)

    pending = [
        asyncio.create_task(client.post(u + "/v1/chat/completions", json=body))
        for u in (tracked, untracked)
    ]
    await wait_for_state(client, tracked, lambda s: s["running"] == 1)
    await wait_for_state(client, untracked, lambda s: s["running"] == 1)
    during = [(await client.get(u + "/load")).json() for u in (tracked, untracked)]
    await asyncio.gather(*pending)
    after = (await client.get(tracked + "/load")).json()

    assert during == [{"server_load": 1}, {"server_load": 0}]
    assert after == {"server_load": 0}


async def test_a_lora_adapter_is_served_listed_with_its_parent_and_counted(client, start_emulator):
    url = await start_emulator(latency=SLOW, lora_modules=(("sql-lora", "/adapters/sql"),))

    cards = (await client.get(url + "/v1/models")).json()["data"]
    pending = asyncio.create_task(
        client.post(url + "/v1/chat/completions", json=chat_body(model="sql-lora", max_tokens=20))
    )
    await wait_for_state(client, url, lambda s: s["running"] == 1)
    during = await scrape(client, url)
    answer = await pending
    after = await scrape(client, url)

    assert [(c["id"], c["root"], c["parent"]) for c in cards] == [
        (MODEL, MODEL, None),
        ("sql-lora", "/adapters/sql", MODEL),
    ]
    assert answer.status_code == 200 and answer.json()["model"] == "sql-lora"
    running = 'max_lora="1",running_lora_adapters="sql-lora",waiting_lora_adapters=""'
    idle = 'max_lora="1",running_lora_adapters="",waiting_lora_adapters=""'
    assert f"vllm:lora_requests_info{{{running}}}" in during
    assert f"vllm:lora_requests_info{{{idle}}}" in after


async def test_without_adapters_there_is_no_lora_gauge(client, url):
    await client.post(url + "/v1/chat/completions", json=chat_body(max_tokens=1))

    assert not any(name.startswith("vllm:lora_requests_info") for name in await scrape(client, url))


async def test_the_034_metric_families_and_the_010_ones(client, start_emulator):
    current = await start_emulator()
    old = await start_emulator(vllm_version="0.10")
    for url in (current, old):
        await client.post(url + "/v1/chat/completions", json=chat_body(max_tokens=3))

    new_names = {name.split("{")[0] for name in await scrape(client, current)}
    old_names = {name.split("{")[0] for name in await scrape(client, old)}

    assert {
        "vllm:inter_token_latency_seconds_count",
        "vllm:request_time_per_output_token_seconds_count",
        "vllm:request_queue_time_seconds_count",
        "vllm:num_requests_waiting_by_reason",
    } <= new_names
    assert "vllm:time_per_output_token_seconds_count" not in new_names
    assert "vllm:time_per_output_token_seconds_count" in old_names
    assert "vllm:request_queue_time_seconds_count" not in old_names


async def test_version_010_keeps_flat_errors_and_no_ping(client, start_emulator):
    url = await start_emulator(vllm_version="0.10")

    missing = await client.post(url + "/v1/chat/completions", json=chat_body(model="nope"))
    ping = await client.get(url + "/ping")
    version = (await client.get(url + "/version")).json()["version"]

    assert missing.json()["object"] == "error"
    assert missing.json()["message"] == "The model `nope` does not exist."
    assert ping.status_code == 404
    assert version.startswith("0.10")


async def test_a_full_queue_counts_an_admission_rejection(client, start_emulator):
    url = await start_emulator(max_num_queued_reqs=0)

    refused = await client.post(url + "/v1/chat/completions", json=chat_body(max_tokens=1))
    samples = await scrape(client, url)

    assert refused.status_code == 503
    labels = f'model_name="{MODEL}",reason='
    assert samples[f'vllm:admission_rejections_total{{{labels}"max_num_queued_reqs"}}'] == 1
    assert samples[f'vllm:admission_rejections_total{{{labels}"max_num_queued_tokens"}}'] == 0
