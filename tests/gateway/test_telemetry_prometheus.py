import asyncio

import httpx
import pytest

from gateway.emulator.server import STATS_DISABLED_PAGE
from gateway.telemetry.prometheus import MetricsUnreadable, NoLoadMetrics, metrics_parse

BODY = {
    "messages": [{"role": "user", "content": "Tell me about the emulator " * 40}],
    "max_tokens": 400,
    "stream": True,
}


async def _busy_scrape(url: str) -> str:
    """Scrape while one request runs and two wait (the emulator has one slot)."""
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:

        async def stream():
            async with client.stream("POST", "/v1/chat/completions", json=BODY) as response:
                async for _ in response.aiter_bytes():
                    pass

        tasks = [asyncio.create_task(stream()) for _ in range(3)]
        try:
            for _ in range(100):
                state = (await client.get("/emulator/state")).json()
                if state["running"] == 1 and state["waiting"] == 2 and state["kv_cache_usage"]:
                    break
                await asyncio.sleep(0.02)
            return (await client.get("/metrics")).text
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


@pytest.mark.parametrize("flags", [(), ("--old-metric-names",)], ids=["current", "old-names"])
async def test_it_reads_the_emulators_real_metrics(emulators, flags):
    url = emulators(
        "--max-concurrency", "1", "--tokens-per-second", "50", "--kv-cache-blocks", "64", *flags
    )
    text = await _busy_scrape(url)
    kv_name = "vllm:gpu_cache_usage_perc" if flags else "vllm:kv_cache_usage_perc"
    assert kv_name in text
    gauges = metrics_parse(text)
    assert (gauges.running, gauges.waiting) == (1, 2)
    assert 0 < gauges.kv_usage <= 1
    # The first request's prompt went through the prefix cache (queries counted in tokens).
    assert gauges.prefix_queries and gauges.prefix_queries > 0
    assert gauges.prefix_hits is not None


async def test_an_idle_emulator_reads_as_idle(emulator_url):
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"{emulator_url}/metrics")).text
    gauges = metrics_parse(text)
    assert (gauges.running, gauges.waiting, gauges.kv_usage) == (0, 0, 0)


TWO_ENGINES = """\
# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="m"} 3.0
vllm:num_requests_running{engine="1",model_name="m"} 2.0
# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="m"} 1.0
vllm:num_requests_waiting{engine="1",model_name="m"} 4.0
# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{engine="0",model_name="m"} 0.2
vllm:kv_cache_usage_perc{engine="1",model_name="m"} 0.6
# HELP vllm:prefix_cache_queries_total Prefix cache queries.
# TYPE vllm:prefix_cache_queries_total counter
vllm:prefix_cache_queries_total{engine="0",model_name="m"} 100.0
vllm:prefix_cache_queries_total{engine="1",model_name="m"} 300.0
vllm:prefix_cache_queries_created{engine="0",model_name="m"} 1.7e9
# HELP vllm:prefix_cache_hits_total Prefix cache hits.
# TYPE vllm:prefix_cache_hits_total counter
vllm:prefix_cache_hits_total{engine="0",model_name="m"} 40.0
vllm:prefix_cache_hits_total{engine="1",model_name="m"} 60.0
"""


def test_counts_are_summed_over_engines_and_kv_use_is_averaged():
    gauges = metrics_parse(TWO_ENGINES)
    assert gauges.running == 5
    assert gauges.waiting == 5
    # Each engine has its own cache: two at 20 % and 60 % are a worker at 40 %, not 80 %.
    assert gauges.kv_usage == pytest.approx(0.4)
    assert gauges.prefix_queries == 400
    assert gauges.prefix_hits == 100


def test_untyped_series_are_read_too():
    text = (
        'vllm:num_requests_running{engine="0"} 1\n'
        'vllm:num_requests_waiting{engine="0"} 7\n'
        'vllm:gpu_cache_usage_perc{engine="0"} 0.5\n'
    )
    gauges = metrics_parse(text)
    assert (gauges.running, gauges.waiting, gauges.kv_usage) == (1, 7, 0.5)
    assert gauges.prefix_queries is None


