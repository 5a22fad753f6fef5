"""/metrics under vLLM's names, the queue beyond max concurrency, and the prefix cache."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.emulator import LatencyModel

from .helpers import (
    LABELS,
    MODEL,
    chat_body,
    read_stream,
    scrape,
    state,
    success_key,
    wait_for_state,
)

GAUGES = ("vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc")
COUNTERS = (
    "vllm:prefix_cache_queries",
    "vllm:prefix_cache_hits",
    "vllm:prompt_tokens",
    "vllm:generation_tokens",
    "vllm:request_success",
)
HISTOGRAMS = ("vllm:time_to_first_token_seconds", "vllm:e2e_request_latency_seconds")


async def test_metrics_use_vllm_names_types_and_labels_and_count_real_work(client, url):
    cut = await client.post(url + "/v1/chat/completions", json=chat_body(max_tokens=5))
    whole = await read_stream(
        client, url, chat_body(stream=True, stream_options={"include_usage": True})
    )

    text = (await client.get(url + "/metrics")).text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    for name in GAUGES:
        assert families[name].type == "gauge"
    for name in COUNTERS:
        assert families[name].type == "counter"
    for name in HISTOGRAMS:
        assert families[name].type == "histogram"
    assert "vllm:gpu_cache_usage_perc" not in families
    for family in families.values():
        # vLLM's info gauge is labelled with the cache's configuration, not the model.
        if family.name.startswith("vllm:") and family.name != "vllm:cache_config_info":
            for sample in family.samples:
                assert sample.labels["model_name"] == MODEL
                # vLLM labels its admission counter by model and reason, not by engine.
                if not family.name.startswith("vllm:admission_rejections"):
                    assert sample.labels["engine"] == "0"

    samples = await scrape(client, url)
    prompts = cut.json()["usage"]["prompt_tokens"] + whole.objects[-1]["usage"]["prompt_tokens"]
    generated = 5 + whole.objects[-1]["usage"]["completion_tokens"]
    assert samples[f"vllm:prompt_tokens_total{{{LABELS}}}"] == prompts
    assert samples[f"vllm:generation_tokens_total{{{LABELS}}}"] == generated
    assert samples[f"vllm:prefix_cache_queries_total{{{LABELS}}}"] == prompts
    for reason, count in (("stop", 1), ("length", 1), ("abort", 0)):
        assert samples[success_key(reason)] == count
    assert samples[f"vllm:time_to_first_token_seconds_count{{{LABELS}}}"] == 2
    assert samples[f"vllm:e2e_request_latency_seconds_count{{{LABELS}}}"] == 2
    assert samples[f"vllm:num_requests_running{{{LABELS}}}"] == 0
    assert samples[f"vllm:kv_cache_usage_perc{{{LABELS}}}"] == 0


async def test_old_metric_names_flag_emits_the_pre_0_10_names(client, start_emulator):
    url = await start_emulator(old_metric_names=True)
    await client.post(url + "/v1/chat/completions", json=chat_body(max_tokens=2))

    families = {
        f.name for f in text_string_to_metric_families((await client.get(url + "/metrics")).text)
    }

    assert "vllm:gpu_cache_usage_perc" in families
    assert "vllm:kv_cache_usage_perc" not in families
    assert {"vllm:gpu_prefix_cache_queries", "vllm:gpu_prefix_cache_hits"} <= families
    assert "vllm:num_requests_running" in families


async def test_requests_beyond_max_concurrency_wait_and_are_counted_as_waiting(
    client, start_emulator
):
    latency = LatencyModel(ttft_ms=1, tokens_per_second=100, concurrency_slowdown=0,
                           max_concurrency=2)  # fmt: skip
    url = await start_emulator(latency=latency)
    body = chat_body(max_tokens=20)  # ~0.2 s each once running

    tasks = [
        asyncio.create_task(client.post(url + "/v1/chat/completions", json=body)) for _ in range(5)
    ]
    busy = await wait_for_state(client, url, lambda s: s["running"] == 2 and s["waiting"] == 3)
    samples = await scrape(client, url)
    responses = await asyncio.gather(*tasks)
    idle = await state(client, url)

    assert busy["started"] == 5
    assert busy["kv_cache_usage"] > 0
    assert samples[f"vllm:num_requests_running{{{LABELS}}}"] == 2
    assert samples[f"vllm:num_requests_waiting{{{LABELS}}}"] == 3
    assert samples[f"vllm:kv_cache_usage_perc{{{LABELS}}}"] > 0
    assert all(r.status_code == 200 for r in responses)
    assert (idle["running"], idle["waiting"], idle["completed"]) == (0, 0, 5)
    assert idle["kv_cache_usage"] == 0


async def test_the_orca_header_reports_the_load_when_the_answer_is_complete(client, start_emulator):
    latency = LatencyModel(ttft_ms=1, tokens_per_second=100, max_concurrency=1)
    url = await start_emulator(latency=latency)
    post = client.post
    first = asyncio.create_task(
        post(url + "/v1/completions", json={"prompt": "a", "max_tokens": 20})
    )
    await wait_for_state(client, url, lambda s: s["running"] == 1)
    probe = asyncio.create_task(
        post(
            url + "/v1/completions",
            json={"prompt": "b", "max_tokens": 1},
            headers={"endpoint-load-metrics-format": "text"},
        )
    )
    await wait_for_state(client, url, lambda s: s["waiting"] == 1)
    later = [
        asyncio.create_task(post(url + "/v1/completions", json={"prompt": "c", "max_tokens": 1}))
        for _ in range(2)
    ]
    await wait_for_state(client, url, lambda s: s["waiting"] == 3)

    report = (await probe).headers["endpoint-load-metrics"]
    await asyncio.gather(first, *later)

    named = dict(item.split("=") for item in report.removeprefix("TEXT ").split(", "))
    # When the probe finished it still held the slot and the two later requests waited.
    assert float(named["named_metrics.num_requests_waiting"]) == 2.0
    assert float(named["named_metrics.kv_cache_usage_perc"]) > 0


async def test_a_queued_request_waits_for_a_slot(client, start_emulator):
    latency = LatencyModel(ttft_ms=1, tokens_per_second=100, concurrency_slowdown=0,
                           max_concurrency=1)  # fmt: skip
    url = await start_emulator(latency=latency)

    first, second = await asyncio.gather(
        read_stream(client, url, chat_body(stream=True, max_tokens=20)),
        read_stream(client, url, chat_body(stream=True, max_tokens=2)),
    )

    # One slot: the short request's first token comes only after the long one finished.
    assert second.times[0] >= first.times[-1] - 0.01
    assert second.times[0] - second.sent_at > 0.15


async def test_a_repeated_prefix_hits_the_cache_and_makes_the_first_token_faster(
    client, start_emulator
):
    latency = LatencyModel(ttft_ms=1, prefill_tokens_per_second=20_000, tokens_per_second=5000)
    url = await start_emulator(latency=latency)
    system = {"role": "system", "content": "You answer questions about bread. " * 700}
    turn1 = [system, {"role": "user", "content": "How long should dough rise?"}]

    first = await read_stream(client, url, {"model": MODEL, "messages": turn1, "stream": True})
    turn2 = [
        *turn1,
        {"role": "assistant", "content": first.text},
        {"role": "user", "content": "And at what temperature?"},
    ]
    second = await read_stream(client, url, {"model": MODEL, "messages": turn2, "stream": True})
    samples = await scrape(client, url)

    ttft1 = first.times[0] - first.sent_at
    ttft2 = second.times[0] - second.sent_at
    assert ttft1 > 0.15  # ~4,200 uncached prompt tokens at 20,000/s
    assert ttft2 < ttft1 / 3
    hits = samples[f"vllm:prefix_cache_hits_total{{{LABELS}}}"]
    queries = samples[f"vllm:prefix_cache_queries_total{{{LABELS}}}"]
    assert hits > 4000  # the whole first turn, block by block
    assert queries > 2 * hits - 1000  # both prompts were looked up, only the second hit
    assert (await state(client, url))["prefix_cache_hits"] == hits


async def test_without_prefix_caching_nothing_hits(client, start_emulator):
    url = await start_emulator(prefix_caching=False)
    for _ in range(2):
        await client.post(url + "/v1/chat/completions", json=chat_body(max_tokens=1))

    samples = await scrape(client, url)

    assert samples[f"vllm:prefix_cache_hits_total{{{LABELS}}}"] == 0


async def test_a_data_parallel_worker_reports_its_gauges_once_per_engine(client, start_emulator):
    latency = LatencyModel(ttft_ms=1, tokens_per_second=100, concurrency_slowdown=0,
                           max_concurrency=3)  # fmt: skip
    url = await start_emulator(latency=latency, data_parallel_size=2)
    body = chat_body(max_tokens=20)
    tasks = [
        asyncio.create_task(client.post(url + "/v1/chat/completions", json=body)) for _ in range(5)
    ]
    busy = await wait_for_state(client, url, lambda s: s["running"] == 3 and s["waiting"] == 2)
    samples = await scrape(client, url)
    await asyncio.gather(*tasks)

    def engines(name: str) -> list[float]:
        labels = [LABELS.replace('engine="0"', f'engine="{i}"') for i in range(2)]
        return [samples[f"{name}{{{label}}}"] for label in labels]

    assert engines("vllm:num_requests_running") == [2, 1]
    assert engines("vllm:num_requests_waiting") == [1, 1]
    kv = engines("vllm:kv_cache_usage_perc")
    # Each engine holds its running requests' blocks: averaged, they are the worker's use.
    assert kv[0] == pytest.approx(2 * kv[1])
    assert sum(kv) / 2 == pytest.approx(busy["kv_cache_usage"], abs=0.002)


async def test_with_log_stats_disabled_no_vllm_series_and_no_orca_values(client, start_emulator):
    # vLLM's --disable-log-stats: /metrics still answers, without its stat loggers' series.
    url = await start_emulator(disable_log_stats=True)
    page = await client.get(url + "/metrics")
    assert page.status_code == 200
    assert "# TYPE" in page.text and "vllm:" not in page.text
    answer = await client.post(
        url + "/v1/chat/completions",
        json=chat_body(max_tokens=2),
        headers={"endpoint-load-metrics-format": "text"},
    )
    assert answer.status_code == 200
    assert answer.headers["endpoint-load-metrics"].strip() == "TEXT"  # no named metrics