@pytest.mark.parametrize(
    "text",
    [
        "",
        "<html>502 Bad Gateway</html>",
        'process_cpu_seconds_total 12.0\npython_info{version="3"} 1.0\n',
        'vllm:num_requests_running{engine="0" 1\n',
    ],
    ids=["empty", "html", "not-vllm", "malformed"],
)
def test_it_refuses_what_is_not_a_vllm_metrics_page(text):
    with pytest.raises(MetricsUnreadable):
        metrics_parse(text)


def test_a_page_without_any_vllm_series_says_the_worker_exports_no_load():
    # vLLM 0.34 with --disable-log-stats: /metrics serves the HTTP and process series only.
    with pytest.raises(NoLoadMetrics):
        metrics_parse(STATS_DISABLED_PAGE.decode())


@pytest.mark.parametrize(
    "text",
    ["<html>502 Bad Gateway</html>", "# TYPE vllm:num_requests_running gauge\n"],
    ids=["html", "vllm-without-samples"],
)
def test_a_page_that_is_not_a_stats_free_vllm_is_merely_unreadable(text):
    with pytest.raises(MetricsUnreadable) as raised:
        metrics_parse(text)
    assert not isinstance(raised.value, NoLoadMetrics)


def _histogram(name: str, engines: int = 2) -> str:
    lines = [f"# HELP {name} A latency.", f"# TYPE {name} histogram"]
    for engine in range(engines):
        labels = f'engine="{engine}",model_name="m"'
        for bound in ("0.001", "0.01", "0.1", "1.0", "10.0", "+Inf"):
            lines.append(f'{name}_bucket{{{labels},le="{bound}"}} 9.0')
        lines += [f"{name}_count{{{labels}}} 9.0", f"{name}_sum{{{labels}}} 3.5"]
    return "\n".join(lines) + "\n"


def test_a_page_of_histograms_and_look_alike_names_reads_as_its_wanted_families_alone():
    """Only the wanted families reach the parser: the answer is the one for those families
    alone, and families whose names merely begin like ours are not counted."""
    look_alikes = (
        "# TYPE vllm:num_requests_waiting_by_reason gauge\n"
        'vllm:num_requests_waiting_by_reason{engine="0",reason="capacity"} 50.0\n'
        "# TYPE vllm:num_requests_running_max gauge\n"
        'vllm:num_requests_running_max{engine="0"} 70.0\n'
        "# TYPE vllm:kv_cache_usage_perc_peak gauge\n"
        'vllm:kv_cache_usage_perc_peak{engine="0"} 0.99\n'
    )
    page = (
        _histogram("vllm:time_to_first_token_seconds")
        + TWO_ENGINES
        + look_alikes
        + _histogram("vllm:e2e_request_latency_seconds")
    )
    gauges = metrics_parse(page)

    assert gauges == metrics_parse(TWO_ENGINES)
    assert (gauges.running, gauges.waiting, gauges.prefix_hits) == (5, 5, 100)


def test_a_counter_typed_by_its_family_name_is_read():
    """prometheus_client and vLLM name a counter's TYPE line without ``_total``."""
    text = (
        "# TYPE vllm:num_requests_running gauge\n"
        'vllm:num_requests_running{engine="0"} 1\n'
        "# TYPE vllm:num_requests_waiting gauge\n"
        'vllm:num_requests_waiting{engine="0"} 0\n'
        "# HELP vllm:prefix_cache_queries Prefix cache queries.\n"
        "# TYPE vllm:prefix_cache_queries counter\n"
        'vllm:prefix_cache_queries_total{engine="0"} 12.0\n'
        'vllm:prefix_cache_queries_created{engine="0"} 1.7e9\n'
    )
    assert metrics_parse(text).prefix_queries == 12
